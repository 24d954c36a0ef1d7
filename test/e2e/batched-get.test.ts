import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { AuthProxyError, RedisSessionStore } from '../../lib/index.js';
import { useRedisServer } from '../helpers/fixtures.js';
import { recordingLogger } from '../helpers/proxy-app.js';

const redisServer = useRedisServer();

const session = (n: number): string => JSON.stringify({ credentials: `dXNlcjpwYXNz${n}` });

/** Calls of each command Redis served since the last reset, from INFO commandstats. */
async function commandCalls(raw: Redis): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  for (const [, name, count] of (await raw.info('commandstats')).matchAll(
    /^cmdstat_(\w+):calls=(\d+)/gm,
  )) {
    if (name !== undefined) calls[name] = Number(count);
  }
  return calls;
}

async function withStore(
  test: (store: RedisSessionStore, raw: Redis) => Promise<void>,
  options: { keyPrefix?: string } = {},
): Promise<void> {
  const raw = new Redis(redisServer.url);
  const store = new RedisSessionStore(redisServer.url, options);
  try {
    await raw.flushdb();
    await store.ping();
    await test(store, raw);
  } finally {
    await store.close();
    raw.disconnect();
  }
}

const isCode = (code: string) => (err: unknown) =>
  err instanceof AuthProxyError && err.code === code;

describe('RedisSessionStore reads of one event-loop turn', () => {
  it('go to Redis as one MGET, each answered with its own session', async () => {
    await withStore(
      async (store, raw) => {
        for (let n = 0; n < 20; n++) await raw.set(`s:${n}`, session(n));
        await raw.config('RESETSTAT');
        const sids = [...Array.from({ length: 20 }, (_, n) => String(n)), '7', '7'];
        const sessions = await Promise.all(sids.map((sid) => store.get(sid)));
        assert.deepEqual(
          sessions.map((s) => s?.credentials),
          sids.map((sid) => `dXNlcjpwYXNz${sid}`),
        );
        const calls = await commandCalls(raw);
        assert.equal(calls.mget, 1);
        assert.equal(calls.get, undefined);
      },
      { keyPrefix: 's:' },
    );
  });

  it('keep their own outcome in a batch: missing, malformed, of another type, present', async () => {
    await withStore(async (store, raw) => {
      await raw.set('good', session(1));
      await raw.set('json', 'not json');
      await raw.rpush('list', 'a');
      await raw.config('RESETSTAT');
      const [missing, good, json, list, again] = await Promise.allSettled([
        store.get('missing'),
        store.get('good'),
        store.get('json'),
        store.get('list'),
        store.get('good'),
      ]);
      // One MGET, then its two nils (missing, list) again as GETs, pipelined.
      const calls = await commandCalls(raw);
      assert.deepEqual([calls.mget, calls.get], [1, 2]);
      assert.deepEqual(missing, { status: 'fulfilled', value: undefined });
      assert.deepEqual(good, { status: 'fulfilled', value: { credentials: 'dXNlcjpwYXNz1' } });
      assert.deepEqual(again, good);
      assert.equal(json.status, 'rejected');
      assert.ok(isCode('ERR_SESSION_MALFORMED')(json.reason));
      // MGET answers nil for a list: only the GET that follows each nil tells it from a missing key.
      assert.equal(list.status, 'rejected');
      assert.ok(isCode('ERR_SESSION_MALFORMED')(list.reason));
      assert.match((list.reason as Error).message, /another Redis type/);
    });
  });

  it('send a lone read as a plain GET', async () => {
    await withStore(async (store, raw) => {
      await raw.set('alone', session(2));
      await raw.config('RESETSTAT');
      assert.deepEqual(await store.get('alone'), { credentials: 'dXNlcjpwYXNz2' });
      const calls = await commandCalls(raw);
      assert.equal(calls.get, 1);
      assert.equal(calls.mget, undefined);
    });
  });

  it('split into commands of at most 256 keys', async () => {
    await withStore(async (store, raw) => {
      await raw.set('many', session(3));
      await raw.config('RESETSTAT');
      // 256 + 256 + 1: two MGETs and a lone GET; any other limit would count otherwise.
      const sessions = await Promise.all(Array.from({ length: 513 }, () => store.get('many')));
      assert.ok(sessions.every((s) => s?.credentials === 'dXNlcjpwYXNz3'));
      const calls = await commandCalls(raw);
      assert.deepEqual([calls.mget, calls.get], [2, 1]);
    });
  });

  it('never share a command that left before they were asked', async () => {
    await withStore(async (store, raw) => {
      await raw.set('revoked', session(4));
      await raw.config('RESETSTAT');
      const early = store.get('revoked');
      // The batch leaves in the first setImmediate after the turn; this one runs right after it,
      // while its GET is still on its way: a read asked now must not wait for that answer.
      await new Promise((resolve) => setImmediate(resolve));
      const late = store.get('revoked');
      await Promise.all([early, late]);
      assert.equal((await commandCalls(raw)).get, 2);
      // And a change made between two reads is seen by the second.
      await raw.del('revoked');
      assert.equal(await store.get('revoked'), undefined);
    });
  });

  it('use a borrowed client under its own keyPrefix, as its get() would', async () => {
    const raw = new Redis(redisServer.url);
    const client = new Redis(redisServer.url, { keyPrefix: 'app:' });
    const store = new RedisSessionStore(client, { keyPrefix: 'session:' });
    try {
      await raw.set('app:session:a', session(5));
      await raw.set('app:session:b', session(6));
      // Only a GET under the prefix finds this list (WRONGTYPE); unprefixed, it would find nothing.
      await raw.rpush('app:session:c', 'x');
      const [a, b, c, d] = await Promise.allSettled([
        store.get('a'),
        store.get('b'),
        store.get('c'),
        store.get('d'),
      ]);
      assert.deepEqual(a, { status: 'fulfilled', value: { credentials: 'dXNlcjpwYXNz5' } });
      assert.deepEqual(b, { status: 'fulfilled', value: { credentials: 'dXNlcjpwYXNz6' } });
      assert.ok(c.status === 'rejected' && isCode('ERR_SESSION_MALFORMED')(c.reason));
      assert.deepEqual(d, { status: 'fulfilled', value: undefined });
      assert.equal(await store.get('a').then((s) => s?.credentials), 'dXNlcjpwYXNz5');
    } finally {
      await store.close();
      client.disconnect();
      raw.disconnect();
    }
  });

  it('each fail as unavailable when the command cannot be sent', async () => {
    const client = new Redis(redisServer.url, { lazyConnect: true, enableOfflineQueue: false });
    // The owner's listener: without one ioredis reports the refused commands on stderr.
    client.on('error', () => undefined);
    const store = new RedisSessionStore(client);
    try {
      const reads = await Promise.allSettled([store.get('x'), store.get('y'), store.get('z')]);
      for (const read of reads) {
        assert.equal(read.status, 'rejected');
        assert.ok(isCode('ERR_STORE_UNAVAILABLE')(read.reason));
      }
      const [lone] = await Promise.allSettled([store.get('x')]);
      assert.ok(lone.status === 'rejected' && isCode('ERR_STORE_UNAVAILABLE')(lone.reason));
    } finally {
      await store.close();
      client.disconnect();
    }
  });

  it('go key by key, each with its own outcome, when an ACL refuses MGET', async () => {
    const raw = new Redis(redisServer.url);
    const logger = recordingLogger();
    const url = new URL(redisServer.url);
    url.username = 'no-mget';
    url.password = 'pw';
    const store = new RedisSessionStore(url.href, { logger });
    try {
      await raw.acl('SETUSER', 'no-mget', 'on', '>pw', '~*', '&*', '+@all', '-mget');
      await raw.set('acl-a', session(7));
      await raw.rpush('acl-list', 'a');
      for (let turn = 0; turn < 2; turn++) {
        await raw.config('RESETSTAT');
        const [a, missing, list] = await Promise.allSettled([
          store.get('acl-a'),
          store.get('acl-missing'),
          store.get('acl-list'),
        ]);
        assert.deepEqual(a, { status: 'fulfilled', value: { credentials: 'dXNlcjpwYXNz7' } });
        assert.deepEqual(missing, { status: 'fulfilled', value: undefined });
        assert.ok(list.status === 'rejected' && isCode('ERR_SESSION_MALFORMED')(list.reason));
        // Refused once, MGET is not tried again: the second turn goes straight to GETs.
        assert.equal((await commandCalls(raw)).mget, turn === 0 ? 0 : undefined);
      }
      const refusals = logger.lines.filter((line) => line.includes('Redis refuses MGET'));
      assert.deepEqual(refusals.length, 1, logger.lines.join('\n'));
      assert.match(refusals[0] ?? '', /NOPERM/);
    } finally {
      await store.close();
      await raw.acl('DELUSER', 'no-mget');
      raw.disconnect();
    }
  });
});
