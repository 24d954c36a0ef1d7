import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemorySessionStore } from '../../lib/index.js';
import type { AuthProxyOptions } from '../../lib/index.js';
import { close, listen, request } from '../helpers/http.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp, RecordingLogger } from '../helpers/proxy-app.js';
import { useRedisServer } from '../helpers/fixtures.js';
import { authCookie, cookieValue, JWT_KEY, sign } from '../helpers/tokens.js';
import { closeOf, mustOpen, nextMessage, startWsBackend } from '../helpers/ws.js';
import type { WsBackend } from '../helpers/ws.js';

const CREDENTIALS = Buffer.from('foo:bar').toString('base64');
const SESSION = JSON.stringify({ credentials: CREDENTIALS });
// Small in tests; the bound asserted is the interval plus this margin.
const INTERVAL = 300;
const MARGIN = 1500;

const redisServer = useRedisServer();
let redis: Redis;
let backend: WsBackend;
let proxy: ProxyApp;
let logger: RecordingLogger;
beforeEach(async () => {
  redis = new Redis(redisServer.url);
  await redis.flushdb();
  backend = await startWsBackend();
  logger = recordingLogger();
});
afterEach(async () => {
  await proxy.close();
  await backend.close();
  redis.disconnect();
  assertNoSecretLogged(logger);
});

function options(extra: Partial<AuthProxyOptions> = {}): AuthProxyOptions {
  return {
    target: backend.url,
    jwtKey: JWT_KEY,
    redis: redisServer.url,
    logger,
    wsRecheckInterval: INTERVAL,
    ...(typeof extra.redis === 'object' ? {} : { redisCommandTimeout: 200 }),
    ...extra,
  };
}

async function start(extra: Partial<AuthProxyOptions> = {}): Promise<void> {
  proxy = await startProxyApp({ '/app': options(extra) }, undefined, { upgrades: {} });
}

const SECRET_SIDS = ['sid-alice-0123456789', 'sid-bob-9876543210'];

function assertNoSecretLogged(log: RecordingLogger): void {
  const text = log.lines.join('\n');
  for (const sid of SECRET_SIDS) {
    assert.ok(!text.includes(sid), `a log line holds the sid ${sid}`);
    assert.ok(!text.includes(cookieValue(sign(sid)).slice(0, 40)), 'a log line holds a cookie');
  }
  assert.ok(!text.includes(CREDENTIALS), 'a log line holds the credentials');
  assert.ok(!text.includes('eyJ'), 'a log line holds a token');
}

const [ALICE = '', BOB = ''] = SECRET_SIDS;

describe('open WebSockets end with their session', () => {
  it('closes with 4401 within the recheck interval when the session is deleted', async () => {
    await redis.set(ALICE, SESSION);
    await start();
    const ws = await mustOpen(`${proxy.url}/app/live`, { cookie: authCookie(ALICE) });
    ws.send('ping');
    assert.equal((await nextMessage(ws)).data.toString(), 'ping');
    const closed = closeOf(ws);
    const deletedAt = Date.now();
    await redis.del(ALICE);
    const { code, reason } = await closed;
    assert.equal(code, 4401);
    assert.equal(reason, 'session ended');
    assert.ok(Date.now() - deletedAt < INTERVAL + MARGIN, `${Date.now() - deletedAt} ms`);
    await logger.waitFor(/WebSocket closed 4401 ERR_SESSION_NOT_FOUND GET \/app\/live sid#/);
    assert.equal(proxy.proxies[0]?.webSockets, 0);
  });

  it("closes with 4401 when the token's exp passes", async () => {
    await redis.set(ALICE, SESSION);
    // A long recheck: only the expiry can close it in time.
    await start({ wsRecheckInterval: 600_000 });
    const token = sign(ALICE, { expiresIn: 2 });
    const exp = (
      JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
        exp: number;
      }
    ).exp;
    const ws = await mustOpen(`${proxy.url}/app/live`, {
      cookie: `Authorization=${cookieValue(token)}`,
    });
    const { code } = await closeOf(ws);
    assert.equal(code, 4401);
    assert.ok(Date.now() >= exp * 1000, 'closed before exp');
    assert.ok(Date.now() < exp * 1000 + MARGIN, `${Date.now() - exp * 1000} ms after exp`);
    await logger.waitFor(/WebSocket closed 4401 ERR_TOKEN_EXPIRED/);
  });

  it('closes at once when the store reports the invalidation (memory store)', async () => {
    const store = new MemorySessionStore();
    await store.set(ALICE, { credentials: CREDENTIALS });
    await start({ redis: store, wsRecheckInterval: 600_000 });
    const ws = await mustOpen(`${proxy.url}/app/live`, { cookie: authCookie(ALICE) });
    const closed = closeOf(ws);
    await store.delete(ALICE);
    assert.equal((await closed).code, 4401);
  });

  it('closes at once when the session cache hears of the deletion from Redis', async () => {
    await redis.set(ALICE, SESSION);
    await start({ sessionCache: true, wsRecheckInterval: 600_000 });
    const ws = await mustOpen(`${proxy.url}/app/live`, { cookie: authCookie(ALICE) });
    const closed = closeOf(ws);
    // Any client of the same Redis (the login site), not through the proxy.
    await redis.del(ALICE);
    assert.equal((await closed).code, 4401);
  });

  it('keeps the socket when the store reports a change that leaves the session valid', async () => {
    const store = new MemorySessionStore();
    await store.set(ALICE, { credentials: CREDENTIALS });
    await start({ redis: store, wsRecheckInterval: 600_000, logger });
    const ws = await mustOpen(`${proxy.url}/app/live`, { cookie: authCookie(ALICE) });
    await store.set(ALICE, { credentials: CREDENTIALS }, 3600);
    // The recheck the invalidation caused has had a full round trip to finish.
    ws.send('still open');
    assert.equal((await nextMessage(ws)).data.toString(), 'still open');
    assert.equal(proxy.proxies[0]?.webSockets, 1);
    ws.close();
  });

  it('closes every socket of the ended session and only those', async () => {
    await redis.set(ALICE, SESSION);
    await redis.set(BOB, SESSION);
    await start();
    const alice1 = await mustOpen(`${proxy.url}/app/a`, { cookie: authCookie(ALICE) });
    const alice2 = await mustOpen(`${proxy.url}/app/b`, { cookie: authCookie(ALICE) });
    const bob = await mustOpen(`${proxy.url}/app/c`, { cookie: authCookie(BOB) });
    const closed = Promise.all([closeOf(alice1), closeOf(alice2)]);
    await redis.del(ALICE);
    assert.deepEqual(
      (await closed).map((c) => c.code),
      [4401, 4401],
    );
    // Bob's socket went through the same rechecks.
    bob.send('bob');
    assert.equal((await nextMessage(bob)).data.toString(), 'bob');
    bob.close();
  });

  it('closes with 1013 when the store cannot be asked (fail closed, come back later)', async () => {
    await redis.set(ALICE, SESSION);
    await start();
    const ws = await mustOpen(`${proxy.url}/app/live`, { cookie: authCookie(ALICE) });
    const closed = closeOf(ws);
    redis.disconnect();
    await redisServer.stop();
    try {
      assert.equal((await closed).code, 1013);
      await logger.waitFor(/WebSocket closed 1013 ERR_STORE_UNAVAILABLE/);
    } finally {
      await redisServer.start();
      redis = new Redis(redisServer.url);
    }
  });
});

describe('the close frame goes between two backend frames', () => {
  it('passes the frame in progress on whole, then closes', async () => {
    const payload = Buffer.alloc(65_536);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    let sendRest: () => void = () => undefined;
    const raw = createServer();
    raw.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${acceptKey(req.headers['sec-websocket-key'] ?? '')}\r\n\r\n`,
      );
      // One binary frame, 64-bit length form, of which only the first half is sent for now.
      const header = Buffer.from([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
      socket.write(Buffer.concat([header, payload.subarray(0, 32_768)]));
      sendRest = () => socket.write(payload.subarray(32_768));
      socket.on('error', () => undefined);
      // Server sockets allow half-open connections: answer the proxy's end with ours.
      socket.on('end', () => socket.end());
    });
    const rawUrl = await listen(raw);
    try {
      const store = new MemorySessionStore();
      await store.set(ALICE, { credentials: CREDENTIALS });
      await start({ target: rawUrl, redis: store, wsRecheckInterval: 600_000 });
      const client = await rawClient(proxy.url, '/app/live', authCookie(ALICE));
      // The client holds the 101 and half of the frame: the proxy is in the middle of it.
      await client.received(10 + 32_768);
      await store.delete(ALICE);
      await logger.waitFor(/WebSocket closed 4401/);
      sendRest();
      const stream = await client.closed;
      assert.equal(stream.length, 10 + 65_536 + 4 + 'session ended'.length);
      assert.ok(stream.subarray(10, 10 + 65_536).equals(payload), 'the frame arrived whole');
      const close = stream.subarray(10 + 65_536);
      assert.equal(close[0], 0x88);
      assert.equal(close.readUInt16BE(2), 4401);
    } finally {
      await close(raw);
    }
  });
});

describe('shutdown', () => {
  it('close() lets in-flight HTTP requests finish, then closes WebSockets with 1001', async () => {
    await redis.set(ALICE, SESSION);
    let release: () => void = () => undefined;
    let arrived: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    await backend.close();
    backend = await startWsBackend(undefined, {
      onRequest: (_req: IncomingMessage, res: ServerResponse) => {
        release = () => res.end('done');
        arrived();
      },
    });
    await start({ target: backend.url });
    const ws = await mustOpen(`${proxy.url}/app/live`, { cookie: authCookie(ALICE) });
    const reply = request(`${proxy.url}/app/slow`, { headers: { cookie: authCookie(ALICE) } });
    await held;
    const mount = proxy.proxies[0];
    assert.ok(mount !== undefined);
    const closing = mount.close();
    // The HTTP request is in flight: the WebSocket stays open meanwhile.
    ws.send('during shutdown');
    assert.equal((await nextMessage(ws)).data.toString(), 'during shutdown');
    const closed = closeOf(ws);
    release();
    assert.equal((await reply).status, 200);
    assert.deepEqual(await closed, { code: 1001, reason: 'server shutting down' });
    await closing;
    assert.equal(mount.webSockets, 0);
  });
});

function acceptKey(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

interface RawClient {
  /** Resolves once `bytes` bytes have arrived after the 101 response head. */
  received(bytes: number): Promise<void>;
  /** Everything received after the response head, once the connection has closed. */
  closed: Promise<Buffer>;
}

/** A WebSocket client on a bare TCP socket, to see the very bytes the proxy sends. */
async function rawClient(url: string, path: string, cookie: string): Promise<RawClient> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
      `Cookie: ${cookie}\r\n\r\n`,
  );
  let data = Buffer.alloc(0);
  let waiting: { bytes: number; resolve: () => void } | undefined;
  const afterHead = (): Buffer => {
    const end = data.indexOf('\r\n\r\n');
    return end < 0 ? Buffer.alloc(0) : data.subarray(end + 4);
  };
  socket.on('data', (chunk: Buffer) => {
    data = Buffer.concat([data, chunk]);
    if (waiting !== undefined && afterHead().length >= waiting.bytes) waiting.resolve();
  });
  const closed = once(socket, 'close').then(() => {
    assert.match(data.toString('latin1'), /^HTTP\/1\.1 101 /);
    return afterHead();
  });
  return {
    received: (bytes) =>
      new Promise((resolve) => {
        if (afterHead().length >= bytes) resolve();
        else waiting = { bytes, resolve };
      }),
    closed,
  };
}
