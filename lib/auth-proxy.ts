import type { ServerResponse } from 'node:http';
import { checkRequest, refuseWebSockets } from './chain/check-request.js';
import { compose } from './chain/compose.js';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { toAuthProxyError } from './errors.js';
import { resolveOptions } from './options.js';
import type { AuthProxyOptions, Config } from './options.js';
import { createProxy } from './chain/proxy.js';
import { RedisSessionStore } from './sessions/redis-session-store.js';
import { createResponder } from './chain/respond.js';
import { resolveSession } from './chain/resolve-session.js';
import { upgradeOf } from './chain/scope.js';
import { SessionCache } from './sessions/session-cache.js';
import type { RedisSentinelConfig } from './sessions/redis-topology.js';
import type { SessionStore } from './sessions/session-store.js';
import { storeDeadline } from './sessions/store-deadline.js';
import { pingStore } from './observe/readiness.js';
import { verifyToken } from './chain/verify-token.js';
import { LiveSockets } from './upgrade/live-sockets.js';

/** The middleware `authProxy()` returns, with a handle on what it opened. */
export interface AuthProxy extends RequestHandler {
  /** The session store in use (the one given, or the Redis store built from the URL or client). */
  readonly store: SessionStore;
  /** Number of WebSockets open through this mount. */
  readonly webSockets: number;
  /**
   * Shuts the mount down: waits for its in-flight HTTP requests, closes its open WebSockets with
   * 1001, then closes the Redis connection it opened from a URL and its upstream keep-alive
   * sockets, and stops observing a borrowed client (which stays open: it is its owner's to
   * close). Call it after `server.close()`, not in its callback: the server only calls back once
   * every WebSocket has closed.
   */
  close(): Promise<void>;
  /**
   * Resolves when the session store answers (a PING, for Redis) within `storeTimeout`; rejects
   * with `ERR_STORE_UNAVAILABLE` otherwise. See `readiness()` for an Express handler.
   */
  ready(): Promise<void>;
}

/**
 * Creates the auth proxy: a middleware that reads the JWT session cookie, finds the session's
 * credentials and proxies the request to `target` with `Authorization: Basic ...`.
 *
 * @example
 * const mail = authProxy({ target: 'http://127.0.0.1:8080', jwtKey: process.env.JWT_KEY, redis: 'redis://127.0.0.1:6379/0' });
 * app.use('/mail', mail);
 * // on shutdown
 * server.close();
 * await mail.close();
 */
export function authProxy(options: AuthProxyOptions): AuthProxy {
  const config = resolveOptions(options);
  const { store, owned } = openStore(config);
  // Metrics, when asked for, wrap stages at construction: a mount without them runs none of it.
  const hooks = config.metrics;
  const plainRespond = createResponder(config.logger, config.onError);
  const respond = hooks === undefined ? plainRespond : hooks.refusals(plainRespond);
  const within = storeDeadline(config.storeTimeout);
  // Rechecks read the very store object the chain reads (the session cache when configured), so
  // that its invalidations apply.
  const live = new LiveSockets({
    store,
    decode: config.decodeCredentials,
    within,
    recheckInterval: config.wsRecheckInterval,
    clockTolerance: config.clockTolerance,
    logger: config.logger,
  });
  const proxy = createProxy(config, respond, live, hooks === undefined ? [] : [hooks.upstream]);
  hooks?.watch(() => live.size, store instanceof SessionCache ? store : undefined);

  const failure: ErrorRequestHandler = function authProxyFailure(err, req, res, _next) {
    respond(toAuthProxyError(err), req, res);
  };
  const chain = compose([
    ...(hooks === undefined ? [] : [hooks.enter]),
    ...(config.ws ? [] : [refuseWebSockets]),
    checkRequest,
    verifyToken(config),
    resolveSession(
      store,
      config.decodeCredentials,
      hooks === undefined ? within : hooks.lookups(within),
      store instanceof SessionCache,
    ),
    ...(hooks === undefined ? [] : [hooks.allowed]),
    proxy.middleware,
    failure,
  ]);

  // In-flight HTTP requests, so that close() lets them finish before closing WebSockets and
  // the connections they use. Handshakes are not counted: they last as long as their socket.
  let inFlight = 0;
  let drained: (() => void) | undefined;
  // One listener, shared by every response of the mount, does all that a response's end calls for.
  const settle = function requestClosed(this: ServerResponse): void {
    proxy.clientClosed(this);
    inFlight--;
    if (inFlight === 0) drained?.();
  };
  const middleware: RequestHandler = function authProxyMiddleware(req, res, next): void {
    if (upgradeOf(req) === undefined) {
      inFlight++;
      res.on('close', settle);
    }
    chain(req, res, next);
  };
  let closed: Promise<void> | undefined;
  return Object.defineProperties(middleware, {
    store: { value: store, enumerable: true },
    webSockets: { get: () => live.size, enumerable: true },
    close: {
      value: function close(): Promise<void> {
        closed ??= (async () => {
          if (inFlight > 0) {
            await new Promise<void>((resolve) => {
              drained = resolve;
            });
          }
          await live.close();
          proxy.close();
          hooks?.close();
          if (owned) await store.close?.();
        })();
        return closed;
      },
    },
    ready: {
      value: function ready(): Promise<void> {
        return within(pingStore(store));
      },
    },
  }) as AuthProxy;
}

function openStore(config: Config): { store: SessionStore; owned: boolean } {
  const { store: source, keyPrefix, logger, sessionCache } = config;
  if (sessionCache !== undefined && source.kind !== 'store') {
    // Its two connections are ours even when the client is borrowed (only its settings are).
    // Options refuse a Cluster with a cache, so a topology here is a Sentinel one.
    const redis =
      source.kind === 'url'
        ? source.url
        : source.kind === 'client'
          ? source.client
          : (source.topology as RedisSentinelConfig);
    const commandTimeout = source.kind === 'client' ? undefined : config.storeTimeout;
    return {
      store: new SessionCache(redis, { ...sessionCache, keyPrefix, logger, commandTimeout }),
      owned: true,
    };
  }
  switch (source.kind) {
    case 'store':
      return { store: source.store, owned: false };
    case 'client':
      // The store is ours, the client is not: closing the store only stops observing it.
      return { store: new RedisSessionStore(source.client, { keyPrefix, logger }), owned: true };
    case 'url':
    case 'topology':
      return {
        store: new RedisSessionStore(source.kind === 'url' ? source.url : source.topology, {
          keyPrefix,
          logger,
          commandTimeout: config.storeTimeout,
        }),
        owned: true,
      };
  }
}
