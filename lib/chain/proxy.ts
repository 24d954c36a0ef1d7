import { Agent as HttpAgent } from 'node:http';
import type {
  ClientRequest,
  IncomingHttpHeaders,
  IncomingMessage,
  ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import type { Request, RequestHandler } from 'express';
import { debugProxyErrorsPlugin } from 'http-proxy-middleware';
import type { RequestHandler as HpmHandler, Options, Plugin } from 'http-proxy-middleware';
import { HttpProxyMiddleware } from 'http-proxy-middleware/dist/http-proxy-middleware.js';
import { AuthProxyError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Config } from '../options.js';
import { targetPathOf, upstreamPathProblem } from './check-request.js';
import { readBodyThrough, replayBody } from '../rewrite/request-body.js';
import { createUrlRewriter } from '../rewrite/url-rewriter.js';
import type { LiveSockets } from '../upgrade/live-sockets.js';
import { watchUpstreamUpgrades } from '../upgrade/upstream-upgrade.js';
import type { Responder } from './respond.js';
import { scopeOf, upgradeOf } from './scope.js';
import type { Scope, Upgrade } from './scope.js';
import {
  backendAuthRefusal,
  dropChallenges,
  dropResponseHopByHop,
  upstreamHeaders,
} from './upstream-headers.js';

export interface ProxyStage {
  middleware: RequestHandler;
  /**
   * For the one 'close' listener the mount puts on each response: a client that goes away before
   * its answer is complete should not keep the backend working for nobody.
   */
  clientClosed(res: ServerResponse): void;
  close(): void;
}

/**
 * The proxy stage: http-proxy-middleware with our own plugin in place of its defaults, which
 * would answer errors with a body naming the target and a status of their choosing. WebSocket
 * handshakes (marked by `upgradeHandler`) go to http-proxy's `ws` path, never through hpm's own
 * `ws: true`, which would take upgrades straight from the server without this chain.
 */
export function createProxy(
  config: Config,
  respond: Responder,
  live: LiveSockets,
  observers: readonly Plugin[] = [],
): ProxyStage {
  const ownsAgent = config.proxy.agent === undefined;
  // The agent's socket timeout starts when the socket is created, so it also bounds the connect
  // phase, which ClientRequest.setTimeout (in the hook below) would wait out.
  const agentOptions = { keepAlive: true, timeout: config.proxyTimeout };
  const agent: HttpAgent =
    (config.proxy.agent as HttpAgent | undefined) ??
    (config.target.startsWith('https:')
      ? new HttpsAgent(agentOptions)
      : new HttpAgent(agentOptions));
  // Behind another reverse proxy, `proxy: { xfwd: false }` forwards its X-Forwarded-* unchanged.
  const replaceForwarded = config.proxy.xfwd !== false;
  const upstream: UpstreamLimits = {
    targetPath: targetPathOf(config.target),
    proxyTimeout: config.proxyTimeout,
  };
  const rewriter = createUrlRewriter({
    target: config.target,
    rewriteUrls: config.rewriteUrls,
    changeOrigin: config.proxy.changeOrigin !== false,
    hostRewrite: config.proxy.hostRewrite,
    protocolRewrite: config.proxy.protocolRewrite,
  });

  const authPlugin: Plugin = (proxyServer) => {
    proxyServer.on(
      'proxyReq',
      (proxyReq: ClientRequest, req: IncomingMessage, res: ServerResponse) => {
        checkUpstreamRequest(proxyReq, req, res, upstream);
      },
    );
    proxyServer.on(
      'proxyRes',
      (proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse) => {
        if (!screenResponse(proxyRes, req, res)) return;
        const scope = scopeOf(req);
        rewriter.response(proxyRes, req, res, scope?.publicPrefix ?? '', answer);
      },
    );
    proxyServer.on('error', (err: Error, req: IncomingMessage, res: ServerResponse | Socket) => {
      // For a handshake, http-proxy gives the socket: the answer goes on its bound response.
      const target = 'writeHead' in res ? res : upgradeOf(req)?.res;
      if (target === undefined) res.destroy();
      else answer(upstreamError(err), req, target);
    });
    watchUpstreamUpgrades(proxyServer, {
      proxyTimeout: config.proxyTimeout,
      live,
      refusal: (proxyReq, req) => leavingRefusal(proxyReq, req, scopeOf(req), upstream.targetPath),
      // The backend answered a handshake without upgrading: the client gets that answer as it
      // would over HTTP, through the response bound to the socket.
      refused: (proxyRes, req) => {
        const res = upgradeOf(req)?.res;
        if (res === undefined) {
          proxyRes.destroy();
        } else if (screenResponse(proxyRes, req, res)) {
          res.writeHead(proxyRes.statusCode ?? 502, proxyRes.headers);
          proxyRes.pipe(res);
        }
      },
    });
  };

  /**
   * What every backend answer goes through before the client sees any of it: a login-box
   * challenge or a 407 becomes our own refusal (false), anything else loses the backend's
   * connection-level headers and challenges (true: pass it on), and is cut if the backend breaks
   * off its body.
   */
  const screenResponse = (
    proxyRes: IncomingMessage,
    req: IncomingMessage,
    res: ServerResponse,
  ): boolean => {
    const refusal = backendAuthRefusal(proxyRes.statusCode, proxyRes.headers);
    if (refusal !== undefined) {
      const error = new AuthProxyError(
        refusal,
        refusal === 'ERR_CREDENTIALS_REJECTED'
          ? `backend of mount ${mountOf(req)} rejected the session's credentials`
          : `backend of mount ${mountOf(req)} asked for proxy authentication (407)`,
      );
      withhold(proxyRes, error.status, res.shouldKeepAlive);
      answer(error, req, res);
      return false;
    }
    const scope = scopeOf(req);
    if (scope !== undefined) scope.upstreamResponded = true;
    // Runs before http-proxy copies the headers: the backend's connection management is
    // its hop's, and ours decides keep-alive (closed while a server drains, for example).
    dropResponseHopByHop(proxyRes.headers, res.shouldKeepAlive);
    dropChallenges(proxyRes.headers);
    // http-proxy leaves the client waiting when the backend dies mid-body: cut it instead. (When
    // the client left first, there is nobody to tell.) 'close' comes once: no once() wrapper.
    proxyRes.on('close', () => {
      if (!proxyRes.complete && !res.destroyed) {
        answer(
          new AuthProxyError('ERR_UPSTREAM_FAILED', 'backend broke off its response'),
          req,
          res,
        );
      }
    });
    return true;
  };

  // Runs inside http-proxy's event listeners, where a throw would take the process down.
  const answer = (error: AuthProxyError, req: IncomingMessage, res: ServerResponse): void => {
    restoreClientHeaders(req);
    try {
      respond(error, req, res);
    } catch {
      res.destroy();
    }
  };

  const hpm = proxyMiddleware({
    changeOrigin: true,
    xfwd: true,
    ...config.proxy,
    target: config.target,
    agent,
    ejectPlugins: true,
    // Observers (metrics) listen after authPlugin, so they see its decisions.
    plugins: [socketErrorGuards, authPlugin, ...observers],
  });

  const middleware: RequestHandler = function proxyToBackend(req, res, next): void {
    const scope = scopeOf(req);
    if (scope?.authorization === undefined) {
      next(new AuthProxyError('ERR_INTERNAL', 'request reached the proxy without credentials'));
      return;
    }
    // The client left during the session lookup: opening an upstream request would only leak it.
    if (req.socket.destroyed) return;
    // http-proxy copies req.headers into the upstream request. Rewriting them here, rather than
    // in its 'proxyReq' event, holds in every case: that event is skipped for requests carrying
    // Expect, and fires only once a socket is free, after the headers may already be written.
    const upgrade = upgradeOf(req);
    const headers = upstreamHeaders(req.headers, {
      authorization: scope.authorization,
      cookieName: config.cookieName,
      replaceForwarded,
      upgrade: upgrade !== undefined,
    });
    // Where this mount is, as the client addressed it: the same middleware may be mounted anywhere.
    scope.publicPrefix = (req as { baseUrl?: string }).baseUrl ?? '';
    const rewrite = rewriter.request(req, scope.publicPrefix, headers);
    if (rewrite instanceof AuthProxyError) {
      next(rewrite);
      return;
    }
    if (rewrite === undefined) {
      forward(req, res, next, headers, scope, upgrade);
      return;
    }
    // Servers read a WebDAV body by its Content-Length (webdav-server reads a chunked one as
    // empty): the translated body is read whole, within a bound, and sent with its own length.
    readBodyThrough(req, rewrite).then((body) => {
      if (body === undefined) return;
      delete headers['transfer-encoding'];
      headers['content-length'] = String(body.length);
      replayBody(req, body);
      forward(req, res, next, headers, scope, upgrade);
    }, next);
  };

  const forward = (
    req: Request,
    res: ServerResponse,
    next: (err?: unknown) => void,
    headers: IncomingHttpHeaders,
    scope: Scope,
    upgrade: Upgrade | undefined,
  ): void => {
    scope.clientHeaders = req.headers;
    req.headers = headers;
    if (upgrade !== undefined) {
      hpm.upgrade(req, upgrade.socket, upgrade.head);
      return;
    }
    // http-proxy-middleware may hand the request back (next(err) from a throwing pathRewrite):
    // whatever runs next must see the client's headers, not the credentials.
    void hpm(req, res, (err?: unknown) => {
      restoreClientHeaders(req);
      next(err);
    });
  };

  return {
    middleware,
    clientClosed(res: ServerResponse): void {
      const scope = scopeOf(res.req);
      if (scope?.upstream === undefined) return;
      // Let go of it either way: a keep-alive connection holds on to its last request (and so
      // to its scope) until the next one, and the upstream request holds the backend's whole
      // response. Kept, it was copied by every young-generation GC: 25% more CPU per request.
      const upstream = scope.upstream;
      scope.upstream = undefined;
      if (!res.writableFinished) upstream.destroy();
    },
    close(): void {
      if (ownsAgent) agent.destroy();
    },
  };
}

/**
 * http-proxy-middleware's `debugProxyErrorsPlugin` (listeners that keep socket errors from
 * crashing the process), less its 'proxyRes' listener, which destroys the backend's response
 * when the client's closes before its end: the mount's 'close' listener already destroys the
 * whole upstream request then (`clientClosed`), so that listener only cost a closure and a
 * listener per request.
 */
const socketErrorGuards: Plugin = (proxyServer, options) => {
  const on = proxyServer.on.bind(proxyServer);
  const withoutProxyRes = Object.create(proxyServer, {
    on: {
      value: (event: string, listener: (...args: unknown[]) => void) =>
        event === 'proxyRes' ? withoutProxyRes : on(event, listener),
    },
  }) as typeof proxyServer;
  debugProxyErrorsPlugin(withoutProxyRes, options);
};

/**
 * `createProxyMiddleware`, less one listener. On its first request, each http-proxy-middleware
 * instance subscribes to the HTTP server's 'close' event to call http-proxy's `close()`, which
 * only closes a server of http-proxy's own (`listen()`), never started here: the listener does
 * nothing, yet one stays on the server per mount, and with 11 mounts Node prints
 * MaxListenersExceededWarning. Marking that subscription as done keeps it from being made. (A
 * test mounts 50 proxies and watches for the warning, should a new version rename the flag.)
 */
function proxyMiddleware(options: Options): HpmHandler {
  const instance = new HttpProxyMiddleware(options);
  (instance as unknown as { serverOnCloseSubscribed: boolean }).serverOnCloseSubscribed = true;
  return instance.middleware;
}

/** What the `proxyReq` hook holds every upstream request to. */
export interface UpstreamLimits {
  /** The target's path without a trailing slash, as http-proxy prefixes it. */
  targetPath: string;
  proxyTimeout: number | undefined;
}

/**
 * The `proxyReq` hook, synchronous as http-proxy requires: a last check that the request leaving
 * carries the session's credentials and a path under the target's path (failing closed if not),
 * then the client's headers are put back so that nothing logged afterwards sees the credentials.
 * Nothing has been sent yet when it runs: the request waits for this very socket.
 */
export function checkUpstreamRequest(
  proxyReq: ClientRequest,
  req: IncomingMessage,
  res: ServerResponse,
  limits: UpstreamLimits,
): void {
  const scope = scopeOf(req);
  const refusal = leavingRefusal(proxyReq, req, scope, limits.targetPath);
  if (refusal !== undefined) {
    proxyReq.destroy(refusal);
    return;
  }
  // The client left while the request waited for a socket: its 'close' has already fired.
  if (res.destroyed) {
    proxyReq.destroy();
    return;
  }
  const { proxyTimeout } = limits;
  if (proxyTimeout !== undefined) proxyReq.setTimeout(proxyTimeout, upstreamTimedOut);
  // From here, the mount's 'close' listener on the response abandons it (ProxyStage.clientClosed).
  if (scope !== undefined) scope.upstream = proxyReq;
}

// A listener shared by every upstream request (it is called on the request that timed out), so
// that none allocates a closure of its own.
function upstreamTimedOut(this: ClientRequest): void {
  this.destroy(new AuthProxyError('ERR_UPSTREAM_TIMEOUT', 'backend did not answer in time'));
}

/**
 * Keeps a backend response from the client. Once the 'proxyRes' listeners return, http-proxy
 * copies the response's status and headers (unless the client's response has been sent) and pipes
 * its body (unless it has been finished), and an asynchronous `onError` has done neither yet: it
 * is left nothing of the backend's to copy, and nothing to pipe. The body is dropped with its
 * socket (a login page is small, but nothing bounds it).
 */
function withhold(proxyRes: IncomingMessage, status: number, keepAlive: boolean): void {
  proxyRes.statusCode = status;
  proxyRes.statusMessage = '';
  proxyRes.headers = {};
  dropResponseHopByHop(proxyRes.headers, keepAlive);
  // Destroying alone does not do: a body already received would still end the client's response.
  proxyRes.pipe = <T extends NodeJS.WritableStream>(destination: T): T => destination;
  proxyRes.destroy();
}

// Express's mount path of this proxy, for log lines ('' at the root).
function mountOf(req: IncomingMessage): string {
  return (req as Partial<Request>).baseUrl || '/';
}

/**
 * What must hold of every request leaving for the backend, HTTP request or WebSocket handshake:
 * it carries the session's credentials and a path under the target's path. Puts the client's
 * headers back first, so that nothing logged afterwards sees the credentials.
 */
export function leavingRefusal(
  proxyReq: ClientRequest,
  req: IncomingMessage,
  scope: Scope | undefined,
  targetPath: string,
): AuthProxyError | undefined {
  const authorization = scope?.authorization;
  restoreClientHeaders(req, scope);
  if (authorization === undefined || proxyReq.getHeader('authorization') !== authorization) {
    return new AuthProxyError('ERR_INTERNAL', 'upstream request lost its credentials');
  }
  // The path as it leaves, after http-proxy's url.parse and join (and any pathRewrite).
  const pathProblem = upstreamPathProblem(proxyReq.path, targetPath);
  if (pathProblem !== undefined) {
    return new AuthProxyError('ERR_PATH_INVALID', `upstream ${pathProblem}`);
  }
  return undefined;
}

function restoreClientHeaders(req: IncomingMessage, scope = scopeOf(req)): void {
  if (scope?.clientHeaders !== undefined) {
    req.headers = scope.clientHeaders;
    scope.clientHeaders = undefined;
  }
}

const UPSTREAM_CODES: Readonly<Record<string, ErrorCode>> = {
  ECONNREFUSED: 'ERR_UPSTREAM_UNREACHABLE',
  ENOTFOUND: 'ERR_UPSTREAM_UNREACHABLE',
  EAI_AGAIN: 'ERR_UPSTREAM_UNREACHABLE',
  EHOSTUNREACH: 'ERR_UPSTREAM_UNREACHABLE',
  ENETUNREACH: 'ERR_UPSTREAM_UNREACHABLE',
  EHOSTDOWN: 'ERR_UPSTREAM_UNREACHABLE',
  ETIMEDOUT: 'ERR_UPSTREAM_TIMEOUT',
};

/** Maps a network error of the upstream request onto our codes (refused 502, timeout 504). */
export function upstreamError(err: unknown): AuthProxyError {
  if (err instanceof AuthProxyError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const mapped = typeof code === 'string' ? UPSTREAM_CODES[code] : undefined;
  return new AuthProxyError(
    mapped ?? 'ERR_UPSTREAM_FAILED',
    `backend request failed (${typeof code === 'string' ? code : 'error'})`,
    {
      cause: err,
    },
  );
}
