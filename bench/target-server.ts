// One benchmark subject in its own process: a backend plus either bare Express +
// http-proxy-middleware or Express + authProxy in front of it. Prints its URL on stdout.
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { authProxy, MemorySessionStore } from '../lib/index.js';

const [mode = 'bare', redisUrl] = process.argv.slice(2);
export const JWT_KEY = 'bench-secret';

const backend = createServer((_req, res) => {
  res.end('ok');
}).listen(0, '127.0.0.1');
await new Promise((resolve) => backend.once('listening', resolve));
const target = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;

const app = express();
if (mode === 'bare') {
  app.use(
    '/mail',
    createProxyMiddleware({ target, changeOrigin: true, agent: new Agent({ keepAlive: true }) }),
  );
} else {
  const store = mode === 'redis' && redisUrl !== undefined ? redisUrl : new MemorySessionStore();
  const proxy = authProxy({ target, jwtKey: JWT_KEY, redis: store });
  await proxy.store.set('bench-sid', { credentials: Buffer.from('foo:bar').toString('base64') });
  app.use('/mail', proxy);
}
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
process.once('SIGTERM', () => process.exit(0));
process.once('SIGINT', () => process.exit(0));
