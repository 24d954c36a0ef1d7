import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EventEmitter } from 'node:events';
import { AuthProxyError } from '../errors.js';
import { scopeOf } from '../chain/scope.js';
import { dropResponseHopByHop } from '../chain/upstream-headers.js';
import type { LiveSockets } from './live-sockets.js';

export interface UpstreamUpgradeOptions {
  proxyTimeout: number | undefined;
  live: LiveSockets;
  /** The proxy stage's own check of every request leaving (credentials, path). */
  refusal: (proxyReq: ClientRequest, req: IncomingMessage) => AuthProxyError | undefined;
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
  const { proxyTimeout, live, refusal } = options;
  // http-proxy pipes the sockets together between its 'upgrade' listener and its 'open' event;
  // the live socket takes over only once that pipe exists.
  const opening = new WeakMap<Duplex, () => void>();

  proxyServer.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage, socket: Duplex) => {
    const refused = refusal(proxyReq, req);
    if (refused !== undefined) {
      proxyReq.destroy(refused);
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
    // The backend refused the upgrade. Runs before http-proxy's own listener, which writes these
    // headers raw on the socket, pipes the de-chunked body after them and closes the socket: a
    // `Transfer-Encoding: chunked` or keep-alive header would lie about that body.
    proxyReq.once('response', (proxyRes: IncomingMessage) => {
      if (scope !== undefined) scope.upstreamResponded = true;
      dropResponseHopByHop(proxyRes.headers, false);
      Reflect.deleteProperty(proxyRes.headers, 'transfer-encoding');
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
