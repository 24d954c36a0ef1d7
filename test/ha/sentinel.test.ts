import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createSession, destroySession, RedisSessionStore, SessionCache } from '../../lib/index.js';
import { startBackend } from '../helpers/backend.js';
import type { Backend } from '../helpers/backend.js';
import { expectCliServes } from '../helpers/cli-process.js';
import { request } from '../helpers/http.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import { startSentinelGroup, waitFor } from '../helpers/redis-ha.js';
import type { SentinelHarness } from '../helpers/redis-ha.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';
import { bounded, checkOutage, steadyTraffic } from '../helpers/traffic.js';

const STORE_TIMEOUT = 500;
const SESSION = JSON.stringify({ credentials: Buffer.from('foo:bar').toString('base64') });

let group: SentinelHarness;
let backend: Backend;

before(async () => {
  [group, backend] = await Promise.all([startSentinelGroup(), startBackend()]);
});
after(async () => {
  await backend.close();
  await group.close();
});

describe('Redis Sentinel', () => {
  it('serves sessions through { sentinels, name }, the proxy owning its client', async () => {
    const topology = { sentinels: group.sentinels, name: group.name };
    const store = new RedisSessionStore(topology, { keyPrefix: 's:' });
    const mount = { target: backend.url, jwtKey: JWT_KEY, redis: topology, keyPrefix: 's:' };
    const proxy = await startProxyApp({
      '/plain': mount,
      '/cached': { ...mount, sessionCache: true },
    });
    try {
      const session = await createSession(
        store,
        { sub: 'alice', username: 'alice', password: 'wonderland' },
        { jwtKey: JWT_KEY, ttlSeconds: 60 },
      );
      const cookie = `Authorization=${session.cookieValue}`;
      const cache = proxy.proxies[1]?.store;
      assert.ok(cache instanceof SessionCache);
      await waitFor('the cache to track the master', () => Promise.resolve(cache.tracking));
      for (const path of ['/plain/x', '/cached/x', '/cached/x']) {
        const reply = await request(`${proxy.url}${path}`, { headers: { cookie } });
        assert.equal(reply.status, 200);
        const seen = JSON.parse(reply.body) as { headers: Record<string, string> };
        assert.equal(seen.headers.authorization, `Basic ${btoa('alice:wonderland')}`);
      }
      const invalidated = new Promise<void>((resolve) => {
        const off = cache.onInvalidate(() => {
          off();
          resolve();
        });
      });
      await destroySession(store, session.sid);
      await bounded(invalidated, 10_000, 'the cache to hear of the deletion');
      for (const path of ['/plain/x', '/cached/x']) {
        assert.equal((await request(`${proxy.url}${path}`, { headers: { cookie } })).status, 401);
      }
    } finally {
      await proxy.close();
      await store.close();
    }
  });

  it('runs the CLI with --redis-sentinel, --redis-master-name and --session-cache on', async () => {
    await group.seed('cli-sid', SESSION);
    const nodes = group.sentinels.map(({ host, port }) => `${host}:${port}`).join(',');
    await expectCliServes(
      [
        '--target',
        backend.url,
        '--redis-sentinel',
        nodes,
        '--redis-master-name',
        group.name,
        '--session-cache',
        'on',
      ],
      'cli-sid',
    );
  });

  it('says so when a redis:// URL names a sentinel', async () => {
    const logger = recordingLogger();
    const sentinel = group.sentinels[0];
    assert.ok(sentinel !== undefined);
    const url = `redis://${sentinel.host}:${String(sentinel.port)}`;
    const proxy = await startProxyApp({
      '/': { target: backend.url, jwtKey: JWT_KEY, redis: url, logger },
    });
    try {
      await waitFor('the misdirection to be logged', () =>
        Promise.resolve(logger.lines.some((l) => l.includes('names a Sentinel'))),
      );
      const line = logger.lines.find((l) => l.includes('names a Sentinel')) ?? '';
      assert.match(line, /--redis-sentinel/);
      const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
      assert.equal(reply.status, 503);
      const store = proxy.proxies[0]?.store;
      assert.ok(store instanceof RedisSessionStore);
      await assert.rejects(store.ping(), { code: 'ERR_STORE_UNAVAILABLE' });
    } finally {
      await proxy.close();
    }
  });

  it('rides out a failover under steady traffic: only 200 and 503, none slow, back by itself', async (t) => {
    await group.seed('sid', SESSION);
    // A client the application owns, with ioredis's defaults, beside the proxy's own.
    const borrowed = new Redis({ sentinels: group.sentinels, name: group.name });
    const ownerErrors: Error[] = [];
    borrowed.on('error', (err: Error) => ownerErrors.push(err));
    const logger = recordingLogger();
    const common = { target: backend.url, jwtKey: JWT_KEY, storeTimeout: STORE_TIMEOUT, logger };
    const proxy = await startProxyApp({
      '/owned': { ...common, redis: { sentinels: group.sentinels, name: group.name } },
      '/borrowed': { ...common, redis: borrowed },
    });
    const headers = { cookie: authCookie('sid', { expiresIn: 600 }) };
    const owned = steadyTraffic(`${proxy.url}/owned/x`, headers);
    const lent = steadyTraffic(`${proxy.url}/borrowed/x`, headers);
    try {
      await bounded(
        Promise.all([owned, lent].map((traffic) => traffic.until((s) => s.status === 200))),
        10_000,
        'traffic before the failover',
      );
      const { killedAt, announcedAt } = await bounded(group.failover(), 30_000, 'failover');
      const recovered = (traffic: typeof owned): Promise<unknown> =>
        traffic.until((s) => s.status === 200 && s.sentAt > announcedAt);
      await bounded(Promise.all([recovered(owned), recovered(lent)]), 30_000, 'recovery');
      await Promise.all([owned.stop(), lent.stop()]);

      t.diagnostic(
        `sentinels announced the new master ${ms(announcedAt - killedAt)} after the kill`,
      );
      for (const [name, traffic] of [
        ['proxy-owned client', owned],
        ['borrowed client (ioredis defaults)', lent],
      ] as const) {
        const outage = checkOutage(traffic.samples, killedAt, STORE_TIMEOUT);
        t.diagnostic(
          `${name}: first 200 ${ms(outage.recoveredAt - announcedAt)} after the announcement (${ms(outage.recoveredAt - killedAt)} after the kill); ${outage.unavailable} x 503, slowest answer ${ms(outage.slowest)}`,
        );
      }
      const lines = (text: string): number => logger.lines.filter((l) => l.includes(text)).length;
      assert.equal(lines('redis connection failed'), 2, logger.lines.join('\n'));
      assert.equal(lines('redis connection restored'), 2, logger.lines.join('\n'));
      assert.ok(ownerErrors.length > 0, "the borrowed client's errors still reach its owner");
    } finally {
      await Promise.all([owned.stop(), lent.stop()]);
      await proxy.close();
      borrowed.disconnect();
    }
  });
});

function ms(value: number): string {
  return `${(value / 1000).toFixed(2)} s`;
}
