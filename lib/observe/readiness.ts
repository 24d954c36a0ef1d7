import type { Request, RequestHandler, Response } from 'express';
import type { AuthProxy } from '../auth-proxy.js';
import type { SessionStore } from '../sessions/session-store.js';
import { storeDeadline } from '../sessions/store-deadline.js';

// A sid no login site issues (they are random): reading it only proves the store answers.
const PROBE_SID = 'express-auth-proxy:readiness-probe';

/**
 * Resolves when the store answers: its `ping()` when it has one, else a read of a sid that does
 * not exist. Rejections are the store's.
 */
export async function pingStore(store: SessionStore): Promise<void> {
  if (typeof store.ping === 'function') {
    await store.ping();
    return;
  }
  await store.get(PROBE_SID);
}

/** An Express handler for a readiness probe, with the check itself for other uses. */
export interface Readiness extends RequestHandler {
  /**
   * Resolves when every store answered within its timeout; rejects with the first failure, an
   * `AuthProxyError` `ERR_STORE_UNAVAILABLE`.
   */
  check(): Promise<void>;
}

export interface ReadinessOptions {
  /** Milliseconds a plain SessionStore may take to answer. Default 1000. A proxy uses its own `storeTimeout`. */
  timeout?: number;
}

/**
 * A readiness check for load balancers and orchestrators: answers 200 `ready` when the session
 * store of every given proxy (or store) answers within its timeout, 503 otherwise. A store shared
 * by several proxies is asked once.
 *
 * @example
 * const mail = authProxy({ target, jwtKey, redis });
 * const dav = authProxy({ target: davTarget, jwtKey, redis });
 * app.get('/readyz', readiness([mail, dav]));
 * // elsewhere: await readiness(mail).check();
 */
export function readiness(
  targets: AuthProxy | SessionStore | readonly (AuthProxy | SessionStore)[],
  options: ReadinessOptions = {},
): Readiness {
  const timeout = options.timeout ?? 1000;
  if (!(Number.isInteger(timeout) && timeout > 0)) {
    throw new TypeError('express-auth-proxy: readiness timeout must be a whole number of ms > 0');
  }
  const within = storeDeadline(timeout);
  const checks = new Map<SessionStore, () => Promise<void>>();
  const list: readonly (AuthProxy | SessionStore)[] = Array.isArray(targets)
    ? (targets as readonly (AuthProxy | SessionStore)[])
    : [targets as AuthProxy | SessionStore];
  for (const target of list) {
    if (isAuthProxy(target)) {
      if (!checks.has(target.store)) checks.set(target.store, () => target.ready());
    } else if (typeof (target as Partial<SessionStore>).get === 'function') {
      if (!checks.has(target)) checks.set(target, () => within(pingStore(target)));
    } else {
      throw new TypeError(
        'express-auth-proxy: readiness takes authProxy() middlewares or SessionStores',
      );
    }
  }
  const all = [...checks.values()];
  const check = async (): Promise<void> => {
    await Promise.all(all.map((one) => one()));
  };
  const handler = function readinessProbe(_req: Request, res: Response): void {
    check().then(
      () => {
        answer(res, 200, 'ready\n');
      },
      () => {
        answer(res, 503, 'session store unavailable\n');
      },
    );
  };
  return Object.assign(handler, { check });
}

function isAuthProxy(target: unknown): target is AuthProxy {
  const candidate = target as Partial<AuthProxy>;
  return (
    typeof target === 'function' &&
    typeof candidate.ready === 'function' &&
    candidate.store !== undefined
  );
}

function answer(res: Response, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(body);
}
