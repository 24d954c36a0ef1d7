import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { createSession, destroySession, RedisSessionStore } from '../../lib/index.js';
import type { RedisClusterConfig } from '../../lib/index.js';
import { startBackend } from '../helpers/backend.js';
import type { Backend } from '../helpers/backend.js';
import { expectCliServes } from '../helpers/cli-process.js';
import { request } from '../helpers/http.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import { startRedisCluster } from '../helpers/redis-ha.js';
import type { RedisClusterHarness } from '../helpers/redis-ha.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';
import { bounded, checkOutage, steadyTraffic } from '../helpers/traffic.js';

const STORE_TIMEOUT = 500;
const SESSION = JSON.stringify({ credentials: Buffer.from('foo:bar').toString('base64') });

let cluster: RedisClusterHarness;
let backend: Backend;
let topology: RedisClusterConfig;

before(async () => {
  [cluster, backend] = await Promise.all([startRedisCluster(), startBackend()]);
  topology = { cluster: cluster.nodes.slice(0, 2) };
});
after(async () => {
  await backend.close();
  await cluster.close();
});

async function issue(
  store: RedisSessionStore,
  user: string,
): Promise<{ cookie: string; sid: string }> {
  const session = await createSession(
    store,
    { sub: user, username: user, password: 'pw' },
    { jwtKey: JWT_KEY, ttlSeconds: 600 },
  );
  return { cookie: `Authorization=${session.cookieValue}`, sid: session.sid };
}

describe('Redis Cluster', () => {
  it('finds sessions on every master, with a keyPrefix, the proxy owning its client', async () => {
    const store = new RedisSessionStore(topology, { keyPrefix: 'session:' });
    const proxy = await startProxyApp({
      '/prefixed': { target: backend.url, jwtKey: JWT_KEY, redis: topology, keyPrefix: 'session:' },
      '/bare': { target: backend.url, jwtKey: JWT_KEY, redis: topology },
    });
    try {
      const sessions = await Promise.all(
        Array.from({ length: 30 }, (_, i) => issue(store, `user${String(i)}`)),
      );
      for (const [i, { cookie }] of sessions.entries()) {
        const reply = await request(`${proxy.url}/prefixed/x`, { headers: { cookie } });
        assert.equal(reply.status, 200);
        const seen = JSON.parse(reply.body) as { headers: Record<string, string> };
        assert.equal(seen.headers.authorization, `Basic ${btoa(`user${String(i)}:pw`)}`);
        // The prefix is part of the key, so the same sid without it is another (absent) key.
        const bare = await request(`${proxy.url}/bare/x`, { headers: { cookie } });
        assert.equal(bare.status, 401);
      }
      // Thirty random sids land on every master: the lookups above crossed every slot range.
      const masters = await cluster.masters();
      assert.equal(masters.length, 3);
      for (const master of masters) {
        const client = new Redis({ host: master.host, port: master.port, lazyConnect: true });
        try {
          await client.connect();
          const keys = await client.keys('session:*');
          assert.ok(keys.length > 0, `no session on ${String(master.port)}`);
        } finally {
          client.disconnect();
        }
      }
    } finally {
      await proxy.close();
      await store.close();
    }
  });

  it('runs the CLI with --redis-cluster', async () => {
    await cluster.seed('cli-sid', SESSION);
    const nodes = topology.cluster.map(({ host, port }) => `${host}:${port}`).join(',');
    await expectCliServes(['--target', backend.url, '--redis-cluster', nodes], 'cli-sid');
  });

  it('refuses the next request on another instance once a session is destroyed', async () => {
    const store = new RedisSessionStore(topology);
    const mount = { target: backend.url, jwtKey: JWT_KEY, redis: topology };
    const [first, second] = await Promise.all([
      startProxyApp({ '/': mount }),
      startProxyApp({ '/': mount }),
    ]);
    try {
      const { cookie, sid } = await issue(store, 'alice');
      assert.equal((await request(`${first.url}/x`, { headers: { cookie } })).status, 200);
      assert.equal((await request(`${second.url}/x`, { headers: { cookie } })).status, 200);
      await destroySession(store, sid);
      assert.equal((await request(`${first.url}/x`, { headers: { cookie } })).status, 401);
      assert.equal((await request(`${second.url}/x`, { headers: { cookie } })).status, 401);
    } finally {
      await Promise.all([first.close(), second.close(), store.close()]);
    }
  });

  it('rides out the loss of a master under steady traffic: only 200 and 503, back by itself', async (t) => {
    const owner = await cluster.seed('sid', SESSION);
    const logger = recordingLogger();
    const proxy = await startProxyApp({
      '/': {
        target: backend.url,
        jwtKey: JWT_KEY,
        redis: topology,
        storeTimeout: STORE_TIMEOUT,
        logger,
      },
    });
    const traffic = steadyTraffic(`${proxy.url}/x`, {
      cookie: authCookie('sid', { expiresIn: 600 }),
    });
    try {
      await bounded(
        traffic.until((s) => s.status === 200),
        10_000,
        'traffic before the kill',
      );
      const killedAt = performance.now();
      await cluster.kill(owner);
      await bounded(
        traffic.until((s) => s.status === 503 && s.sentAt > killedAt),
        10_000,
        'a 503 after the kill',
      );
      await bounded(
        traffic.until((s) => s.status === 200 && s.sentAt > killedAt),
        30_000,
        'recovery after the failover',
      );
      await traffic.stop();
      const outage = checkOutage(traffic.samples, killedAt, STORE_TIMEOUT);
      t.diagnostic(
        `master of the session's slot killed: first 200 ${ms(outage.recoveredAt - killedAt)} after the kill; ${String(outage.unavailable)} x 503, slowest answer ${ms(outage.slowest)}`,
      );
      // The killed master comes back as a replica of its successor, for the next test.
      await cluster.restartAll();
    } finally {
      await traffic.stop();
      await proxy.close();
    }
  });

  it('answers 503 within storeTimeout while every node is down, owned or borrowed client', async () => {
    // The borrowed one with ioredis's defaults: this is the client that used to hang requests.
    const borrowed = new Cluster(topology.cluster);
    borrowed.on('error', () => undefined);
    const common = { target: backend.url, jwtKey: JWT_KEY, storeTimeout: STORE_TIMEOUT };
    const proxy = await startProxyApp({
      '/owned': { ...common, redis: topology },
      '/borrowed': { ...common, redis: borrowed },
    });
    const cookie = authCookie('sid', { expiresIn: 600 });
    try {
      await cluster.seed('sid', SESSION);
      for (const path of ['/owned', '/borrowed']) {
        assert.equal((await request(`${proxy.url}${path}/x`, { headers: { cookie } })).status, 200);
      }
      const downAt = performance.now();
      await cluster.killAll();
      const traffic = ['/owned', '/borrowed'].map((path) =>
        steadyTraffic(`${proxy.url}${path}/x`, { cookie }, { concurrency: 3 }),
      );
      // Enough rounds for every request to have met the offline queue, not just the first.
      await bounded(
        Promise.all(traffic.map((tr) => tr.until(() => tr.samples.length >= 12))),
        30_000,
        'answers while the cluster is down',
      );
      await Promise.all(traffic.map((tr) => tr.stop()));
      for (const tr of traffic) {
        assert.ok(tr.samples.every((s) => s.status === 503));
        assert.throws(() => checkOutage(tr.samples, downAt, STORE_TIMEOUT), /no 200/);
      }

      await cluster.restartAll();
      await cluster.seed('sid', SESSION); // no persistence: the nodes came back empty
      const back = ['/owned', '/borrowed'].map((path) =>
        steadyTraffic(`${proxy.url}${path}/x`, { cookie }, { concurrency: 1 }),
      );
      await bounded(
        Promise.all(back.map((tr) => tr.until((s) => s.status === 200))),
        30_000,
        'service once the nodes are back',
      );
      await Promise.all(back.map((tr) => tr.stop()));
    } finally {
      await proxy.close();
      borrowed.disconnect();
    }
  });
});

function ms(value: number): string {
  return `${(value / 1000).toFixed(2)} s`;
}
