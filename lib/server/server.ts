import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import express from 'express';
import morgan from 'morgan';
import { authProxy } from '../auth-proxy.js';
import type { AuthProxy } from '../auth-proxy.js';
import { createMetrics, metricsHandler } from '../observe/metrics.js';
import { readiness } from '../observe/readiness.js';
import type { Registry } from 'prom-client';
import { routeOptions } from './cli-config.js';
import type { ServerConfig } from './cli-config.js';
import type { Logger } from '../logger.js';
import { RedisSessionStore } from '../sessions/redis-session-store.js';
import { SessionCache } from '../sessions/session-cache.js';
import type { SessionStore } from '../sessions/session-store.js';
import { upgradeHandler } from '../upgrade/upgrade-handler.js';

export interface RunningServer {
  url: string;
  /** Where /metrics is served, when it has a port of its own (not in a worker: see cluster.ts). */
  metricsUrl?: string;
  /**
   * Stops accepting connections, lets in-flight requests finish for at most
   * `config.shutdownTimeout` ms, closes open WebSockets with 1001, then closes Redis.
   */
  shutdown(): Promise<void>;
}

/**
 * One access log line, without the query string: queries often carry secrets, and logs outlive
 * them. A format function rather than a registered token keeps morgan's global state untouched.
 */
const accessLine: morgan.FormatFn<IncomingMessage & { originalUrl?: string }> = (
  tokens,
  req,
  res,
) => {
  const path = (req.originalUrl ?? req.url ?? '').split('?', 1)[0] ?? '';
  const field = (value: string | undefined): string => value ?? '-';
  return [
    field(tokens['remote-addr']?.(req, res)),
    `"${field(tokens.method?.(req, res))} ${path} HTTP/${field(tokens['http-version']?.(req, res))}"`,
    field(tokens.status?.(req, res)),
    field(tokens.res?.(req, res, 'content-length')),
    `${field(tokens['response-time']?.(req, res))} ms`,
  ].join(' ');
};

/** The standalone server of the CLI: health endpoints, then one authProxy mount per route. */
export async function startServer(
  config: ServerConfig,
  logger: Logger,
  accessLog: Writable,
  options: {
    /** A worker of several: its metrics registry goes to the primary, which serves it. */
    shareMetrics?: (registry: Registry) => void;
  } = {},
): Promise<RunningServer> {
  const metrics = config.metrics === 'off' ? undefined : createMetrics();
  if (metrics !== undefined) options.shareMetrics?.(metrics.registry);
  let metricsServer: Server | undefined;
  // One store for every route: they all read the same sessions.
  const storeOptions = { keyPrefix: config.keyPrefix, commandTimeout: config.redisTimeout, logger };
  const store: SessionStore & { close(): Promise<void> } =
    config.sessionCache && !(typeof config.redis !== 'string' && 'cluster' in config.redis)
      ? new SessionCache(config.redis, storeOptions)
      : new RedisSessionStore(config.redis, storeOptions);
  const proxies: AuthProxy[] = [];
  const server = createServer();
  const inFlight = new Set<ServerResponse>();
  // Upgraded sockets leave Node's connection tracking: closeAllConnections() does not see them.
  const upgraded = new Set<Duplex>();
  let closing = false;
  // While draining, a connection that finishes its request is closed rather than kept alive.
  const drainAfter = (res: ServerResponse): void => {
    if (!res.headersSent) res.shouldKeepAlive = false;
    res.once('finish', () => {
      setImmediate(() => {
        server.closeIdleConnections();
      });
    });
  };
  try {
    const app = express();
    app.disable('x-powered-by');
    if (config.accessLog) app.use(morgan(accessLine, { stream: accessLog }));
    app.get('/healthz', (_req, res) => {
      res.type('text').send('ok\n');
    });
    app.get('/readyz', readiness(store, { timeout: config.redisTimeout }));
    if (metrics !== undefined && config.metrics === 'main') {
      app.get('/metrics', metricsHandler(metrics));
    }
    // Longest paths first, so that /mail/admin is not swallowed by /mail or /.
    const routes = [...config.routes].sort((a, b) => b.path.length - a.path.length);
    for (const route of routes) {
      const proxy = authProxy({
        ...routeOptions(config, route.target, store),
        logger,
        ...(metrics === undefined ? {} : { metrics: metrics.mount(route.path) }),
      });
      proxies.push(proxy);
      app.use(route.path, proxy);
    }
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      inFlight.add(res);
      res.once('close', () => inFlight.delete(res));
      if (closing) drainAfter(res);
      app(req, res);
    });
    const handleUpgrade = upgradeHandler(app);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      upgraded.add(socket);
      socket.once('close', () => upgraded.delete(socket));
      handleUpgrade(req, socket, head);
    });
    await listenOn(server, config.port, config.host);
    if (metrics !== undefined && typeof config.metrics === 'object' && !options.shareMetrics) {
      metricsServer = createServer(express().get('/metrics', metricsHandler(metrics)));
      await listenOn(metricsServer, config.metrics.port, config.host);
    }
  } catch (err) {
    // Without this the open Redis connection would keep a failed start-up alive.
    server.close();
    await Promise.all(proxies.map((p) => p.close()));
    await store.close();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    url: urlOf(server),
    ...(metricsServer === undefined ? {} : { metricsUrl: urlOf(metricsServer) }),
    shutdown() {
      stopped ??= (async () => {
        closing = true;
        for (const res of inFlight) drainAfter(res);
        const drained = new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        });
        server.closeIdleConnections();
        const timer = setTimeout(() => {
          logger.warn('express-auth-proxy: shutdown timeout, closing remaining connections');
          server.closeAllConnections();
          for (const socket of upgraded) socket.destroy();
        }, config.shutdownTimeout);
        // Each proxy waits for its in-flight requests, then closes its WebSockets with 1001;
        // only then can the server, which counts upgraded sockets too, finish closing.
        await Promise.all(proxies.map((p) => p.close()));
        await drained;
        clearTimeout(timer);
        await store.close();
        if (metricsServer !== undefined) {
          const closing = metricsServer;
          const closed = new Promise((resolve) => closing.close(resolve));
          closing.closeAllConnections();
          await closed;
        }
      })();
      return stopped;
    },
  };
}

/** Listens, rejecting (EADDRINUSE...) instead of emitting 'error'. */
export function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function urlOf(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return `http://${host}:${port}`;
}
