import { createServer } from 'node:http';
import express from 'express';
import type { RequestHandler } from 'express';
import { authProxy } from '../../lib/index.js';
import type { AuthProxy, AuthProxyOptions, Logger } from '../../lib/index.js';
import { close, listen } from './http.js';

/** A logger that keeps its lines, to assert on what is and is not logged. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (...args: unknown[]): void => {
    lines.push(args.map(String).join(' '));
  };
  return { lines, debug: push, info: push, warn: push, error: push };
}

export interface ProxyApp {
  url: string;
  proxies: AuthProxy[];
  close(): Promise<void>;
}

/** A real Express app with one authProxy per mount path, listening on a free port. */
export async function startProxyApp(
  mounts: Record<string, AuthProxyOptions>,
  before?: RequestHandler,
): Promise<ProxyApp> {
  const app = express();
  if (before !== undefined) app.use(before);
  const proxies: AuthProxy[] = [];
  for (const [path, options] of Object.entries(mounts)) {
    const proxy = authProxy(options);
    proxies.push(proxy);
    app.use(path, proxy);
  }
  app.get('/app-route', (_req, res) => {
    res.send('app route');
  });
  const server = createServer(app);
  const url = await listen(server);
  return {
    url,
    proxies,
    async close() {
      await close(server);
      await Promise.all(proxies.map((p) => p.close()));
    },
  };
}
