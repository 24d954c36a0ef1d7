import { Agent as HttpAgent } from 'node:http';
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import type { RequestHandler } from 'express';
import { createProxyMiddleware, debugProxyErrorsPlugin } from 'http-proxy-middleware';
import type { Plugin } from 'http-proxy-middleware';
import { withoutCookie } from './cookie-header.js';
import { AuthProxyError, toAuthProxyError } from './errors.js';
import type { ErrorCode } from './errors.js';
import type { Config } from './options.js';
import type { Responder } from './respond.js';
import { scopeOf } from './scope.js';

export interface ProxyStage {
  middleware: RequestHandler;
  close(): void;
}

/**
 * The proxy stage: http-proxy-middleware with our own plugin in place of its defaults, which
 * would answer errors with a body naming the target and a status of their choosing.
 */
export function createProxy(config: Config, respond: Responder): ProxyStage {
  const ownsAgent = config.proxy.agent === undefined;
  const agent: HttpAgent =
    (config.proxy.agent as HttpAgent | undefined) ??
    (config.target.startsWith('https:')
      ? new HttpsAgent({ keepAlive: true })
      : new HttpAgent({ keepAlive: true }));

  const authPlugin: Plugin = (proxyServer) => {
    proxyServer.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage) => {
      injectCredentials(proxyReq, req, config);
    });
    proxyServer.on('error', (err: Error, req: IncomingMessage, res: ServerResponse | Socket) => {
      if ('writeHead' in res) respond(upstreamError(err), req, res);
      else res.destroy();
    });
  };

  const hpm = createProxyMiddleware({
    changeOrigin: true,
    xfwd: true,
    ...config.proxy,
    target: config.target,
    agent,
    ejectPlugins: true,
    plugins: [debugProxyErrorsPlugin, authPlugin],
  });

  const middleware: RequestHandler = function proxyToBackend(req, res, next): void {
    // Node has already answered "100 Continue" to the client. Forwarded, the header would make
    // http-proxy skip its 'proxyReq' event, and with it the credential injection.
    if (req.headers.expect !== undefined) delete req.headers.expect;
    void hpm(req, res, next);
  };

  return {
    middleware,
    close(): void {
      if (ownsAgent) agent.destroy();
    },
  };
}

/**
 * The `proxyReq` hook: synchronous, as http-proxy requires. It replaces whatever the client sent
 * for authentication with the session's credentials and drops the auth cookie. Any failure here
 * destroys the upstream request before its headers leave, so nothing is sent unauthenticated.
 */
export function injectCredentials(
  proxyReq: ClientRequest,
  req: IncomingMessage,
  config: Config,
): void {
  try {
    const authorization = scopeOf(req)?.authorization;
    if (authorization === undefined) {
      throw new AuthProxyError('ERR_INTERNAL', 'request reached the proxy without credentials');
    }
    dropHopByHopHeaders(proxyReq);
    proxyReq.removeHeader('proxy-authorization');
    proxyReq.setHeader('authorization', authorization);
    const cookie = proxyReq.getHeader('cookie');
    if (typeof cookie === 'string') {
      const rest = withoutCookie(cookie, config.cookieName);
      if (rest === undefined) proxyReq.removeHeader('cookie');
      else if (rest !== cookie) proxyReq.setHeader('cookie', rest);
    }
    if (config.proxyTimeout !== undefined) {
      proxyReq.setTimeout(config.proxyTimeout, () => {
        proxyReq.destroy(
          new AuthProxyError('ERR_UPSTREAM_TIMEOUT', 'backend did not answer in time'),
        );
      });
    }
  } catch (err) {
    proxyReq.destroy(toAuthProxyError(err));
  }
}

/**
 * Connection-level headers describe the client's hop, not ours (RFC 9110 7.6.1): forwarding a
 * client's `Connection: close` would cost the upstream keep-alive, and a header the client names
 * in `Connection` is meant to stop here. Removed before the credentials are set, so that
 * `Connection: authorization` cannot take them out.
 */
function dropHopByHopHeaders(proxyReq: ClientRequest): void {
  const connection = proxyReq.getHeader('connection');
  if (connection === undefined) return;
  for (const name of String(connection).split(',')) {
    const header = name.trim().toLowerCase();
    if (header !== '' && header !== 'close' && header !== 'keep-alive')
      proxyReq.removeHeader(header);
  }
  proxyReq.removeHeader('connection');
  proxyReq.removeHeader('keep-alive');
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
