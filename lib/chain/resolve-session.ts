import type { Request, RequestHandler } from 'express';
import { basicAuthorization } from '../sessions/credentials.js';
import { AuthProxyError, toAuthProxyError } from '../errors.js';
import { scopeOf } from './scope.js';
import type { Session, SessionStore } from '../sessions/session-store.js';
import type { StoreDeadline } from '../sessions/store-deadline.js';

/** Turns the stored credentials value into what follows `Basic `; undefined: used as stored. */
export type Decoder = ((stored: string) => string | Promise<string>) | undefined;

/**
 * The session stage: looks the verified sid (from the token stage's scope) up in the store, decodes
 * the credentials and records the upstream Authorization value in the scope for the proxy stage.
 * The lookup is bounded by `within`, whatever the store, so that no request waits on a store that
 * hangs.
 * `stableSessions`: the store hands out the same frozen Session object until the session changes
 * (the session cache), so the Authorization built from it is remembered with it.
 */
export function resolveSession(
  store: SessionStore,
  decode: Decoder,
  within: StoreDeadline,
  stableSessions = false,
): RequestHandler {
  const built = stableSessions ? new WeakMap<Session, string>() : undefined;
  return function resolveSession(req: Request, _res, next): void {
    const scope = scopeOf(req);
    if (scope === undefined) {
      next(new AuthProxyError('ERR_INTERNAL', 'request reached the session stage unverified'));
      return;
    }
    authorizationFor(store, decode, within, built, scope.sid).then((authorization) => {
      scope.authorization = authorization;
      next();
    }, next);
  };
}

/**
 * The one decision "does this sid still open a session, and with which credentials": the upstream
 * Authorization value, or a rejection with our codes (401 not found, 500 malformed, 503 store
 * down or late). The session stage and the recheck of live WebSockets both call it. Written with
 * `then` rather than as an async function: it runs on every request, and each await layer costs a
 * promise and a suspended frame.
 *
 * @example
 * await authorizationFor(store, undefined, storeDeadline(1000), undefined, sid); // 'Basic YWxp...'
 */
export function authorizationFor(
  store: SessionStore,
  decode: Decoder,
  within: StoreDeadline,
  built: WeakMap<Session, string> | undefined,
  sid: string,
): Promise<string> {
  let lookup: Promise<Session | undefined>;
  try {
    lookup = within(store.get(sid));
  } catch (err) {
    return Promise.reject(storeFailure(err));
  }
  return lookup.then((session) => authorizationOf(session, decode, built), rejectStoreFailure);
}

function storeFailure(err: unknown): AuthProxyError {
  return toAuthProxyError(err, 'ERR_STORE_UNAVAILABLE', 'session store failed');
}

function rejectStoreFailure(err: unknown): never {
  throw storeFailure(err);
}

function authorizationOf(
  session: Session | undefined,
  decode: Decoder,
  built: WeakMap<Session, string> | undefined,
): string | Promise<string> {
  if (session === undefined || (session as unknown) === null) {
    throw new AuthProxyError('ERR_SESSION_NOT_FOUND', 'no session for this sid');
  }
  const known = built?.get(session);
  if (known !== undefined) return known;
  if (decode === undefined) return authorizationWith(session.credentials, session, built);
  let decoded: string | Promise<string>;
  try {
    decoded = decode(session.credentials);
  } catch (err) {
    throw undecodable(err);
  }
  return Promise.resolve(decoded).then(
    (credentials) => authorizationWith(credentials, session, built),
    (err: unknown) => {
      throw undecodable(err);
    },
  );
}

function undecodable(err: unknown): AuthProxyError {
  return toAuthProxyError(err, 'ERR_CREDENTIALS_INVALID', 'credentials could not be decoded');
}

function authorizationWith(
  credentials: unknown,
  session: Session,
  built: WeakMap<Session, string> | undefined,
): string {
  if (typeof credentials !== 'string') {
    throw new AuthProxyError('ERR_CREDENTIALS_INVALID', 'decoded credentials are not a string');
  }
  const authorization = basicAuthorization(credentials);
  built?.set(session, authorization);
  return authorization;
}
