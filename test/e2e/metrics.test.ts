import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import express from 'express';
import { Redis } from 'ioredis';
import { register, Registry } from 'prom-client';
import { authProxy, createMetrics, metricsHandler, SessionCache } from '../../lib/index.js';
import type { AuthProxyOptions, ProxyMetrics } from '../../lib/index.js';
import { startBackend } from '../helpers/backend.js';
import type { Backend } from '../helpers/backend.js';
import { close, listen, request } from '../helpers/http.js';
import { startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { waitFor } from '../helpers/redis-ha.js';
import { freePort, startRedis } from '../helpers/redis-server.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';
import { closeOf, mustOpen, startWsBackend } from '../helpers/ws.js';

const SESSION = JSON.stringify({ credentials: Buffer.from('foo:bar').toString('base64') });
const SID = 'metrics-sid-4f1c';

let redisServer: RedisServer;
let redis: Redis;
let backend: Backend;
let app: ProxyApp | undefined;

before(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
  backend = await startBackend((req, res) => {
    res.statusCode = req.url === '/broken' ? 502 : 200;
    res.end('ok');
  });
});
after(async () => {
  redis.disconnect();
  await backend.close();
  await redisServer.stop();
});
beforeEach(async () => {
  // A test stops Redis, which keeps nothing across a restart.
  await redis.set(SID, SESSION);
});
afterEach(async () => {
  await app?.close();
  app = undefined;
});

function options(metrics: ProxyMetrics, mount: string, extra: Partial<AuthProxyOptions> = {}) {
  return {
    target: backend.url,
    jwtKey: JWT_KEY,
    redis: redisServer.url,
    storeTimeout: 500,
    metrics: metrics.mount(mount),
    ...extra,
  };
}

/** Value of one sample of the exposition text, 0 when absent. */
function sample(text: string, name: string, labels: string): number {
  const head = labels === '' ? `${name} ` : `${name}{${labels}}`;
  const line = text.split('\n').find((l) => l.startsWith(head));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function scrape(metrics: ProxyMetrics): Promise<string> {
  const server = createServer(express().get('/metrics', metricsHandler(metrics)));
  const url = await listen(server);
  try {
    const reply = await request(`${url}/metrics`);
    assert.equal(reply.status, 200);
    assert.match(String(reply.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return reply.body;
  } finally {
    await close(server);
  }
}

describe('metrics', () => {
  it('counts requests by mount and outcome, times decisions, lookups and the backend', async () => {
    const metrics = createMetrics();
    app = await startProxyApp({ '/mail': options(metrics, '/mail') });
    const cookie = authCookie(SID);
    assert.equal((await request(`${app.url}/mail/a`, { headers: { cookie } })).status, 200);
    assert.equal((await request(`${app.url}/mail/b?q=1`, { headers: { cookie } })).status, 200);
    assert.equal((await request(`${app.url}/mail/broken`, { headers: { cookie } })).status, 502);
    assert.equal((await request(`${app.url}/mail/a`)).status, 401);
    const gone = authCookie('no-such-sid-9d2e');
    assert.equal((await request(`${app.url}/mail/a`, { headers: { cookie: gone } })).status, 401);

    const text = await scrape(metrics);
    const p = 'express_auth_proxy_';
    assert.equal(sample(text, `${p}requests_total`, 'mount="/mail",code="OK"'), 3);
    assert.equal(sample(text, `${p}requests_total`, 'mount="/mail",code="ERR_TOKEN_MISSING"'), 1);
    assert.equal(
      sample(text, `${p}requests_total`, 'mount="/mail",code="ERR_SESSION_NOT_FOUND"'),
      1,
    );
    assert.equal(
      sample(text, `${p}auth_decision_seconds_count`, 'mount="/mail",outcome="allowed"'),
      3,
    );
    assert.equal(
      sample(text, `${p}auth_decision_seconds_count`, 'mount="/mail",outcome="refused"'),
      2,
    );
    assert.equal(sample(text, `${p}store_lookup_seconds_count`, 'mount="/mail"'), 4);
    assert.equal(sample(text, `${p}upstream_seconds_count`, 'mount="/mail",status_class="2xx"'), 2);
    assert.equal(sample(text, `${p}upstream_seconds_count`, 'mount="/mail",status_class="5xx"'), 1);
    // Bounded labels: no sid, path or query ever becomes a label value.
    for (const secret of [SID, 'no-such-sid', '/a', '/broken', 'q=1']) {
      assert.ok(!text.includes(secret), `${secret} in the metrics`);
    }
  });

  it('counts store errors and unreachable backends', async () => {
    const metrics = createMetrics();
    const refusedPort = await freePort();
    app = await startProxyApp({
      '/mail': options(metrics, '/mail'),
      '/nowhere': options(metrics, 'nowhere', { target: `http://127.0.0.1:${refusedPort}` }),
    });
    const cookie = authCookie(SID);
    assert.equal((await request(`${app.url}/nowhere/x`, { headers: { cookie } })).status, 502);
    await redisServer.stop();
    try {
      assert.equal((await request(`${app.url}/mail/x`, { headers: { cookie } })).status, 503);
    } finally {
      await redisServer.start();
    }
    const text = await scrape(metrics);
    const p = 'express_auth_proxy_';
    assert.equal(
      sample(text, `${p}upstream_seconds_count`, 'mount="nowhere",status_class="error"'),
      1,
    );
    assert.equal(
      sample(text, `${p}requests_total`, 'mount="nowhere",code="ERR_UPSTREAM_UNREACHABLE"'),
      1,
    );
    assert.equal(
      sample(text, `${p}store_errors_total`, 'mount="/mail",code="ERR_STORE_UNAVAILABLE"'),
      1,
    );
    assert.equal(
      sample(text, `${p}requests_total`, 'mount="/mail",code="ERR_STORE_UNAVAILABLE"'),
      1,
    );
    assert.equal(sample(text, `${p}store_lookup_seconds_count`, 'mount="/mail"'), 1);
  });

  it('reports open WebSockets and session cache hits and misses', async () => {
    const metrics = createMetrics({ prefix: 'eap_' });
    const ws = await startWsBackend();
    const sessions = new SessionCache(redisServer.url);
    app = await startProxyApp(
      { '/live': options(metrics, '/live', { target: ws.url, redis: sessions }) },
      undefined,
      { upgrades: {} },
    );
    try {
      const cookie = authCookie(SID);
      // The cache serves nothing until tracking is on, and its start makes open WebSockets
      // recheck their session (one more lookup): both are settled before counting.
      await waitFor('the cache to track', () => Promise.resolve(sessions.tracking));
      const socket = await mustOpen(`${app.url}/live/ws`, { cookie });
      let text = await scrape(metrics);
      assert.equal(sample(text, 'eap_websockets_open', 'mount="/live"'), 1);
      const closed = closeOf(socket);
      socket.close();
      await closed;
      for (let i = 0; i < 3; i++) await request(`${app.url}/live/x`, { headers: { cookie } });
      text = await scrape(metrics);
      const hits = sample(text, 'eap_session_cache_hits_total', '');
      const misses = sample(text, 'eap_session_cache_misses_total', '');
      assert.equal(hits + misses, 4);
      assert.ok(hits >= 3, 'the requests after the handshake were answered from memory');
      assert.equal(hits, sessions.hits);
      assert.equal(misses, sessions.misses);
    } finally {
      await app.close();
      app = undefined;
      await sessions.close();
      await ws.close();
    }
  });

  it("leaves prom-client's default registry alone unless it is given", async () => {
    const before = (await register.getMetricsAsJSON()).length;
    const own = createMetrics();
    own.mount('/a');
    assert.equal((await register.getMetricsAsJSON()).length, before);
    const registry = new Registry();
    createMetrics({ registry }).mount('/b');
    assert.match(
      await registry.metrics(),
      /express_auth_proxy_requests_total\{mount="\/b",code="OK"\} 0/,
    );
  });

  it('refuses a metrics option that does not come from createMetrics, and bad names', () => {
    assert.throws(
      () =>
        authProxy({
          target: backend.url,
          jwtKey: JWT_KEY,
          redis: redisServer.url,
          metrics: {} as never,
        }),
      (err: Error & { problems?: string[] }) =>
        err.problems?.some((p) => p.startsWith('metrics: must come from createMetrics()')) === true,
    );
    assert.throws(() => createMetrics().mount(''), TypeError);
    assert.throws(() => createMetrics({ prefix: 'a-b' }), TypeError);
  });
});
