import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EventEmitter } from 'node:events';
import { AuthProxyError } from '../errors.js';
import { scopeOf } from '../chain/scope.js';
import type { LiveSockets } from './live-sockets.js';

export interface UpstreamUpgradeOptions {
  proxyTimeout: number | undefined;
  live: LiveSockets;
  /** The proxy stage's own check of every request leaving (credentials, path). */
  refusal: (proxyReq: ClientRequest, req: IncomingMessage) => AuthProxyError | undefined;
  /** Answers the client when the backend answered the handshake without upgrading. */
  refused: (proxyRes: IncomingMessage, req: IncomingMessage) => void;
}

/**
 * The WebSocket side of the proxy stage, on http-proxy's server: the handshake leaving for the
 * backend is checked as an HTTP request is (credentials, path, client headers restored), its
 * answer is bounded by `proxyTimeout`, and after the backend's 101 the two sockets are handed to
 * the mount's live sockets.
 */
export function watchUpstreamUpgrades(
  proxyServer: EventEmitter,
  options: UpstreamUpgradeOptions,
): void {
  const { proxyTimeout, live, refusal, refused } = options;
  // http-proxy pipes the sockets together between its 'upgrade' listener and its 'open' event;
  // the live socket takes over only once that pipe exists.
  const opening = new WeakMap<Duplex, () => void>();

  proxyServer.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage, socket: Duplex) => {
    const problem = refusal(proxyReq, req);
    if (problem !== undefined) {
      proxyReq.destroy(problem);
      return;
    }
    // A client that leaves before the backend answers must not leave an upstream socket behind.
    const abandon = (): void => {
      proxyReq.destroy();
    };
    if (socket.destroyed) {
      abandon();
      return;
    }
    socket.once('close', abandon);
    if (proxyTimeout !== undefined) {
      proxyReq.setTimeout(proxyTimeout, () => {
        proxyReq.destroy(
          new AuthProxyError(
            'ERR_UPSTREAM_TIMEOUT',
            'backend did not answer the handshake in time',
          ),
        );
      });
    }
    const scope = scopeOf(req);
    // The backend answered without upgrading. http-proxy's own listener, which it adds right after
    // this event, would write that answer's head raw on the socket and pipe the de-chunked body
    // after it, past every check of the HTTP path (challenges, hop-by-hop headers, framing). It is
    // removed before any answer can arrive: the next tick comes before any I/O.
    const answered = (proxyRes: IncomingMessage): void => {
      refused(proxyRes, req);
    };
    proxyReq.once('response', answered);
    process.nextTick(() => {
      for (const listener of proxyReq.listeners('response')) {
        if (listener !== answered)
          proxyReq.off('response', listener as (...args: unknown[]) => void);
      }
    });
    proxyReq.once('upgrade', (_proxyRes: IncomingMessage, upstream: Duplex) => {
      socket.off('close', abandon);
      if (scope !== undefined) scope.upstreamResponded = true;
      opening.set(upstream, () => {
        live.open(req, socket, upstream);
      });
    });
  });

  proxyServer.on('open', (upstream: Duplex) => {
    const open = opening.get(upstream);
    opening.delete(upstream);
    open?.();
  });
}
