import { createServer } from 'node:http';
import type { Server, ServerOptions } from 'node:http';
import express from 'express';
import type { RequestHandler } from 'express';
import { authProxy, upgradeHandler } from '../../lib/index.js';
import type {
  AuthProxy,
  AuthProxyOptions,
  Logger,
  UpgradeHandlerOptions,
} from '../../lib/index.js';
import { close, listen } from './http.js';

export type RecordingLogger = Logger & {
  lines: string[];
  /** Resolves with the first line, already logged or to come, that matches. */
  waitFor(pattern: RegExp): Promise<string>;
};

/** A logger that keeps its lines, to assert on what is and is not logged. */
export function recordingLogger(): RecordingLogger {
  const lines: string[] = [];
  let waiting: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const push = (...args: unknown[]): void => {
    const line = args.map(String).join(' ');
    lines.push(line);
    const matched = waiting.filter((w) => w.pattern.test(line));
    waiting = waiting.filter((w) => !matched.includes(w));
    for (const w of matched) w.resolve(line);
  };
  return {
    lines,
    debug: push,
    info: push,
    warn: push,
    error: push,
    waitFor(pattern) {
      const line = lines.find((l) => pattern.test(l));
      if (line !== undefined) return Promise.resolve(line);
      return new Promise((resolve) => waiting.push({ pattern, resolve }));
    },
  };
}

export interface ProxyApp {
  url: string;
  proxies: AuthProxy[];
  server: Server;
  close(): Promise<void>;
}

export interface ProxyAppSetup {
  /** Wires `upgradeHandler(app, options)` on the server's 'upgrade' event. Default: not wired. */
  upgrades?: UpgradeHandlerOptions;
  serverOptions?: ServerOptions;
}

/** A real Express app with one authProxy per mount path, listening on a free port. */
export async function startProxyApp(
  mounts: Record<string, AuthProxyOptions>,
  before?: RequestHandler,
  setup: ProxyAppSetup = {},
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
  const server = createServer(setup.serverOptions ?? {}, app);
  if (setup.upgrades !== undefined) server.on('upgrade', upgradeHandler(app, setup.upgrades));
  const url = await listen(server);
  return {
    url,
    proxies,
    server,
    async close() {
      // The server calls back only once upgraded sockets are gone, which the proxies close.
      const closed = close(server);
      await Promise.all(proxies.map((p) => p.close()));
      await closed;
    },
  };
}
