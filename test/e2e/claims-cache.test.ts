// The cache of verified claims must only ever make a request faster: every answer is the one the
// full path (cookie-parser, express-jwt, the claims checks, the store) would give.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import cookieParser from 'cookie-parser';
import { Redis } from 'ioredis';
import type { AuthProxyOptions } from '../../lib/index.js';
import { startBackend } from '../helpers/backend.js';
import type { Backend, Seen } from '../helpers/backend.js';
import { request } from '../helpers/http.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { useRedisServer } from '../helpers/fixtures.js';
import { authCookie, cookieValue, JWT_KEY, sign } from '../helpers/tokens.js';

const ALICE = Buffer.from('alice:pw').toString('base64');
const BOB = Buffer.from('bob:pw').toString('base64');

const redisServer = useRedisServer();
let redis: Redis;
let backend: Backend;
let proxy: ProxyApp | undefined;
beforeEach(async () => {
  redis = new Redis(redisServer.url);
  await redis.flushdb();
  await redis.set('sid', JSON.stringify({ credentials: ALICE }));
  backend = await startBackend();
});
afterEach(async () => {
  mock.timers.reset();
  await proxy?.close();
  proxy = undefined;
  await backend.close();
  redis.disconnect();
});

function options(): AuthProxyOptions {
  return {
    target: backend.url,
    jwtKey: JWT_KEY,
    redis: redisServer.url,
    logger: recordingLogger(),
  };
}

async function get(cookie: string, method = 'GET'): Promise<{ status: number; body: string }> {
  if (proxy === undefined) throw new Error('no proxy');
  const headers: Record<string, string> = { cookie };
  if (method === 'OPTIONS') {
    headers['access-control-request-headers'] = 'authorization';
    headers.origin = 'http://x.test';
  }
  return request(`${proxy.url}/x`, { method, headers });
}

function credentialsSeen(body: string): string | undefined {
  return (JSON.parse(body) as Seen).headers.authorization;
}

describe('the verified-claims cache', () => {
  it('still reads the session on every request: revocation and changes apply at once', async () => {
    proxy = await startProxyApp({ '/': options() });
    const cookie = authCookie('sid');
    for (let i = 0; i < 3; i++) {
      const reply = await get(cookie);
      assert.equal(reply.status, 200);
      assert.equal(credentialsSeen(reply.body), `Basic ${ALICE}`);
    }
    await redis.set('sid', JSON.stringify({ credentials: BOB }));
    assert.equal(credentialsSeen((await get(cookie)).body), `Basic ${BOB}`);
    await redis.del('sid');
    const revoked = await get(cookie);
    assert.equal(revoked.status, 401);
    assert.match(revoked.body, /ERR_SESSION_NOT_FOUND/);
  });

  it('checks exp on every request, also for a token it verified before', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    proxy = await startProxyApp({ '/': options() });
    const cookie = authCookie('sid', { expiresIn: 60 });
    assert.equal((await get(cookie)).status, 200);
    mock.timers.tick(59_000);
    assert.equal((await get(cookie)).status, 200);
    mock.timers.tick(1_000);
    const expired = await get(cookie);
    assert.equal(expired.status, 401);
    assert.match(expired.body, /ERR_TOKEN_EXPIRED/);
    assert.equal(backend.seen.length, 2);
  });

  it('honours nbf: refused before, accepted once the time has come', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    proxy = await startProxyApp({ '/': options() });
    const cookie = authCookie('sid', { notBefore: 10 });
    const early = await get(cookie);
    assert.equal(early.status, 401);
    assert.match(early.body, /ERR_TOKEN_NOT_YET_VALID/);
    mock.timers.tick(10_000);
    assert.equal((await get(cookie)).status, 200);
  });

  it('treats a header that differs by any byte as a new token to verify', async () => {
    proxy = await startProxyApp({ '/': options() });
    const token = sign('sid');
    const cookie = `Authorization=${cookieValue(token)}`;
    assert.equal((await get(cookie)).status, 200);
    // The same claims with the last signature character changed.
    const last = token.endsWith('A') ? 'B' : 'A';
    const tampered = `Authorization=${cookieValue(token.slice(0, -1) + last)}`;
    const refused = await get(tampered);
    assert.equal(refused.status, 401);
    assert.match(refused.body, /ERR_TOKEN_INVALID|ERR_TOKEN_MALFORMED/);
    assert.equal((await get(`${cookie}; theme=dark`)).status, 200);
    assert.equal((await get(cookie)).status, 200);
  });

  it('refuses a second, different auth cookie beside one it verified', async () => {
    proxy = await startProxyApp({ '/': options() });
    const cookie = authCookie('sid');
    assert.equal((await get(cookie)).status, 200);
    for (const tossed of [
      `${cookie}; ${authCookie('other')}`,
      `${authCookie('other')}; ${cookie}`,
    ]) {
      const reply = await get(tossed);
      assert.equal(reply.status, 401);
      assert.match(reply.body, /ERR_COOKIE_DUPLICATE/);
    }
    assert.equal(backend.seen.length, 1);
  });

  it('never serves a CORS preflight from the cache, even with a cookie it verified', async () => {
    proxy = await startProxyApp({ '/': options() });
    const cookie = authCookie('sid');
    assert.equal((await get(cookie)).status, 200);
    const preflight = await get(cookie, 'OPTIONS');
    assert.equal(preflight.status, 401);
    assert.equal(backend.seen.length, 1);
  });

  it('works behind an application that parsed the cookies already', async () => {
    proxy = await startProxyApp({ '/': options() }, cookieParser());
    const cookie = authCookie('sid');
    for (let i = 0; i < 2; i++) assert.equal((await get(cookie)).status, 200);
    assert.equal((await get(authCookie('sid', { key: 'another key' }))).status, 401);
  });
});
