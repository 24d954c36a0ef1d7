import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisSessionStore } from '../../lib/index.js';
import { useBackend, useRedisServer } from '../helpers/fixtures.js';
import { request } from '../helpers/http.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';

const CREDENTIALS = Buffer.from('foo:bar').toString('base64');
const SESSION = JSON.stringify({ credentials: CREDENTIALS });

const redisServer = useRedisServer();
const backend = useBackend();
let proxy: ProxyApp | undefined;
const logger = recordingLogger();

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

async function seed(): Promise<void> {
  const client = new Redis(redisServer.url);
  try {
    await client.set('sid', SESSION);
  } finally {
    client.disconnect();
  }
}

function storeClient(): Redis {
  const store = proxy?.proxies[0]?.store;
  assert.ok(store instanceof RedisSessionStore);
  return store.client as Redis;
}

describe('Redis availability', () => {
  it('answers the first request after start-up while the client is still connecting', async () => {
    await seed();
    proxy = await startProxyApp({
      '/': { target: backend.url, jwtKey: JWT_KEY, redis: redisServer.url, logger },
    });
    assert.notEqual(storeClient().status, 'ready');
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 200);
  });

  it('answers 503 with Retry-After within the command timeout, then recovers by itself', async () => {
    await seed();
    proxy = await startProxyApp({
      '/': { target: backend.url, jwtKey: JWT_KEY, redis: redisServer.url, logger },
    });
    const cookie = authCookie('sid');
    assert.equal((await request(`${proxy.url}/x`, { headers: { cookie } })).status, 200);
    const client = storeClient();
    const seenBefore = backend.seen.length;

    // Not events.once: it rejects on the 'error' events a reconnecting client emits.
    const closed = new Promise((resolve) => client.once('close', resolve));
    await redisServer.stop();
    await closed;
    const started = Date.now();
    const down = await request(`${proxy.url}/x`, { headers: { cookie } });
    const elapsed = Date.now() - started;
    assert.equal(down.status, 503);
    assert.equal(down.headers['retry-after'], '5');
    assert.match(down.body, /ERR_STORE_UNAVAILABLE/);
    assert.ok(elapsed < 2500, `503 took ${elapsed} ms`);
    assert.equal(backend.seen.length, seenBefore);
    assert.ok(logger.lines.some((line) => line.includes('redis connection failed')));

    const ready = new Promise((resolve) => client.once('ready', resolve));
    await redisServer.start();
    await ready;
    await seed(); // the restarted server has no persistence
    const back = await request(`${proxy.url}/x`, { headers: { cookie } });
    assert.equal(back.status, 200);
  });

  it('answers 503 when Redis is slower than redisCommandTimeout', async () => {
    await seed();
    proxy = await startProxyApp({
      '/': {
        target: backend.url,
        jwtKey: JWT_KEY,
        redis: redisServer.url,
        redisCommandTimeout: 200,
        logger,
      },
    });
    const cookie = authCookie('sid');
    // Connected first: on a loaded machine, connecting alone can take longer than 200 ms.
    const client = storeClient();
    if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    const pauser = new Redis(redisServer.url);
    try {
      await pauser.call('CLIENT', 'PAUSE', '1000', 'ALL');
      const started = Date.now();
      const slow = await request(`${proxy.url}/x`, { headers: { cookie } });
      assert.equal(slow.status, 503);
      assert.ok(Date.now() - started < 900);
    } finally {
      pauser.disconnect();
    }
  });
});
