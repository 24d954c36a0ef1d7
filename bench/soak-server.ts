// The soak test's subject, alone in its process so that its memory is all the proxy's: Express
// with authProxy in front of the backend URL given, sessions in the Redis given. Talks to its
// parent over IPC: sends { url } once listening, answers 'stats' with its memory and handles.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { authProxy } from '../lib/index.js';

const [target, redisUrl, jwtKey] = process.argv.slice(2);
if (target === undefined || redisUrl === undefined || jwtKey === undefined) {
  throw new Error('usage: soak-server.ts <backend url> <redis url> <jwt key>');
}

const app = express();
const proxy = authProxy({ target, jwtKey, redis: redisUrl, proxyTimeout: 10_000 });
app.use('/dav', proxy);
const server = createServer(app);
server.listen(0, '127.0.0.1', () => {
  process.send?.({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});

export interface Stats {
  rss: number;
  heapUsed: number;
  /** Microseconds of CPU (user + system) used so far. */
  cpu: number;
  handles: Record<string, number>;
}

process.on('message', (message) => {
  if (message === 'stats') {
    // Measured after a full collection: what is still reachable, not what awaits the collector.
    (globalThis as { gc?: () => void }).gc?.();
    const handles: Record<string, number> = {};
    for (const name of process.getActiveResourcesInfo()) handles[name] = (handles[name] ?? 0) + 1;
    const { rss, heapUsed } = process.memoryUsage();
    const { user, system } = process.cpuUsage();
    process.send?.({ stats: { rss, heapUsed, cpu: user + system, handles } satisfies Stats });
  } else if (message === 'stop') {
    server.close();
    server.closeAllConnections();
    void proxy.close().then(() => process.exit(0));
  }
});
