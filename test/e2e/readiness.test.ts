import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import express from 'express';
import { authProxy, MemorySessionStore, readiness } from '../../lib/index.js';
import type { AuthProxy, Session, SessionStore } from '../../lib/index.js';
import { close, listen, request } from '../helpers/http.js';
import { useRedisServer } from '../helpers/fixtures.js';
import { JWT_KEY } from '../helpers/tokens.js';

const TIMEOUT = 300;
// Generous: the promise is "answers 503 instead of hanging", the margin absorbs a loaded machine.
const BOUND = TIMEOUT + 1500;

/** A store whose calls never settle. */
class SilentStore implements SessionStore {
  get(): Promise<Session | undefined> {
    return new Promise<Session | undefined>(() => undefined);
  }
  set(): Promise<void> {
    return Promise.resolve();
  }
  delete(): Promise<void> {
    return Promise.resolve();
  }
}

const redisServer = useRedisServer();
const proxies: AuthProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

function open(redis: string | SessionStore, storeTimeout = TIMEOUT): AuthProxy {
  const proxy = authProxy({ target: 'http://127.0.0.1:1', jwtKey: JWT_KEY, redis, storeTimeout });
  proxies.push(proxy);
  return proxy;
}

async function probe(handler: express.RequestHandler): Promise<{ status: number; body: string }> {
  const app = express();
  app.get('/readyz', handler);
  const server = createServer(app);
  const url = await listen(server);
  try {
    return await request(`${url}/readyz`);
  } finally {
    await close(server);
  }
}

describe('readiness', () => {
  it('answers 200 while Redis answers, 503 within the store timeout while it is down', async () => {
    const proxy = open(redisServer.url);
    await proxy.ready();
    const ready = await probe(readiness(proxy));
    assert.equal(ready.status, 200);
    assert.equal(ready.body, 'ready\n');

    await redisServer.stop();
    try {
      const started = performance.now();
      await assert.rejects(proxy.ready(), { code: 'ERR_STORE_UNAVAILABLE' });
      const down = await probe(readiness(proxy));
      assert.equal(down.status, 503);
      assert.ok(performance.now() - started < 2 * BOUND, 'never hangs');
    } finally {
      await redisServer.start();
    }
  });

  it('gives up on a store that never answers at the store timeout', async () => {
    const proxy = open(new SilentStore());
    const started = performance.now();
    const reply = await probe(readiness(proxy));
    assert.equal(reply.status, 503);
    assert.ok(performance.now() - started < BOUND);
  });

  it('checks a plain SessionStore without ping by reading a sid, within its own timeout', async () => {
    const store = new MemorySessionStore();
    assert.equal((await probe(readiness(store))).status, 200);
    await assert.rejects(readiness(new SilentStore(), { timeout: TIMEOUT }).check(), {
      code: 'ERR_STORE_UNAVAILABLE',
    });
  });

  it('is not ready when one of several mounts is not', async () => {
    const good = open(new MemorySessionStore());
    const bad = open(new SilentStore());
    await readiness([good]).check();
    assert.equal((await probe(readiness([good, bad]))).status, 503);
  });

  it('refuses what is neither a proxy nor a store, and a bad timeout', () => {
    assert.throws(() => readiness({} as SessionStore), TypeError);
    assert.throws(() => readiness(new MemorySessionStore(), { timeout: 0 }), TypeError);
  });
});
