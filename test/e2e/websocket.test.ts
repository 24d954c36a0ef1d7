import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { AuthProxyOptions } from '../../lib/index.js';
import { startBackend } from '../helpers/backend.js';
import type { Seen } from '../helpers/backend.js';
import { close, listen, request } from '../helpers/http.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { useRedisServer } from '../helpers/fixtures.js';
import { startRedis } from '../helpers/redis-server.js';
import { authCookie, cookieValue, JWT_KEY, sign } from '../helpers/tokens.js';
import { echo, mustOpen, nextMessage, openWebSocket, startWsBackend } from '../helpers/ws.js';
import type { WsBackend } from '../helpers/ws.js';

const CREDENTIALS = Buffer.from('foo:bar').toString('base64');

const redisServer = useRedisServer();
let redis: Redis;
let backend: WsBackend;
let proxy: ProxyApp;
let logger: ReturnType<typeof recordingLogger>;
beforeEach(async () => {
  redis = new Redis(redisServer.url);
  await redis.flushdb();
  await redis.set('sid', JSON.stringify({ credentials: CREDENTIALS }));
  backend = await startWsBackend();
  logger = recordingLogger();
});
afterEach(async () => {
  await proxy.close();
  await backend.close();
  redis.disconnect();
});

function options(extra: Partial<AuthProxyOptions> = {}): AuthProxyOptions {
  return { target: backend.url, jwtKey: JWT_KEY, redis: redisServer.url, logger, ...extra };
}

const cookie = authCookie('sid');

describe('WebSocket handshakes through the chain', () => {
  it('echoes text and binary frames through two mounts, each to its own backend', async () => {
    const dav = await startWsBackend();
    try {
      proxy = await startProxyApp(
        { '/mail': options(), '/dav': options({ target: `${dav.url}/remote.php` }) },
        undefined,
        { upgrades: {} },
      );
      const mail = await mustOpen(`${proxy.url}/mail/live?room=1`, { cookie });
      const files = await mustOpen(`${proxy.url}/dav/sync`, { cookie });
      mail.send('hello mail');
      assert.deepEqual(await nextMessage(mail), {
        data: Buffer.from('hello mail'),
        isBinary: false,
      });
      const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
      files.send(bytes);
      assert.deepEqual(await nextMessage(files), { data: bytes, isBinary: true });
      // A frame far larger than any socket buffer arrives whole.
      const big = Buffer.alloc(3 * 1024 * 1024, 7);
      big.write('start');
      mail.send(big);
      const echoed = await nextMessage(mail);
      assert.equal(echoed.data.length, big.length);
      assert.ok(echoed.data.equals(big));
      mail.close();
      files.close();

      assert.deepEqual(
        backend.handshakes.map((h) => h.url),
        ['/live?room=1'],
      );
      assert.deepEqual(
        dav.handshakes.map((h) => h.url),
        ['/remote.php/sync'],
      );
    } finally {
      await dav.close();
    }
  });

  it('sends the session credentials and the handshake headers, never the auth cookie', async () => {
    proxy = await startProxyApp({ '/mail': options() }, undefined, { upgrades: {} });
    const handshake = await openWebSocket(
      `${proxy.url}/mail/live`,
      {
        cookie: `theme=dark; ${cookie}`,
        authorization: 'Bearer client-token',
        'proxy-authorization': 'Basic c3B5OnNweQ==',
        'x-forwarded-for': '203.0.113.9',
      },
      { protocols: ['chat'] },
    );
    assert.equal(handshake.kind, 'open');
    assert.equal(handshake.ws.protocol, 'chat');
    handshake.ws.close();
    const [seen] = backend.handshakes;
    assert.ok(seen !== undefined);
    assert.equal(seen.headers.authorization, `Basic ${CREDENTIALS}`);
    assert.equal(seen.headers['proxy-authorization'], undefined);
    assert.equal(seen.headers.cookie, 'theme=dark');
    assert.equal(seen.headers.upgrade, 'websocket');
    assert.equal(seen.headers.connection, 'Upgrade');
    assert.equal(seen.headers['sec-websocket-version'], '13');
    assert.equal(typeof seen.headers['sec-websocket-key'], 'string');
    assert.equal(seen.headers['sec-websocket-protocol'], 'chat');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-host'], new URL(proxy.url).host);
  });

  it('passes compressed frames (permessage-deflate) through untouched', async () => {
    await backend.close();
    backend = await startWsBackend(echo, { perMessageDeflate: true });
    proxy = await startProxyApp({ '/': options() }, undefined, { upgrades: {} });
    const handshake = await openWebSocket(
      `${proxy.url}/z`,
      { cookie },
      { perMessageDeflate: true },
    );
    assert.equal(handshake.kind, 'open');
    const ws = handshake.ws;
    assert.match(ws.extensions, /permessage-deflate/);
    ws.send('x'.repeat(10_000));
    assert.equal((await nextMessage(ws)).data.toString(), 'x'.repeat(10_000));
    ws.close();
  });
});

describe('refused handshakes get the HTTP answer and never reach the backend', () => {
  const cases: [string, Record<string, string>, string, number, string][] = [
    ['no cookie', {}, '/mail/live', 401, 'ERR_TOKEN_MISSING'],
    [
      'a forged token',
      { cookie: `Authorization=${cookieValue(forged())}` },
      '/mail/live',
      401,
      'ERR_TOKEN_INVALID',
    ],
    [
      'a token signed by another key',
      { cookie: authCookie('sid', { key: 'another key' }) },
      '/mail/live',
      401,
      'ERR_TOKEN_INVALID',
    ],
    [
      'an expired token',
      { cookie: authCookie('sid', { expiresIn: -10 }) },
      '/mail/live',
      401,
      'ERR_TOKEN_EXPIRED',
    ],
    ['no session', { cookie: authCookie('gone') }, '/mail/live', 401, 'ERR_SESSION_NOT_FOUND'],
    ['a path escape', { cookie }, '/mail/%252e%252e/admin', 400, 'ERR_PATH_INVALID'],
  ];
  for (const [name, headers, path, status, code] of cases) {
    it(`answers ${status} ${code} to ${name}`, async () => {
      proxy = await startProxyApp({ '/mail': options() }, undefined, { upgrades: {} });
      const handshake = await openWebSocket(`${proxy.url}${path}`, headers);
      assert.equal(handshake.kind, 'refused');
      assert.equal(handshake.status, status);
      assert.equal(
        handshake.body,
        `${status} ${status === 400 ? 'Bad Request' : 'Unauthorized'}: ${code}\n`,
      );
      assert.equal(handshake.headers.connection, 'close');
      assert.equal(backend.handshakes.length + backend.plainRequests, 0);
      assert.ok(logger.lines.some((line) => line.includes(`${status} ${code} GET`)));
    });
  }

  it('answers 503 when the store is down, with Retry-After', async () => {
    const down = await startRedis();
    await down.stop();
    proxy = await startProxyApp(
      { '/mail': options({ redis: down.url, redisCommandTimeout: 200 }) },
      undefined,
      { upgrades: {} },
    );
    const handshake = await openWebSocket(`${proxy.url}/mail/live`, { cookie });
    assert.equal(handshake.kind, 'refused');
    assert.equal(handshake.status, 503);
    assert.equal(handshake.headers['retry-after'], '5');
    assert.match(handshake.body, /ERR_STORE_UNAVAILABLE/);
    assert.equal(backend.handshakes.length, 0);
  });

  it('renders refusals with onError', async () => {
    proxy = await startProxyApp(
      {
        '/mail': options({
          onError: (err, _req, res) => {
            res.status(err.status).type('html').send(`<h1>${err.code}</h1>`);
          },
        }),
      },
      undefined,
      { upgrades: {} },
    );
    const handshake = await openWebSocket(`${proxy.url}/mail/live`);
    assert.equal(handshake.kind, 'refused');
    assert.equal(handshake.status, 401);
    assert.equal(handshake.body, '<h1>ERR_TOKEN_MISSING</h1>');
    assert.match(String(handshake.headers['content-type']), /text\/html/);
  });

  it('refuses handshakes on a mount with ws: false (403), still proxying its HTTP', async () => {
    proxy = await startProxyApp({ '/mail': options({ ws: false }) }, undefined, { upgrades: {} });
    const handshake = await openWebSocket(`${proxy.url}/mail/live`, { cookie });
    assert.equal(handshake.kind, 'refused');
    assert.equal(handshake.status, 403);
    assert.match(handshake.body, /ERR_WEBSOCKET_DISABLED/);
    assert.equal(backend.handshakes.length, 0);
    const reply = await request(`${proxy.url}/mail/page`, { headers: { cookie } });
    assert.equal(reply.status, 200);
    assert.equal(backend.plainRequests, 1);
  });

  it('passes on what the backend answers when it refuses the upgrade itself', async () => {
    const refusing = createServer((_req, res) => res.end());
    refusing.on('upgrade', (_req: IncomingMessage, socket) => {
      // Chunked, as a framework's error page would be.
      socket.end(
        'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n' +
          'Connection: keep-alive\r\n\r\n7\r\nnot you\r\n0\r\n\r\n',
      );
    });
    const url = await listen(refusing);
    try {
      proxy = await startProxyApp({ '/': options({ target: url }) }, undefined, { upgrades: {} });
      const handshake = await openWebSocket(`${proxy.url}/live`, { cookie });
      assert.equal(handshake.kind, 'refused');
      assert.equal(handshake.status, 403);
      // Framed as the client receives it (re-chunked), not as the backend sent it.
      assert.equal(handshake.body, 'not you');
      assert.equal(handshake.headers.connection, 'close');
      assert.equal(handshake.headers['content-type'], 'text/plain');
    } finally {
      await close(refusing);
    }
  });

  it("answers 401 ERR_CREDENTIALS_REJECTED, withholding the backend's own, when it challenges", async () => {
    const challenging = createServer((_req, res) => res.end());
    challenging.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      socket.end(
        'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="mail"\r\n' +
          'Content-Length: 14\r\nConnection: close\r\n\r\nbackend secret',
      );
    });
    const url = await listen(challenging);
    try {
      proxy = await startProxyApp({ '/': options({ target: url }) }, undefined, { upgrades: {} });
      const handshake = await openWebSocket(`${proxy.url}/live`, { cookie });
      assert.equal(handshake.kind, 'refused');
      assert.equal(handshake.status, 401);
      assert.match(handshake.body, /ERR_CREDENTIALS_REJECTED/);
      assert.equal(handshake.headers['www-authenticate'], undefined);
      assert.ok(logger.lines.some((line) => line.includes('ERR_CREDENTIALS_REJECTED')));
    } finally {
      await close(challenging);
    }
  });

  it('answers 502 when the backend is unreachable and 504 when it never answers', async () => {
    const silent = createServer();
    const held: Duplex[] = [];
    silent.on('upgrade', (_req: IncomingMessage, socket: Duplex) => held.push(socket));
    const silentUrl = await listen(silent);
    const refused = createServer();
    const refusedUrl = await listen(refused);
    await close(refused);
    try {
      proxy = await startProxyApp(
        {
          '/down': options({ target: refusedUrl }),
          '/silent': options({ target: silentUrl, proxyTimeout: 300 }),
        },
        undefined,
        { upgrades: {} },
      );
      const down = await openWebSocket(`${proxy.url}/down/live`, { cookie });
      assert.equal(down.kind === 'refused' && down.status, 502);
      assert.match(down.kind === 'refused' ? down.body : '', /ERR_UPSTREAM_UNREACHABLE/);
      const timedOut = await openWebSocket(`${proxy.url}/silent/live`, { cookie });
      assert.equal(timedOut.kind === 'refused' && timedOut.status, 504);
    } finally {
      for (const socket of held) socket.destroy();
      await close(silent);
    }
  });
});

describe('upgrades outside the authProxy mounts', () => {
  it('answers 404 to an upgrade no route takes, and closes the socket', async () => {
    proxy = await startProxyApp({ '/mail': options() }, undefined, { upgrades: {} });
    const handshake = await openWebSocket(`${proxy.url}/elsewhere`, { cookie });
    assert.equal(handshake.kind, 'refused');
    assert.equal(handshake.status, 404);
    assert.equal(handshake.headers.connection, 'close');
  });

  it("lets the app's other routes answer an upgrade request as a plain request", async () => {
    proxy = await startProxyApp({ '/mail': options() }, undefined, { upgrades: {} });
    const handshake = await openWebSocket(`${proxy.url}/app-route`);
    assert.equal(handshake.kind, 'refused');
    assert.equal(handshake.status, 200);
    assert.equal(handshake.body, 'app route');
  });

  it('leaves upgrades its filter declines to the other upgrade listeners', async () => {
    proxy = await startProxyApp({ '/mail': options() }, undefined, {
      upgrades: { filter: (req) => req.url?.startsWith('/other/') !== true },
    });
    proxy.server.on('upgrade', (req: IncomingMessage, socket) => {
      if (req.url?.startsWith('/other/') === true) {
        socket.end('HTTP/1.1 418 I am a teapot\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      }
    });
    const other = await openWebSocket(`${proxy.url}/other/socket`);
    assert.equal(other.kind === 'refused' && other.status, 418);
    const mail = await openWebSocket(`${proxy.url}/mail/live`);
    assert.equal(mail.kind === 'refused' && mail.status, 401);
  });

  it('runs a non-WebSocket upgrade (h2c) as the plain request it is, without Upgrade', async () => {
    const http = await startBackend();
    try {
      proxy = await startProxyApp({ '/': options({ target: http.url }) }, undefined, {
        upgrades: {},
      });
      const res = await rawExchange(
        proxy.url,
        'GET /h2 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
          `HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nCookie: ${cookie}\r\n\r\n`,
      );
      assert.match(res, /^HTTP\/1\.1 200 /);
      const seen = JSON.parse(res.slice(res.indexOf('{'))) as Seen;
      assert.equal(seen.url, '/h2');
      assert.equal(seen.headers.upgrade, undefined);
      assert.equal(seen.headers['http2-settings'], undefined);
      assert.equal(seen.headers.authorization, `Basic ${CREDENTIALS}`);
    } finally {
      await http.close();
    }
  });

  it('refuses an upgrade request carrying a body (400): the body would be lost', async () => {
    proxy = await startProxyApp({ '/': options() }, undefined, { upgrades: {} });
    const res = await rawExchange(
      proxy.url,
      'POST /x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n' +
        `Content-Length: 5\r\nCookie: ${cookie}\r\n\r\nhello`,
    );
    assert.match(res, /^HTTP\/1\.1 400 /);
    assert.equal(backend.handshakes.length + backend.plainRequests, 0);
  });
});

describe('no upgrade reaches a backend without the chain', () => {
  it('even after HTTP requests went through the mount (hpm ws: true would subscribe then)', async () => {
    proxy = await startProxyApp({ '/mail': options() }, undefined, { upgrades: {} });
    for (let i = 0; i < 3; i++) {
      const reply = await request(`${proxy.url}/mail/page`, { headers: { cookie } });
      assert.equal(reply.status, 200);
    }
    const handshake = await openWebSocket(`${proxy.url}/mail/live`);
    assert.equal(handshake.kind === 'refused' && handshake.status, 401);
    assert.equal(backend.handshakes.length, 0);
    assert.equal(proxy.server.listenerCount('upgrade'), 1);
  });

  it('without upgradeHandler, a handshake is a plain request: authenticated, Upgrade dropped', async () => {
    proxy = await startProxyApp({ '/mail': options() });
    await request(`${proxy.url}/mail/page`, { headers: { cookie } });
    const anonymous = await openWebSocket(`${proxy.url}/mail/live`);
    assert.equal(anonymous.kind === 'refused' && anonymous.status, 401);
    const authenticated = await openWebSocket(`${proxy.url}/mail/live`, { cookie });
    assert.equal(authenticated.kind === 'refused' && authenticated.status, 200);
    assert.equal(backend.handshakes.length, 0);
    assert.equal(backend.plainRequests, 2);
  });
});

/** Writes raw bytes on a fresh connection and returns everything read until it closes. */
async function rawExchange(url: string, data: string): Promise<string> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(data);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'close');
  return Buffer.concat(chunks).toString();
}

function forged(): string {
  const [header, , signature] = sign('sid').split('.');
  const payload = Buffer.from(
    JSON.stringify({ sid: 'other', exp: Math.floor(Date.now() / 1000) + 60 }),
  ).toString('base64url');
  return `${header ?? ''}.${payload}.${signature ?? ''}`;
}
