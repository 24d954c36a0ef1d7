import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import {
  clearSessionCookie,
  createSession,
  destroySession,
  MemorySessionStore,
  RedisSessionStore,
  sessionCookie,
  sessionCookieOptions,
} from '../../lib/index.js';
import type { SessionStore } from '../../lib/index.js';
import { useBackend, useRedisServer } from '../helpers/fixtures.js';
import type { Seen } from '../helpers/backend.js';
import { request } from '../helpers/http.js';
import { startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';

const JWT_KEY = 'issuer-test-secret';
const CREDENTIALS_KEY = 'c'.repeat(64);

const redisServer = useRedisServer();
const backend = useBackend();
let proxy: ProxyApp | undefined;

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

const stores: Record<string, () => SessionStore> = {
  'a Redis store': () => new RedisSessionStore(redisServer.url, { keyPrefix: 's:' }),
  'the memory store': () => new MemorySessionStore(),
};

/** The `name=value` part of a Set-Cookie header, as a browser would send it back. */
function cookieFrom(setCookie: string): string {
  return setCookie.split(';', 1)[0] ?? '';
}

for (const [name, makeStore] of Object.entries(stores)) {
  describe(`createSession with ${name}`, () => {
    for (const sealed of [false, true]) {
      it(`issues a session authProxy accepts${sealed ? ', sealed' : ''}, and logout ends it`, async () => {
        const store = makeStore();
        const credentialsKey = sealed ? CREDENTIALS_KEY : undefined;
        proxy = await startProxyApp({
          '/mail': { target: backend.url, jwtKey: JWT_KEY, redis: store, credentialsKey },
        });
        const session = await createSession(
          store,
          { sub: 'alice', username: 'alice', password: 'wonderland' },
          { jwtKey: JWT_KEY, credentialsKey, ttlSeconds: 600 },
        );
        const cookie = cookieFrom(sessionCookie(session));
        const ok = await request(`${proxy.url}/mail/inbox`, { headers: { cookie } });
        assert.equal(ok.status, 200);
        const seen = JSON.parse(ok.body) as Seen;
        const basic = Buffer.from('alice:wonderland').toString('base64');
        assert.equal(seen.headers.authorization, `Basic ${basic}`);

        const stored = await store.get(session.sid);
        assert.equal(stored?.credentials === basic, !sealed);

        await destroySession(store, session.sid);
        const gone = await request(`${proxy.url}/mail/inbox`, { headers: { cookie } });
        assert.equal(gone.status, 401);
        assert.match(gone.body, /ERR_SESSION_NOT_FOUND/);
        await store.close?.();
      });
    }
  });
}

describe('createSession', () => {
  it('signs { sub, sid, iat, exp } with HS512 and a TTL equal to the token lifetime', async () => {
    const store = new RedisSessionStore(redisServer.url);
    try {
      const session = await createSession(
        store,
        { sub: 'bob', credentials: 'Ym9iOmJ1aWxkZXI=' },
        { jwtKey: JWT_KEY, ttlSeconds: 120 },
      );
      assert.equal(Buffer.from(session.cookieValue, 'base64').toString(), session.token);
      const decoded = jwt.verify(session.token, JWT_KEY, { algorithms: ['HS512'], complete: true });
      const claims = decoded.payload as jwt.JwtPayload;
      assert.equal(claims.sub, 'bob');
      assert.equal(claims.sid, session.sid);
      assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 120);
      assert.match(session.sid, /^[\w-]{43}$/);
      const ttl = await store.client.ttl(session.sid);
      assert.ok(ttl > 110 && ttl <= 120, String(ttl));
    } finally {
      await store.close();
    }
  });

  it('gives a different sid every time', async () => {
    const store = new MemorySessionStore();
    const subject = { sub: 'a', credentials: 'eA==' };
    const sids = new Set<string>();
    for (let i = 0; i < 50; i++) {
      sids.add((await createSession(store, subject, { jwtKey: JWT_KEY, ttlSeconds: 60 })).sid);
    }
    assert.equal(sids.size, 50);
  });

  it('refuses a user name with a colon, a bad TTL, an empty key and alg none', async () => {
    const store = new MemorySessionStore();
    const subject = { sub: 'x', username: 'a:b', password: 'p' };
    await assert.rejects(createSession(store, subject, { jwtKey: JWT_KEY, ttlSeconds: 60 }), /":"/);
    const ok = { sub: 'x', credentials: 'eA==' };
    await assert.rejects(
      createSession(store, ok, { jwtKey: JWT_KEY, ttlSeconds: 0 }),
      /ttlSeconds/,
    );
    await assert.rejects(createSession(store, ok, { jwtKey: '', ttlSeconds: 60 }), /jwtKey/);
    const none = { jwtKey: JWT_KEY, ttlSeconds: 60, algorithm: 'none' as 'HS512' };
    await assert.rejects(createSession(store, ok, none), /algorithm/);
  });
});

describe('session cookies', () => {
  const session = { cookieValue: 'ZXlK', ttlSeconds: 3600 };

  it('is HttpOnly, SameSite=Lax, Secure, Path=/ with a matching Max-Age', () => {
    assert.equal(
      sessionCookie(session),
      'Authorization=ZXlK; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
    assert.deepEqual(sessionCookieOptions(3600), {
      httpOnly: true,
      sameSite: 'lax',
      secure: true,
      path: '/',
      maxAge: 3_600_000,
    });
  });

  it('drops Secure only when told, and clears on logout', () => {
    assert.ok(!sessionCookie(session, { secure: false }).includes('Secure'));
    assert.equal(
      clearSessionCookie({ domain: 'example.test' }),
      'Authorization=; Max-Age=0; Domain=example.test; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
  });
});
