import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { AuthProxyError, MemorySessionStore, RedisSessionStore } from '../../lib/index.js';
import type { SessionStore } from '../../lib/index.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisServer } from '../helpers/redis-server.js';

let redisServer: RedisServer;
before(async () => {
  redisServer = await startRedis();
});
after(async () => {
  await redisServer.stop();
});

interface Subject {
  store: SessionStore;
  /** Makes the session's TTL run out. */
  expire: (sid: string) => Promise<void>;
  close: () => Promise<void>;
}

const subjects: Record<string, () => Subject> = {
  MemorySessionStore: () => {
    let now = 1_000_000;
    const store = new MemorySessionStore({ now: () => now });
    return {
      store,
      expire: () => {
        now += 3_600_000;
        return Promise.resolve();
      },
      close: () => store.close(),
    };
  },
  RedisSessionStore: () => {
    const store = new RedisSessionStore(redisServer.url, { keyPrefix: 'test:' });
    return {
      store,
      // Redis keeps its own clock: an expiry time in the past is what a spent TTL looks like.
      expire: async (sid) => {
        await store.client.pexpireat(`test:${sid}`, 1);
      },
      close: () => store.close(),
    };
  },
};

for (const [name, make] of Object.entries(subjects)) {
  describe(`${name} contract`, () => {
    it('stores, reads and deletes a session', async () => {
      const { store, close } = make();
      try {
        assert.equal(await store.get('a'), undefined);
        await store.set('a', { credentials: 'Zm9vOmJhcg==' });
        assert.deepEqual(await store.get('a'), { credentials: 'Zm9vOmJhcg==' });
        await store.delete('a');
        assert.equal(await store.get('a'), undefined);
      } finally {
        await close();
      }
    });

    it('forgets a session once its TTL has passed', async () => {
      const { store, expire, close } = make();
      try {
        await store.set('b', { credentials: 'eA==' }, 3600);
        assert.deepEqual(await store.get('b'), { credentials: 'eA==' });
        await expire('b');
        assert.equal(await store.get('b'), undefined);
      } finally {
        await close();
      }
    });

    it('refuses a TTL that is not a positive integer', async () => {
      const { store, close } = make();
      try {
        for (const ttl of [0, -1, 1.5]) {
          await assert.rejects(store.set('c', { credentials: 'x' }, ttl), TypeError);
        }
      } finally {
        await close();
      }
    });
  });
}

describe('RedisSessionStore specifics', () => {
  it('writes the seed format under keyPrefix with a TTL', async () => {
    const store = new RedisSessionStore(redisServer.url, { keyPrefix: 'session:' });
    try {
      await store.set('sid', { credentials: 'Zm9vOmJhcg==' }, 60);
      assert.equal(await store.client.get('session:sid'), '{"credentials":"Zm9vOmJhcg=="}');
      const ttl = await store.client.ttl('session:sid');
      assert.ok(ttl > 0 && ttl <= 60);
    } finally {
      await store.close();
    }
  });

  it('reports malformed data as ERR_SESSION_MALFORMED', async () => {
    const store = new RedisSessionStore(redisServer.url);
    try {
      for (const raw of ['not json', '[]', 'null', '{"credentials": 5}']) {
        await store.client.set('bad', raw);
        await assert.rejects(
          store.get('bad'),
          (err) => err instanceof AuthProxyError && err.code === 'ERR_SESSION_MALFORMED',
        );
      }
    } finally {
      await store.close();
    }
  });

  it('leaves a borrowed client open on close', async () => {
    const client = new Redis(redisServer.url);
    try {
      await new RedisSessionStore(client).close();
      assert.equal(await client.ping(), 'PONG');
    } finally {
      client.disconnect();
    }
  });
});
