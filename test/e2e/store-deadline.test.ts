import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { Session, SessionStore } from '../../lib/index.js';
import { useBackend, useRedisServer } from '../helpers/fixtures.js';
import { request } from '../helpers/http.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';

const SESSION = JSON.stringify({ credentials: Buffer.from('foo:bar').toString('base64') });
const TIMEOUT = 300;
// The promise is "never longer than the store timeout"; the margin absorbs a loaded
// machine, not a hang.
const BOUND = TIMEOUT + 1500;

const redisServer = useRedisServer();
const backend = useBackend();
let proxy: ProxyApp | undefined;
const borrowed: Redis[] = [];

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  for (const client of borrowed.splice(0)) client.disconnect();
});

/** A store whose lookups never settle, and that counts them. */
class SilentStore implements SessionStore {
  gets = 0;
  get(): Promise<Session | undefined> {
    this.gets += 1;
    return new Promise<Session | undefined>(() => undefined);
  }
  set(): Promise<void> {
    return Promise.resolve();
  }
  delete(): Promise<void> {
    return Promise.resolve();
  }
}

async function timed(url: string, cookie: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const reply = await request(url, { headers: { cookie } });
  assert.match(reply.body, reply.status === 503 ? /ERR_STORE_UNAVAILABLE/ : /./);
  return { status: reply.status, ms: performance.now() - started };
}

describe('store deadline', () => {
  it('answers 503 within storeTimeout when a custom store never answers', async () => {
    const store = new SilentStore();
    const logger = recordingLogger();
    proxy = await startProxyApp({
      '/': { target: backend.url, jwtKey: JWT_KEY, redis: store, storeTimeout: TIMEOUT, logger },
    });
    const replies = await Promise.all(
      [1, 2, 3].map(() => timed(`${proxy?.url ?? ''}/x`, authCookie('sid'))),
    );
    for (const { status, ms } of replies) {
      assert.equal(status, 503);
      assert.ok(ms < BOUND, `503 took ${ms.toFixed(0)} ms`);
    }
    assert.equal(store.gets, 3);
    assert.equal(backend.seen.length, 0);
    assert.ok(logger.lines.some((l) => l.includes(`did not answer within ${TIMEOUT} ms`)));
  });

  it('bounds a borrowed client without a command timeout whose server is paused', async () => {
    const client = new Redis(redisServer.url);
    borrowed.push(client);
    await client.set('sid', SESSION);
    proxy = await startProxyApp({
      '/': { target: backend.url, jwtKey: JWT_KEY, redis: client, redisCommandTimeout: TIMEOUT },
    });
    const cookie = authCookie('sid');
    assert.equal((await timed(`${proxy.url}/x`, cookie)).status, 200);
    const pauser = new Redis(redisServer.url);
    try {
      await pauser.call('CLIENT', 'PAUSE', String(TIMEOUT * 4), 'ALL');
      const slow = await timed(`${proxy.url}/x`, cookie);
      assert.equal(slow.status, 503);
      assert.ok(slow.ms < BOUND, `503 took ${slow.ms.toFixed(0)} ms`);
      await pauser.ping(); // answered once the pause is over
    } finally {
      pauser.disconnect();
    }
    assert.equal((await timed(`${proxy.url}/x`, cookie)).status, 200);
  });

  it('bounds every request while a borrowed client queues commands with no timer', async () => {
    // What an ioredis Cluster does with every node down: commands wait in the offline queue.
    const client = new Redis(redisServer.url, {
      maxRetriesPerRequest: null,
      retryStrategy: () => 100,
    });
    client.on('error', () => undefined);
    borrowed.push(client);
    await client.set('sid', SESSION);
    proxy = await startProxyApp({
      '/': { target: backend.url, jwtKey: JWT_KEY, redis: client, storeTimeout: TIMEOUT },
    });
    const cookie = authCookie('sid');
    // events.once would reject on the client's 'error' events: plain listeners instead.
    const closed = new Promise((resolve) => client.once('close', resolve));
    await redisServer.stop();
    await closed;
    for (let round = 0; round < 2; round += 1) {
      const replies = await Promise.all(
        [1, 2, 3].map(() => timed(`${proxy?.url ?? ''}/x`, cookie)),
      );
      for (const { status, ms } of replies) {
        assert.equal(status, 503);
        assert.ok(ms < BOUND, `503 took ${ms.toFixed(0)} ms`);
      }
    }
    const ready = new Promise((resolve) => client.once('ready', resolve));
    await redisServer.start();
    await ready;
    await client.set('sid', SESSION); // the restarted server has no persistence
    assert.equal((await timed(`${proxy.url}/x`, cookie)).status, 200);
  });
});
