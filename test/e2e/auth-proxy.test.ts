import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { scopeOf } from '../../lib/chain/scope.js';
import { sealCredentials } from '../../lib/index.js';
import type { AuthProxyOptions } from '../../lib/index.js';
import { startBackend } from '../helpers/backend.js';
import type { Backend, Seen } from '../helpers/backend.js';
import { request } from '../helpers/http.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { useRedisServer } from '../helpers/fixtures.js';
import { authCookie, cookieValue, JWT_KEY, sign } from '../helpers/tokens.js';

const CREDENTIALS = Buffer.from('foo:bar').toString('base64');
const CREDENTIALS_KEY = 'a'.repeat(64);

const redisServer = useRedisServer();
let redis: Redis;
let backend: Backend;
let proxy: ProxyApp;
let logger: ReturnType<typeof recordingLogger>;

beforeEach(async () => {
  redis = new Redis(redisServer.url);
  await redis.flushdb();
  backend = await startBackend();
  logger = recordingLogger();
});
afterEach(async () => {
  await proxy.close();
  await backend.close();
  redis.disconnect();
});

function options(extra: Partial<AuthProxyOptions> = {}): AuthProxyOptions {
  return { target: backend.url, jwtKey: JWT_KEY, redis: redisServer.url, logger, ...extra };
}

async function storeSession(sid: string, credentials = CREDENTIALS): Promise<void> {
  await redis.set(sid, JSON.stringify({ credentials }));
}

function echoed(body: string): Seen {
  return JSON.parse(body) as Seen;
}

describe('the seed cases', () => {
  beforeEach(async () => {
    proxy = await startProxyApp({ '/': options() });
  });

  const refused: [string, Record<string, string>][] = [
    ['no Cookie header', {}],
    ['a cookie foo:bar', { cookie: 'foo:bar' }],
    ['an auth cookie that is not base64', { cookie: 'Authorization=not base64!' }],
    ['an auth cookie of not_base64', { cookie: 'Authorization=not_base64' }],
    ['base64 of a non-JWT', { cookie: `Authorization=${cookieValue('foo:bar')}` }],
    ['a JWT signed by another key', { cookie: authCookie('sid', { key: 'bad secret' }) }],
    ['a valid JWT without a session', { cookie: authCookie('sid') }],
  ];
  for (const [name, headers] of refused) {
    it(`answers 401 to ${name}, without calling the backend`, async () => {
      const reply = await request(`${proxy.url}/back`, { headers });
      assert.equal(reply.status, 401);
      assert.equal(backend.seen.length, 0);
    });
  }

  it('proxies a valid JWT with a session, injecting Basic credentials', async () => {
    await storeSession('sid');
    const reply = await request(`${proxy.url}/back`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 200);
    assert.equal(echoed(reply.body).headers.authorization, `Basic ${CREDENTIALS}`);
    assert.equal(echoed(reply.body).url, '/back');
  });

  it('accepts a JWT wrapped in double quotes inside the base64', async () => {
    await storeSession('sid');
    const cookie = `Authorization=${cookieValue(sign('sid'), true)}`;
    const reply = await request(`${proxy.url}/back`, { headers: { cookie } });
    assert.equal(reply.status, 200);
    assert.equal(echoed(reply.body).headers.authorization, `Basic ${CREDENTIALS}`);
  });
});

describe('custom credentials decoder', () => {
  it('passes the stored value through decodeCredentials', async () => {
    proxy = await startProxyApp({
      '/': options({ decodeCredentials: (stored) => Buffer.from(stored, 'hex').toString() }),
    });
    await storeSession('sid', Buffer.from(CREDENTIALS).toString('hex'));
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 200);
    assert.equal(echoed(reply.body).headers.authorization, `Basic ${CREDENTIALS}`);
  });
});

describe('token rules', () => {
  beforeEach(async () => {
    proxy = await startProxyApp({ '/': options() });
    await storeSession('sid');
  });

  const cases: [string, string, string][] = [
    ['an expired token', authCookie('sid', { expiresIn: -10 }), 'ERR_TOKEN_EXPIRED'],
    ['a token not yet valid', authCookie('sid', { notBefore: 60 }), 'ERR_TOKEN_NOT_YET_VALID'],
    ['a token without exp', authCookie('sid', { expiresIn: null }), 'ERR_TOKEN_CLAIM_MISSING'],
    [
      'a token without sid',
      `Authorization=${cookieValue(sign(undefined))}`,
      'ERR_TOKEN_CLAIM_MISSING',
    ],
    [
      'a numeric sid',
      `Authorization=${cookieValue(sign(undefined, { claims: { sid: 7 } }))}`,
      'ERR_TOKEN_CLAIM_MISSING',
    ],
    [
      'an HS256 token (outside the allowlist)',
      authCookie('sid', { algorithm: 'HS256' }),
      'ERR_TOKEN_INVALID',
    ],
    [
      'a token with alg none',
      `Authorization=${cookieValue(unsigned('sid'))}`,
      'ERR_TOKEN_MALFORMED',
    ],
    [
      'a token with a forged payload',
      `Authorization=${cookieValue(forged('sid', 'other'))}`,
      'ERR_TOKEN_INVALID',
    ],
    [
      'a signed token whose claims are a JSON string holding an object',
      `Authorization=${cookieValue(stringClaims('sid'))}`,
      'ERR_TOKEN_MALFORMED',
    ],
    ['an empty auth cookie', 'Authorization=', 'ERR_TOKEN_MISSING'],
    ['an auth cookie in JSON form', 'Authorization=j%3A%7B%7D', 'ERR_TOKEN_MALFORMED'],
  ];
  for (const [name, cookie, code] of cases) {
    it(`answers 401 ${code} to ${name}`, async () => {
      const reply = await request(`${proxy.url}/x`, { headers: { cookie } });
      assert.equal(reply.status, 401);
      assert.match(reply.body, new RegExp(code));
      assert.equal(backend.seen.length, 0);
      assert.ok(logger.lines.some((line) => line.includes(code)));
    });
  }

  it("refuses a sid holding a lone surrogate, which Redis would read as another sid's key", async () => {
    // UTF-8 has no form for U+D800: encoded for Redis it becomes U+FFFD, as would U+DFFF.
    await storeSession('\ufffd');
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('\ud800') } });
    assert.equal(reply.status, 401);
    assert.match(reply.body, /ERR_TOKEN_CLAIM_MISSING/);
    assert.equal(backend.seen.length, 0);
    const paired = await request(`${proxy.url}/x`, {
      headers: { cookie: authCookie('\ud83d\ude00') },
    });
    assert.match(paired.body, /ERR_SESSION_NOT_FOUND/, 'a surrogate pair is an ordinary sid');
  });

  it('accepts a raw JWT and url-safe base64', async () => {
    const token = sign('sid');
    for (const cookie of [
      `Authorization=${token}`,
      `Authorization=${Buffer.from(token).toString('base64url')}`,
    ]) {
      const reply = await request(`${proxy.url}/x`, { headers: { cookie } });
      assert.equal(reply.status, 200, cookie);
    }
    assert.equal(backend.seen.length, 2);
  });

  it('honours clockTolerance for a just-expired token', async () => {
    await proxy.close();
    proxy = await startProxyApp({ '/': options({ clockTolerance: 30 }) });
    const reply = await request(`${proxy.url}/x`, {
      headers: { cookie: authCookie('sid', { expiresIn: -10 }) },
    });
    assert.equal(reply.status, 200);
  });

  it('refuses a CORS preflight instead of proxying it unauthenticated', async () => {
    const reply = await request(`${proxy.url}/x`, {
      method: 'OPTIONS',
      headers: { 'access-control-request-headers': 'authorization', origin: 'http://x.test' },
    });
    assert.equal(reply.status, 401);
    assert.equal(backend.seen.length, 0);
  });
});

function unsigned(sid: string): string {
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const exp = Math.floor(Date.now() / 1000) + 60;
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sid, exp })}.`;
}

function forged(sid: string, otherSid: string): string {
  const [header, , signature] = sign(sid).split('.');
  const exp = Math.floor(Date.now() / 1000) + 60;
  const payload = Buffer.from(JSON.stringify({ sid: otherSid, exp })).toString('base64url');
  return `${header ?? ''}.${payload}.${signature ?? ''}`;
}

// Correctly signed, but its claims are "{\"sid\":...}": jsonwebtoken parses them twice (typ JWT).
function stringClaims(sid: string): string {
  const part = (text: string): string => Buffer.from(text).toString('base64url');
  const exp = Math.floor(Date.now() / 1000) + 60;
  const signed = `${part('{"alg":"HS512","typ":"JWT"}')}.${part(JSON.stringify(JSON.stringify({ sid, exp })))}`;
  return `${signed}.${createHmac('sha512', JWT_KEY).update(signed).digest('base64url')}`;
}

describe('session and credentials failures', () => {
  const cases: [string, string, Partial<AuthProxyOptions>][] = [
    ['session JSON that does not parse', '{"credentials": ', {}],
    ['a session without credentials', '{"user": "alice"}', {}],
    ['credentials holding a CR LF', JSON.stringify({ credentials: 'Zm9v\r\nX-Evil: 1' }), {}],
    [
      'sealed credentials opened with another key',
      JSON.stringify({ credentials: sealCredentials(CREDENTIALS, 'b'.repeat(64)) }),
      { credentialsKey: CREDENTIALS_KEY },
    ],
    [
      'credentials that are not sealed',
      JSON.stringify({ credentials: CREDENTIALS }),
      { credentialsKey: CREDENTIALS_KEY },
    ],
  ];
  for (const [name, stored, extra] of cases) {
    it(`answers 500 to ${name}, logging only the sid hash`, async () => {
      proxy = await startProxyApp({ '/': options(extra) });
      const sid = 'secret-session-id';
      await redis.set(sid, stored);
      const cookie = authCookie(sid);
      const reply = await request(`${proxy.url}/x`, { headers: { cookie } });
      assert.equal(reply.status, 500);
      assert.equal(backend.seen.length, 0);
      const hash = createHash('sha256').update(sid).digest('hex').slice(0, 12);
      const errors = logger.lines.filter((line) => line.includes(' 500 '));
      assert.equal(errors.length, 1);
      assert.ok(errors[0]?.includes(hash), errors[0]);
      const log = logger.lines.join('\n');
      for (const secret of [sid, cookie.split('=')[1] ?? '', stored, CREDENTIALS, 'Zm9v']) {
        assert.ok(!log.includes(secret), `log leaks ${secret}`);
      }
      assert.ok(!reply.body.includes(sid) && !reply.body.includes(backend.url));
    });
  }

  it('opens credentials sealed with credentialsKey', async () => {
    proxy = await startProxyApp({ '/': options({ credentialsKey: CREDENTIALS_KEY }) });
    await storeSession('sid', sealCredentials(CREDENTIALS, CREDENTIALS_KEY));
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 200);
    assert.equal(echoed(reply.body).headers.authorization, `Basic ${CREDENTIALS}`);
  });

  it('removes one trailing newline from the credentials', async () => {
    proxy = await startProxyApp({ '/': options() });
    await storeSession('sid', `${CREDENTIALS}\n`);
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(echoed(reply.body).headers.authorization, `Basic ${CREDENTIALS}`);
  });

  it('reads the session under keyPrefix', async () => {
    proxy = await startProxyApp({ '/': options({ keyPrefix: 'session:' }) });
    await storeSession('session:sid');
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 200);
  });
});

describe('what reaches the backend', () => {
  beforeEach(async () => {
    await storeSession('sid');
  });

  it('replaces client credentials, strips the auth cookie and keeps the rest', async () => {
    proxy = await startProxyApp({ '/mail': options() });
    const reply = await request(`${proxy.url}/mail/inbox/42?sort=date&q=a%20b`, {
      headers: {
        cookie: `theme=dark; ${authCookie('sid')}; lang=fr`,
        authorization: 'Bearer client-token',
        'proxy-authorization': 'Basic c3B5OnNweQ==',
        host: 'mail.example.test',
      },
    });
    assert.equal(reply.status, 200);
    const seen = echoed(reply.body);
    assert.equal(seen.url, '/inbox/42?sort=date&q=a%20b');
    assert.equal(seen.headers.authorization, `Basic ${CREDENTIALS}`);
    assert.equal(seen.headers['proxy-authorization'], undefined);
    assert.equal(seen.headers.cookie, 'theme=dark; lang=fr');
    assert.equal(seen.headers['x-forwarded-host'], 'mail.example.test');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  });

  it('drops the Cookie header when the auth cookie was the only one', async () => {
    proxy = await startProxyApp({ '/': options() });
    const reply = await request(`${proxy.url}/`, { headers: { cookie: authCookie('sid') } });
    assert.equal(echoed(reply.body).headers.cookie, undefined);
  });

  it('keeps the target path as a prefix', async () => {
    proxy = await startProxyApp({ '/dav': options({ target: `${backend.url}/remote.php` }) });
    const reply = await request(`${proxy.url}/dav/files/a.txt?x=1`, {
      headers: { cookie: authCookie('sid') },
    });
    assert.equal(echoed(reply.body).url, '/remote.php/files/a.txt?x=1');
  });

  it('injects credentials when the client sends Expect: 100-continue', async () => {
    proxy = await startProxyApp({ '/': options() });
    const reply = await request(`${proxy.url}/upload`, {
      method: 'PUT',
      headers: { cookie: authCookie('sid'), expect: '100-continue', 'content-length': '5' },
      body: 'hello',
    });
    const seen = echoed(reply.body);
    assert.equal(seen.headers.authorization, `Basic ${CREDENTIALS}`);
    assert.equal(seen.headers.cookie, undefined);
    assert.equal(seen.bodyBytes, 5);
  });

  it('reuses upstream connections (keep-alive)', async () => {
    proxy = await startProxyApp({ '/': options() });
    const headers = { cookie: authCookie('sid') };
    await request(`${proxy.url}/a`, { headers });
    await request(`${proxy.url}/b`, { headers });
    assert.equal(backend.seen.length, 2);
    assert.equal(backend.seen[0]?.remotePort, backend.seen[1]?.remotePort);
  });

  it('routes several mounts to their own backends without interference', async () => {
    const dav = await startBackend();
    try {
      proxy = await startProxyApp({
        '/mail': options(),
        '/dav': options({ target: `${dav.url}/remote.php` }),
      });
      const headers = { cookie: authCookie('sid') };
      const mail = await request(`${proxy.url}/mail/m`, { headers });
      const files = await request(`${proxy.url}/dav/f`, { headers });
      const other = await request(`${proxy.url}/app-route`, { headers });
      assert.equal(echoed(mail.body).url, '/m');
      assert.equal(echoed(files.body).url, '/remote.php/f');
      assert.equal(other.body, 'app route');
      assert.equal(backend.seen.length, 1);
      assert.equal(dav.seen.length, 1);
    } finally {
      await dav.close();
    }
  });
});

describe('backend failures', () => {
  beforeEach(async () => {
    await storeSession('sid');
  });

  it('answers 502 when the backend refuses the connection', async () => {
    const closed = await startBackend();
    const target = closed.url;
    await closed.close();
    proxy = await startProxyApp({ '/': options({ target }) });
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 502);
    assert.match(reply.body, /ERR_UPSTREAM_UNREACHABLE/);
    assert.ok(!reply.body.includes(target.replace('http://', '')));
  });

  it('answers 504 when the backend is slower than proxyTimeout', async () => {
    await backend.close();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    backend = await startBackend((_req, res) => {
      void held.then(() => res.end('late'));
    });
    proxy = await startProxyApp({ '/': options({ proxyTimeout: 200 }) });
    const started = Date.now();
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    release();
    assert.equal(reply.status, 504);
    assert.match(reply.body, /ERR_UPSTREAM_TIMEOUT/);
    assert.ok(Date.now() - started < 5000);
  });
});

describe('custom error responses', () => {
  it('lets onError render the refusal', async () => {
    proxy = await startProxyApp({
      '/': options({
        onError: (err, _req, res) => {
          res.status(err.status).type('html').send(`<a href="/login">log in</a> (${err.code})`);
        },
      }),
    });
    const reply = await request(`${proxy.url}/x`);
    assert.equal(reply.status, 401);
    assert.equal(reply.body, '<a href="/login">log in</a> (ERR_TOKEN_MISSING)');
  });
});

describe('a throwing onError', () => {
  it('still answers, with the default response, for token and backend failures', async () => {
    const closed = await startBackend();
    const target = closed.url;
    await closed.close();
    await storeSession('sid');
    proxy = await startProxyApp({
      '/': options({
        target,
        onError: () => {
          throw new Error('template missing');
        },
      }),
    });
    const refused = await request(`${proxy.url}/x`);
    assert.equal(refused.status, 401);
    const unreachable = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(unreachable.status, 502);
    assert.equal(logger.lines.filter((l) => l.includes('onError failed (Error)')).length, 2);
  });
});

describe('hostile and unlucky requests', () => {
  beforeEach(async () => {
    await storeSession('sid');
  });

  it('keeps the headers it adds even when the client names them in Connection', async () => {
    proxy = await startProxyApp({ '/': options() });
    const reply = await request(`${proxy.url}/x`, {
      headers: {
        cookie: authCookie('sid'),
        connection: 'keep-alive, x-forwarded-for, x-forwarded-host, host, authorization, x-drop-me',
        'x-drop-me': '1',
        upgrade: 'h2c',
        te: 'trailers',
      },
    });
    const seen = echoed(reply.body);
    assert.equal(seen.headers.authorization, `Basic ${CREDENTIALS}`);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.ok(seen.headers['x-forwarded-host'] !== undefined);
    assert.ok(seen.headers.host !== undefined);
    assert.equal(seen.headers['x-drop-me'], undefined);
    assert.equal(seen.headers.upgrade, undefined);
    assert.equal(seen.headers.te, undefined);
  });

  it('injects credentials when every upstream socket is busy (queued requests)', async () => {
    proxy = await startProxyApp({
      '/': options({ proxy: { agent: new Agent({ keepAlive: true, maxSockets: 1 }) } }),
    });
    const headers = { cookie: authCookie('sid') };
    const replies = await Promise.all(
      [1, 2, 3, 4].map((n) => request(`${proxy.url}/q${n}`, { headers })),
    );
    for (const reply of replies) {
      assert.equal(reply.status, 200);
      assert.equal(echoed(reply.body).headers.authorization, `Basic ${CREDENTIALS}`);
      assert.equal(echoed(reply.body).headers.cookie, undefined);
    }
  });

  it('answers 400 to a path that climbs out of the target path', async () => {
    proxy = await startProxyApp({ '/dav': options({ target: `${backend.url}/remote.php` }) });
    for (const path of ['/dav/../admin', '/dav/%2e%2e/admin', '/dav/..%5cadmin']) {
      const reply = await request(proxy.url, {
        rawPath: path,
        headers: { cookie: authCookie('sid') },
      });
      assert.equal(reply.status, 400, path);
      assert.match(reply.body, /ERR_PATH_INVALID/);
    }
    assert.equal(backend.seen.length, 0);
  });

  it('shows later middleware the client headers, not the injected credentials', async () => {
    let seenByApp: string | undefined = 'unset';
    proxy = await startProxyApp({ '/': options() }, (req, res, next) => {
      res.on('finish', () => {
        seenByApp = req.headers.authorization;
      });
      next();
    });
    const finished = request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal((await finished).status, 200);
    assert.equal(seenByApp, undefined);
  });

  it('lets go of the upstream request once the response has closed', async () => {
    // A keep-alive connection keeps its last request alive until the next one: a scope that
    // still held the upstream request would keep the backend's whole response alive with it.
    let atFinish: unknown = 'unset';
    let afterClose: unknown = 'unset';
    let closed: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => {
      closed = resolve;
    });
    proxy = await startProxyApp({ '/': options() }, (req, res, next) => {
      res.on('finish', () => {
        atFinish = scopeOf(req)?.upstream;
      });
      // Runs once every 'close' listener, the mount's included, has run.
      res.on('close', () => {
        queueMicrotask(() => {
          afterClose = scopeOf(req)?.upstream;
          closed();
        });
      });
      next();
    });
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 200);
    await settled;
    assert.ok(
      atFinish !== undefined && atFinish !== 'unset',
      'the scope held the upstream request',
    );
    assert.equal(afterClose, undefined);
  });

  it('drops the upstream request when the client goes away', async () => {
    await backend.close();
    let upstreamClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    let arrived: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    backend = await startBackend((req) => {
      req.socket.once('close', upstreamClosed);
      arrived();
    });
    proxy = await startProxyApp({ '/': options() });
    const client = httpRequest(`${proxy.url}/slow`, {
      headers: { cookie: authCookie('sid') },
      agent: false,
    });
    client.on('error', () => undefined);
    client.end();
    await held;
    client.destroy();
    await closed; // resolves only if the proxy closes its upstream connection
    assert.equal(backend.seen.length, 1);
  });

  it('cuts the client connection when the backend breaks off mid-body', async () => {
    await backend.close();
    backend = await startBackend((req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial', () => req.socket.destroy());
    });
    proxy = await startProxyApp({ '/': options() });
    await assert.rejects(
      request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } }),
      /aborted|socket hang up|ECONNRESET/,
    );
    assert.ok(logger.lines.some((line) => line.includes('ERR_UPSTREAM_FAILED')));
  });

  it('answers plainly when an async onError rejects', async () => {
    proxy = await startProxyApp({
      '/': options({
        onError: () => Promise.reject(new Error('template missing')),
      }),
    });
    const reply = await request(`${proxy.url}/x`);
    assert.equal(reply.status, 401);
    assert.match(reply.body, /ERR_TOKEN_MISSING/);
  });
});

describe('second-review regressions', () => {
  beforeEach(async () => {
    await storeSession('sid');
  });

  it('answers 411 to a chunked DELETE or OPTIONS body instead of smuggling it', async () => {
    proxy = await startProxyApp({ '/': options() });
    for (const method of ['DELETE', 'OPTIONS']) {
      const reply = await request(`${proxy.url}/x`, {
        method,
        headers: { cookie: authCookie('sid'), 'transfer-encoding': 'chunked' },
        body: 'GET /secret HTTP/1.1\r\nHost: x\r\n\r\n',
      });
      assert.equal(reply.status, 411, method);
      assert.match(reply.body, /ERR_LENGTH_REQUIRED/);
    }
    assert.equal(backend.seen.length, 0);
  });

  it('replaces the client Forwarded and X-Forwarded-* headers with its own', async () => {
    proxy = await startProxyApp({ '/': options() });
    const reply = await request(`${proxy.url}/x`, {
      headers: {
        cookie: authCookie('sid'),
        host: 'mail.example.test',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
        forwarded: 'for=6.6.6.6',
      },
    });
    const seen = echoed(reply.body);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-host'], 'mail.example.test');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers.forwarded, undefined);
  });

  it('forwards them unchanged with xfwd off (behind a trusted reverse proxy)', async () => {
    proxy = await startProxyApp({ '/': options({ proxy: { xfwd: false } }) });
    const reply = await request(`${proxy.url}/x`, {
      headers: { cookie: authCookie('sid'), 'x-forwarded-for': '203.0.113.9' },
    });
    assert.equal(echoed(reply.body).headers['x-forwarded-for'], '203.0.113.9');
  });

  it('hands a request back with the client headers when http-proxy-middleware fails it', async () => {
    let seenByOnError: string | undefined = 'unset';
    proxy = await startProxyApp({
      '/': options({
        proxy: {
          pathRewrite: () => {
            throw new Error('rewrite failed');
          },
        },
        onError: (err, req, res) => {
          seenByOnError = req.headers.authorization;
          res.status(err.status).end();
        },
      }),
    });
    const reply = await request(`${proxy.url}/x`, {
      headers: { cookie: authCookie('sid'), authorization: 'Bearer client' },
    });
    assert.equal(reply.status, 500);
    assert.equal(seenByOnError, 'Bearer client');
  });

  it('cuts the connection when the backend fails between its headers and its body', async () => {
    await backend.close();
    backend = await startBackend((req, res) => {
      res.writeHead(200, { 'content-length': '100', 'set-cookie': 'backend=secret' });
      res.flushHeaders();
      setImmediate(() => req.socket.destroy());
    });
    proxy = await startProxyApp({ '/': options() });
    await assert.rejects(
      request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } }),
      /aborted|socket hang up|ECONNRESET/,
    );
  });

  it("states its own connection handling instead of the backend's", async () => {
    await backend.close();
    backend = await startBackend((_req, res) => {
      res.writeHead(200, {
        connection: 'keep-alive, x-hop',
        'keep-alive': 'timeout=99',
        'x-hop': '1',
      });
      res.end('ok');
    });
    proxy = await startProxyApp({ '/': options() });
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.connection, 'close'); // the test client asked for close
    assert.equal(reply.headers['keep-alive'], undefined);
    assert.equal(reply.headers['x-hop'], undefined);
  });
});
