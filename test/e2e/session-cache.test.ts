import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SessionCache } from '../../lib/index.js';
import type { AuthProxyOptions } from '../../lib/index.js';
import { useBackend, useRedisServer } from '../helpers/fixtures.js';
import type { Seen } from '../helpers/backend.js';
import { request } from '../helpers/http.js';
import type { Reply } from '../helpers/http.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { startRelay } from '../helpers/tcp-relay.js';
import type { Relay } from '../helpers/tcp-relay.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';

const ALICE = Buffer.from('alice:wonderland').toString('base64');
const BOB = Buffer.from('bob:builder').toString('base64');

// A probe lost to a stalled event loop flushes the cache (safe, but a test counting GETs would see
// one more): the interval leaves room for a loaded CI machine and still detects a stall in 1 s.
const PING_INTERVAL = 500;

const redisServer = useRedisServer();
const backend = useBackend();
let raw: Redis;
let logger: ReturnType<typeof recordingLogger>;
const closing: { close(): Promise<void> }[] = [];

beforeEach(async () => {
  raw = rawClient();
  await raw.flushall();
  logger = recordingLogger();
});
afterEach(async () => {
  for (const item of closing.splice(0).reverse()) await item.close();
  raw.disconnect();
});

// Plain commands from "another language": no tracking, and quiet while Redis is down.
function rawClient(): Redis {
  const client = new Redis(redisServer.url);
  client.on('error', () => undefined);
  return client;
}

function session(credentials = ALICE): string {
  return JSON.stringify({ credentials });
}

interface Instance {
  url: string;
  cache: SessionCache;
  app: ProxyApp;
}

/** One proxy process's worth: an Express app with authProxy and its session cache, tracking. */
async function startInstance(extra: Partial<AuthProxyOptions> = {}): Promise<Instance> {
  const app: ProxyApp = await startProxyApp({
    '/': {
      target: backend.url,
      jwtKey: JWT_KEY,
      redis: redisServer.url,
      sessionCache: { pingInterval: PING_INTERVAL },
      logger,
      ...extra,
    },
  });
  closing.push(app);
  const cache = app.proxies[0]?.store;
  assert.ok(cache instanceof SessionCache);
  await untilTracking(cache, true);
  return { url: app.url, cache, app };
}

function openCache(redis: string, options: ConstructorParameters<typeof SessionCache>[1] = {}) {
  const cache = new SessionCache(redis, { pingInterval: PING_INTERVAL, logger, ...options });
  closing.push(cache);
  return cache;
}

function fetchAs(url: string, sid: string): Promise<Reply> {
  return request(`${url}/inbox`, { headers: { cookie: authCookie(sid) } });
}

function authorizationOf(reply: Reply): string | undefined {
  assert.equal(reply.status, 200, reply.body);
  const seen = JSON.parse(reply.body) as Seen;
  return seen.headers.authorization;
}

/** GET commands Redis has run so far: what a cache hit must not add to. */
async function getCalls(): Promise<number> {
  const info = await raw.info('commandstats');
  return Number(/cmdstat_get:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

/** Resolves on the cache's next invalidation event for `sid` (`undefined`: everything). */
function nextEvent(cache: SessionCache, sid: string | undefined): Promise<void> {
  return new Promise((resolve) => {
    const off = cache.onInvalidate((changed) => {
      if (changed !== sid) return;
      off();
      resolve();
    });
  });
}

function untilTracking(cache: SessionCache, expected: boolean): Promise<void> {
  if (cache.tracking === expected) return Promise.resolve();
  return new Promise((resolve) => {
    const off = cache.onInvalidate(() => {
      if (cache.tracking !== expected) return;
      off();
      resolve();
    });
  });
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setImmediate(resolve));
}

async function clientId(nameSuffix: string): Promise<string> {
  const list = String(await raw.client('LIST'));
  const line = list.split('\n').find((l: string) => new RegExp(`name=\\S*${nameSuffix} `).test(l));
  const id = /^id=(\d+)/.exec(line ?? '')?.[1];
  assert.ok(id !== undefined, `no connection named *${nameSuffix}`);
  return id;
}

async function withRelay(): Promise<Relay> {
  const relay = await startRelay(redisServer.port);
  closing.push(relay);
  return relay;
}

describe('session cache: two proxy instances on one Redis', () => {
  async function warmBoth(sid: string): Promise<Instance[]> {
    await raw.set(sid, session());
    const instances = [await startInstance(), await startInstance()];
    for (const { url } of instances)
      assert.equal(authorizationOf(await fetchAs(url, sid)), `Basic ${ALICE}`);
    return instances;
  }

  /** Runs a raw command and waits until every cache heard of it. */
  async function revoke(
    instances: Instance[],
    sid: string | undefined,
    command: () => Promise<unknown>,
  ): Promise<void> {
    // Pushed by Redis, not aged out: ttlSeconds (300 s) is far beyond the test's timeout.
    const heard = Promise.all(instances.map(({ cache }) => nextEvent(cache, sid)));
    await command();
    await heard;
  }

  it('answers repeat requests without reading Redis', async () => {
    const instances = await warmBoth('s1');
    const calls = await getCalls();
    for (const { url } of instances) {
      assert.equal(authorizationOf(await fetchAs(url, 's1')), `Basic ${ALICE}`);
      assert.equal(authorizationOf(await fetchAs(url, 's1')), `Basic ${ALICE}`);
    }
    assert.equal(await getCalls(), calls);
  });

  it('DEL by another client revokes the session in both at once', async () => {
    const instances = await warmBoth('s1');
    await revoke(instances, 's1', () => raw.del('s1'));
    for (const { url } of instances) assert.equal((await fetchAs(url, 's1')).status, 401);
  });

  it('SET by another client replaces the credentials in both', async () => {
    const instances = await warmBoth('s1');
    await revoke(instances, 's1', () => raw.set('s1', session(BOB)));
    for (const { url } of instances) {
      assert.equal(authorizationOf(await fetchAs(url, 's1')), `Basic ${BOB}`);
    }
  });

  it('EXPIRE is a change, and the expiry itself revokes', async () => {
    const instances = await warmBoth('s1');
    await revoke(instances, 's1', () => raw.pexpire('s1', 150));
    const calls = await getCalls();
    for (const { url } of instances)
      assert.equal(authorizationOf(await fetchAs(url, 's1')), `Basic ${ALICE}`);
    assert.equal(await getCalls(), calls + 2);
    // Redis's expiry cycle deletes the key and tells every reader.
    await Promise.all(instances.map(({ cache }) => nextEvent(cache, 's1')));
    for (const { url } of instances) assert.equal((await fetchAs(url, 's1')).status, 401);
  });

  for (const flush of ['FLUSHDB', 'FLUSHALL'] as const) {
    it(`${flush} empties both caches`, async () => {
      const instances = await warmBoth('s1');
      await revoke(instances, undefined, () =>
        flush === 'FLUSHDB' ? raw.flushdb() : raw.flushall(),
      );
      for (const { url, cache } of instances) {
        assert.equal(cache.size, 0);
        assert.equal((await fetchAs(url, 's1')).status, 401);
      }
    });
  }

  it('caches a missing session too, until it is created', async () => {
    const [instance] = await warmBoth('other');
    assert.ok(instance !== undefined);
    assert.equal((await fetchAs(instance.url, 's2')).status, 401);
    const calls = await getCalls();
    assert.equal((await fetchAs(instance.url, 's2')).status, 401);
    assert.equal(await getCalls(), calls);
    await revoke([instance], 's2', () => raw.set('s2', session(BOB)));
    assert.equal(authorizationOf(await fetchAs(instance.url, 's2')), `Basic ${BOB}`);
  });

  it('answers 500 for a key of another Redis type, as without the cache', async () => {
    await raw.rpush('w1', 'not a session');
    const { url } = await startInstance();
    const reply = await fetchAs(url, 'w1');
    assert.equal(reply.status, 500);
    assert.match(reply.body, /ERR_SESSION_MALFORMED/);
  });

  it('respects keyPrefix, and the db and keyPrefix of a borrowed client it never tracks', async () => {
    const borrowed = new Redis(`redis://127.0.0.1:${redisServer.port}/3`, { keyPrefix: 'app:' });
    const db3 = new Redis(`redis://127.0.0.1:${redisServer.port}/3`);
    closing.push({ close: () => borrowed.quit().then(() => undefined) });
    closing.push({ close: () => db3.quit().then(() => undefined) });
    await db3.set('app:session:b1', session());
    const instance = await startInstance({ redis: borrowed, keyPrefix: 'session:' });
    assert.equal(authorizationOf(await fetchAs(instance.url, 'b1')), `Basic ${ALICE}`);
    await revoke([instance], 'b1', () => db3.del('app:session:b1'));
    assert.equal((await fetchAs(instance.url, 'b1')).status, 401);
    assert.equal(await borrowed.call('CLIENT', 'GETREDIR'), -1);
    await closing.splice(closing.indexOf(instance.app), 1)[0]?.close();
    assert.equal(await borrowed.ping(), 'PONG'); // closing the proxy left the borrowed client alone
  });

  it('can be one SessionCache shared by several mounts, left open by their close()', async () => {
    await raw.set('m1', session());
    const cache = openCache(redisServer.url);
    const common = { jwtKey: JWT_KEY, redis: cache, logger };
    const app = await startProxyApp({
      '/mail': { target: backend.url, ...common },
      '/dav': { target: backend.url, ...common },
    });
    await untilTracking(cache, true);
    const cookie = authCookie('m1');
    for (const path of ['/mail/a', '/dav/b']) {
      assert.equal((await request(`${app.url}${path}`, { headers: { cookie } })).status, 200);
    }
    assert.equal(cache.size, 1);
    await app.close();
    assert.ok(cache.tracking);
  });

  it('decodes the credentials once per cached session', async () => {
    let decoded = 0;
    const decodeCredentials = (stored: string): string => {
      decoded += 1;
      return stored;
    };
    await raw.set('s1', session());
    const { url, cache, app } = await startInstance({ decodeCredentials });
    for (let i = 0; i < 3; i += 1)
      assert.equal(authorizationOf(await fetchAs(url, 's1')), `Basic ${ALICE}`);
    assert.equal(decoded, 1);
    await revoke([{ url, cache, app }], 's1', () => raw.set('s1', session(BOB)));
    assert.equal(authorizationOf(await fetchAs(url, 's1')), `Basic ${BOB}`);
    assert.equal(decoded, 2);
  });
});

describe('session cache: fail safe, never stale', () => {
  it('flushes when the data connection is killed, and tracks again on the new one', async () => {
    await raw.set('k1', session());
    const { url, cache } = await startInstance();
    authorizationOf(await fetchAs(url, 'k1'));
    assert.equal(cache.size, 1);

    const lost = untilTracking(cache, false);
    await raw.client('KILL', 'ID', await clientId(':session-cache'));
    await lost;
    assert.equal(cache.size, 0);
    // Redis dropped the killed connection's tracking: no invalidation will come for this DEL.
    await raw.del('k1');
    await untilTracking(cache, true);
    assert.equal((await fetchAs(url, 'k1')).status, 401);

    await raw.set('k2', session());
    authorizationOf(await fetchAs(url, 'k2'));
    const heard = nextEvent(cache, 'k2');
    await raw.del('k2');
    await heard;
    assert.equal((await fetchAs(url, 'k2')).status, 401);
  });

  const subscriberKills: [string, () => Promise<string[]>][] = [
    ['CLIENT KILL TYPE pubsub', () => Promise.resolve(['TYPE', 'pubsub'])],
    ['CLIENT KILL ID', async () => ['ID', await clientId(':invalidations')]],
  ];
  for (const [name, args] of subscriberKills) {
    it(`flushes on ${name} of the invalidation connection, then redirects to the new one`, async () => {
      await raw.set('k1', session());
      const { url, cache } = await startInstance();
      authorizationOf(await fetchAs(url, 'k1'));

      const lost = untilTracking(cache, false);
      await raw.call('CLIENT', 'KILL', ...(await args()));
      await lost;
      assert.equal(cache.size, 0);
      await raw.del('k1');
      await untilTracking(cache, true);
      assert.equal((await fetchAs(url, 'k1')).status, 401);

      await raw.set('k1', session(BOB));
      assert.equal(authorizationOf(await fetchAs(url, 'k1')), `Basic ${BOB}`);
      const heard = nextEvent(cache, 'k1');
      await raw.del('k1');
      await heard;
      assert.equal((await fetchAs(url, 'k1')).status, 401);
    });
  }

  it('stops serving when the invalidation connection stalls, and recovers on a fresh one', async () => {
    const relay = await withRelay();
    await raw.set('k1', session());
    const { url, cache } = await startInstance({ redis: `redis://127.0.0.1:${relay.port}/0` });
    authorizationOf(await fetchAs(url, 'k1'));

    const lost = untilTracking(cache, false);
    const release = relay.hold(':invalidations');
    await raw.del('k1'); // its invalidation is stuck in the stalled connection
    await lost;
    release();
    assert.equal(cache.size, 0);
    assert.equal((await fetchAs(url, 'k1')).status, 401);
    assert.ok(
      logger.lines.some((line) => /session cache off .*probe/.test(line)),
      logger.lines.join('\n'),
    );

    await untilTracking(cache, true);
    // A sid never read before: no invalidation of an earlier read can arrive late and drop it.
    await raw.set('k2', session(BOB));
    assert.equal(authorizationOf(await fetchAs(url, 'k2')), `Basic ${BOB}`);
    const calls = await getCalls();
    assert.equal(authorizationOf(await fetchAs(url, 'k2')), `Basic ${BOB}`);
    assert.equal(await getCalls(), calls);
  });

  it('does not keep a reply that its invalidation overtook', async () => {
    const relay = await withRelay();
    // A long interval keeps the periodic probe out of this test: the data connection is held.
    const cache = openCache(`redis://127.0.0.1:${relay.port}/0`, { pingInterval: 60_000 });
    await untilTracking(cache, true);
    await raw.set('r1', session());
    const calls = await getCalls();

    const release = relay.hold(':session-cache');
    const answer = cache.get('r1');
    await until(async () => (await getCalls()) > calls); // Redis ran the GET: the key is tracked
    const heard = nextEvent(cache, 'r1');
    await raw.set('r1', session(BOB));
    await heard;
    release();

    assert.deepEqual(await answer, { credentials: ALICE }); // what Redis read for this request
    assert.equal(cache.size, 0);
    assert.deepEqual(await cache.get('r1'), { credentials: BOB });
    assert.equal(cache.size, 1);
  });

  it('never serves an entry past the TTL Redis reported, nor past ttlSeconds', async () => {
    let now = 1_000_000;
    const cache = openCache(redisServer.url, { ttlSeconds: 120, now: () => now });
    await untilTracking(cache, true);
    await raw.set('t1', session(), 'PX', 60_000);
    await raw.set('t2', session());
    await cache.get('t1');
    await cache.get('t2');
    const calls = await getCalls();
    now += 59_000;
    await cache.get('t1');
    await cache.get('t2');
    assert.equal(await getCalls(), calls);
    // Redis would delete t1 itself now, but its expiry is lazy and may come late.
    now += 1_001;
    await cache.get('t1');
    assert.equal(await getCalls(), calls + 1);
    now += 60_000;
    await cache.get('t2');
    assert.equal(await getCalls(), calls + 2);
  });

  it('sends one GET for concurrent misses of a sid', async () => {
    const cache = openCache(redisServer.url);
    await untilTracking(cache, true);
    await raw.set('f1', session());
    const calls = await getCalls();
    const answers = await Promise.all(Array.from({ length: 20 }, () => cache.get('f1')));
    assert.equal(await getCalls(), calls + 1);
    for (const answer of answers) assert.deepEqual(answer, { credentials: ALICE });
  });

  it('evicts by entries and by bytes', async () => {
    const byCount = openCache(redisServer.url, { max: 2 });
    const bySize = openCache(redisServer.url, { maxBytes: 3000 });
    await untilTracking(byCount, true);
    await untilTracking(bySize, true);
    const large = 'x'.repeat(1000);
    for (const sid of ['e1', 'e2', 'e3']) {
      await raw.set(sid, session(large));
      await byCount.get(sid);
      await bySize.get(sid);
    }
    assert.equal(byCount.size, 2);
    assert.equal(bySize.size, 1);
    const calls = await getCalls();
    await byCount.get('e3');
    assert.equal(await getCalls(), calls);
    await byCount.get('e1');
    assert.equal(await getCalls(), calls + 1);
  });

  it('tells listeners, survives a throwing one, and stops after unsubscribe', async () => {
    const cache = openCache(redisServer.url);
    await untilTracking(cache, true);
    await raw.set('l1', session());
    await cache.get('l1');
    const heard: (string | undefined)[] = [];
    cache.onInvalidate(() => {
      throw new Error('listener bug');
    });
    const off = cache.onInvalidate((sid) => heard.push(sid));
    const first = nextEvent(cache, 'l1');
    await raw.del('l1');
    await first;
    assert.deepEqual(heard, ['l1']);
    assert.ok(logger.lines.some((line) => line.includes('onInvalidate listener threw')));
    off();
    await cache.get('l1');
    const second = nextEvent(cache, 'l1');
    await raw.set('l1', session());
    await second;
    assert.deepEqual(heard, ['l1']);
  });

  it('answers 503 while Redis is down, as without the cache, and resumes caching after', async () => {
    await raw.set('d1', session());
    const { url, cache } = await startInstance();
    authorizationOf(await fetchAs(url, 'd1'));

    const lost = untilTracking(cache, false);
    await redisServer.stop();
    await lost;
    assert.equal(cache.size, 0);
    const down = await fetchAs(url, 'd1');
    assert.equal(down.status, 503);
    assert.match(down.body, /ERR_STORE_UNAVAILABLE/);

    const back = untilTracking(cache, true);
    await redisServer.start();
    await back;
    raw.disconnect();
    raw = rawClient();
    await raw.set('d1', session(BOB)); // the restarted server kept nothing
    assert.equal(authorizationOf(await fetchAs(url, 'd1')), `Basic ${BOB}`);
    const calls = await getCalls();
    assert.equal(authorizationOf(await fetchAs(url, 'd1')), `Basic ${BOB}`);
    assert.equal(await getCalls(), calls);
  });
});
