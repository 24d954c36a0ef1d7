import type { Request, RequestHandler } from 'express';
import { basicAuthorization } from '../sessions/credentials.js';
import { AuthProxyError, toAuthProxyError } from '../errors.js';
import { setScope } from './scope.js';
import type { Scope } from './scope.js';
import type { SessionStore } from '../sessions/session-store.js';
import type { StoreDeadline } from '../sessions/store-deadline.js';
import { takeSid } from './verify-token.js';
import type { ClaimLimits } from './verify-token.js';

type Decoder = ((stored: string) => string | Promise<string>) | undefined;

/**
 * The session stage: looks the verified sid up in the store, decodes the credentials and records
 * the upstream Authorization value in the request scope for the proxy hook to inject. The lookup
 * is bounded by `within`, whatever the store, so that no request waits on a store that hangs.
 */
export function resolveSession(
  store: SessionStore,
  decode: Decoder,
  within: StoreDeadline,
  claims: ClaimLimits,
): RequestHandler {
  return function resolveSession(req: Request, _res, next): void {
    let scope: Scope;
    try {
      scope = { sid: takeSid(req, claims), authorization: undefined };
    } catch (err) {
      next(err);
      return;
    }
    setScope(req, scope);
    authorizationFor(store, decode, within, scope.sid).then((authorization) => {
      scope.authorization = authorization;
      next();
    }, next);
  };
}

async function authorizationFor(
  store: SessionStore,
  decode: Decoder,
  within: StoreDeadline,
  sid: string,
): Promise<string> {
  let session;
  try {
    session = await within(store.get(sid));
  } catch (err) {
    throw toAuthProxyError(err, 'ERR_STORE_UNAVAILABLE', 'session store failed');
  }
  if (session === undefined || (session as unknown) === null) {
    throw new AuthProxyError('ERR_SESSION_NOT_FOUND', 'no session for this sid');
  }
  let credentials: unknown = session.credentials;
  if (decode !== undefined) {
    try {
      credentials = await decode(session.credentials);
    } catch (err) {
      throw toAuthProxyError(err, 'ERR_CREDENTIALS_INVALID', 'credentials could not be decoded');
    }
  }
  if (typeof credentials !== 'string') {
    throw new AuthProxyError('ERR_CREDENTIALS_INVALID', 'decoded credentials are not a string');
  }
  return basicAuthorization(credentials);
}
