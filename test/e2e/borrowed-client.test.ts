import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { authProxy, RedisSessionStore } from '../../lib/index.js';
import { recordingLogger } from '../helpers/proxy-app.js';
import { useRedisServer } from '../helpers/fixtures.js';
import { JWT_KEY } from '../helpers/tokens.js';

const redisServer = useRedisServer();
let client: Redis | undefined;
afterEach(() => {
  client?.disconnect();
  client = undefined;
});

const EVENTS = ['error', 'ready', 'reconnecting', 'end', 'close'] as const;
const counts = (c: Redis): number[] => EVENTS.map((e) => c.listenerCount(e));

function nextEvents(c: Redis, event: string, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const on = (): void => {
      seen += 1;
      if (seen < n) return;
      c.off(event, on);
      resolve();
    };
    c.on(event, on);
  });
}

describe('borrowed ioredis client', () => {
  it('logs its outage once and its recovery once, leaving its error events to the owner', async () => {
    const ownerErrors: Error[] = [];
    client = new Redis(redisServer.url, { retryStrategy: () => 50 });
    client.on('error', (err: Error) => ownerErrors.push(err));
    await client.ping();
    const before = counts(client);
    const logger = recordingLogger();
    const store = new RedisSessionStore(client, { logger });
    // Only observers of the connection's state: no 'error' listener of our own.
    assert.equal(client.listenerCount('error'), 1);

    await redisServer.stop();
    await nextEvents(client, 'reconnecting', 3);
    const failed = logger.lines.filter((l) => l.includes('redis connection failed'));
    assert.equal(failed.length, 1, logger.lines.join('\n'));
    assert.ok(ownerErrors.length >= 2, 'the owner still receives every error');

    const ready = nextEvents(client, 'ready', 1);
    await redisServer.start();
    await ready;
    assert.equal(logger.lines.filter((l) => l.includes('redis connection restored')).length, 1);

    await store.close();
    assert.equal(client.status, 'ready', 'closing the store leaves the client open');
    assert.deepEqual(counts(client), before);
  });

  it('observes a client shared by fifty mounts with one set of listeners', async () => {
    client = new Redis(redisServer.url);
    client.on('error', () => undefined);
    const before = counts(client);
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    const logger = recordingLogger();
    try {
      const mounts = Array.from({ length: 50 }, () =>
        authProxy({
          target: 'http://127.0.0.1:9',
          jwtKey: JWT_KEY,
          redis: client as Redis,
          logger,
        }),
      );
      assert.deepEqual(
        counts(client),
        before.map((n, i) => n + (EVENTS[i] === 'error' || EVENTS[i] === 'close' ? 0 : 1)),
      );
      await Promise.all(mounts.map((m) => m.close()));
      assert.deepEqual(counts(client), before);
      assert.notEqual(client.status, 'end');
      // Warnings are emitted on a later tick.
      await new Promise(setImmediate);
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(
      warnings.map((w) => w.name),
      [],
    );
  });
});
