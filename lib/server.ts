import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import express from 'express';
import morgan from 'morgan';
import { authProxy } from './auth-proxy.js';
import type { AuthProxy } from './auth-proxy.js';
import { routeOptions } from './cli-config.js';
import type { ServerConfig } from './cli-config.js';
import type { Logger } from './logger.js';
import { RedisSessionStore } from './redis-session-store.js';

export interface RunningServer {
  url: string;
  /**
   * Stops accepting connections, lets in-flight requests finish for at most
   * `config.shutdownTimeout` ms, then closes the proxies and Redis.
   */
  shutdown(): Promise<void>;
}

// The path without the query string: queries often carry secrets, and logs outlive them.
morgan.token(
  'path',
  (req: IncomingMessage & { originalUrl?: string }) =>
    (req.originalUrl ?? req.url ?? '').split('?', 1)[0],
);
const ACCESS_FORMAT =
  ':remote-addr ":method :path HTTP/:http-version" :status :res[content-length] :response-time ms';

/** The standalone server of the CLI: health endpoints, then one authProxy mount per route. */
export async function startServer(
  config: ServerConfig,
  logger: Logger,
  accessLog: Writable,
): Promise<RunningServer> {
  // One connection for every route: they all read the same sessions.
  const store = new RedisSessionStore(config.redis, {
    keyPrefix: config.keyPrefix,
    commandTimeout: config.redisTimeout,
    logger,
  });
  const app = express();
  app.disable('x-powered-by');
  if (config.accessLog) app.use(morgan(ACCESS_FORMAT, { stream: accessLog }));
  app.get('/healthz', (_req, res) => {
    res.type('text').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    store.ping().then(
      () => res.type('text').send('ready\n'),
      () => res.status(503).type('text').send('redis unavailable\n'),
    );
  });
  const proxies: AuthProxy[] = [];
  for (const route of config.routes) {
    const proxy = authProxy({ ...routeOptions(config, route.target, store), logger });
    proxies.push(proxy);
    app.use(route.path, proxy);
  }

  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    shutdown() {
      closing ??= (async () => {
        const drained = new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        });
        // Keep-alive connections that finish their request are closed rather than kept waiting.
        server.on('request', (_req, res) => {
          res.setHeader('connection', 'close');
        });
        server.closeIdleConnections();
        const timer = setTimeout(() => {
          logger.warn('express-auth-proxy: shutdown timeout, closing remaining connections');
          server.closeAllConnections();
        }, config.shutdownTimeout);
        await drained;
        clearTimeout(timer);
        await Promise.all(proxies.map((p) => p.close()));
        await store.close();
      })();
      return closing;
    },
  };
}
