import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { AuthProxyOptions } from '../../lib/index.js';
import { startBackend } from '../helpers/backend.js';
import type { Backend, Seen } from '../helpers/backend.js';
import { request } from '../helpers/http.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { useRedisServer } from '../helpers/fixtures.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';

// Regressions of what a hostile review got through (issue 6, section 1), each against a real
// Redis and a backend that records what it received.

const CREDENTIALS = Buffer.from('foo:bar').toString('base64');

const redisServer = useRedisServer();
let redis: Redis;
let backend: Backend;
let proxy: ProxyApp | undefined;
let logger: ReturnType<typeof recordingLogger>;

beforeEach(async () => {
  redis = new Redis(redisServer.url);
  await redis.flushdb();
  await redis.set('sid', JSON.stringify({ credentials: CREDENTIALS }));
  backend = await startBackend();
  logger = recordingLogger();
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  await backend.close();
  redis.disconnect();
});

function options(extra: Partial<AuthProxyOptions> = {}): AuthProxyOptions {
  return { target: backend.url, jwtKey: JWT_KEY, redis: redisServer.url, logger, ...extra };
}

function echoed(body: string): Seen {
  return JSON.parse(body) as Seen;
}

describe('request targets, judged as http-proxy forwards them', () => {
  const refused: [string, string][] = [
    ['GET', '/dav/..#'],
    ['GET', '/dav/%2e%2e#x'],
    ['DELETE', '/dav/frag/#ment'],
    ['GET', '/dav/files?q=1#..'],
    ['GET', '/dav/a\\..\\..\\admin'],
    ['GET', '/dav/files\\x'],
    ['GET', '/dav//user@host/admin'],
  ];
  for (const [method, rawPath] of refused) {
    it(`answers 400 to ${method} ${JSON.stringify(rawPath)} without calling the backend`, async () => {
      proxy = await startProxyApp({ '/dav': options({ target: `${backend.url}/remote.php` }) });
      const reply = await request(proxy.url, {
        method,
        rawPath,
        headers: { cookie: authCookie('sid') },
      });
      assert.equal(reply.status, 400);
      assert.match(reply.body, /ERR_PATH_INVALID/);
      assert.deepEqual(backend.seen, []);
    });
  }

  it('still forwards paths holding @, quotes and encoded characters', async () => {
    proxy = await startProxyApp({ '/dav': options({ target: `${backend.url}/remote.php` }) });
    const reply = await request(proxy.url, {
      rawPath: "/dav/calendars/user@example.com/it's%20mine/?q=a%23b",
      headers: { cookie: authCookie('sid') },
    });
    assert.equal(reply.status, 200);
    // Beside an '@', http-proxy's url.parse escapes the quote: the same name to any backend.
    assert.equal(
      echoed(reply.body).url,
      '/remote.php/calendars/user@example.com/it%27s%20mine/?q=a%23b',
    );
  });

  it('checks the path that leaves too: a pathRewrite that climbs out is refused', async () => {
    proxy = await startProxyApp({
      '/dav': options({
        target: `${backend.url}/remote.php`,
        proxy: { pathRewrite: { '^/up': '/..' } },
      }),
    });
    const reply = await request(`${proxy.url}/dav/up/admin`, {
      headers: { cookie: authCookie('sid') },
    });
    assert.equal(reply.status, 400);
    assert.match(reply.body, /ERR_PATH_INVALID/);
    assert.deepEqual(backend.seen, []);
    assert.ok(logger.lines.some((line) => line.includes('upstream path')));
  });
});

describe('duplicate auth cookies', () => {
  beforeEach(async () => {
    await redis.set('planted', JSON.stringify({ credentials: 'cGxhbnRlZDp4' }));
    proxy = await startProxyApp({ '/': options() });
  });

  const mine = authCookie('sid');
  const planted = authCookie('planted');
  const cases: [string, string | string[]][] = [
    ['in one Cookie header', `${mine}; theme=dark; ${planted}`],
    ['the planted one first', `${planted}; ${mine}`],
    ['on two Cookie header lines', [mine, planted]],
    ['one of them quoted', `${mine}; Authorization="${mine.slice('Authorization='.length)}"`],
  ];
  for (const [name, cookie] of cases) {
    it(`answers 401 ERR_COOKIE_DUPLICATE to two that differ, ${name}`, async () => {
      const reply = await request(`${proxy?.url ?? ''}/x`, { headers: { cookie } });
      assert.equal(reply.status, 401);
      assert.match(reply.body, /ERR_COOKIE_DUPLICATE/);
      assert.deepEqual(backend.seen, []);
      const log = logger.lines.join('\n');
      assert.match(log, /ERR_COOKIE_DUPLICATE/);
      assert.ok(!log.includes(mine.slice(20, 60)) && !log.includes(planted.slice(20, 60)));
    });
  }

  it('accepts the same cookie sent twice', async () => {
    const reply = await request(`${proxy?.url ?? ''}/x`, { headers: { cookie: [mine, mine] } });
    assert.equal(reply.status, 200);
    assert.equal(echoed(reply.body).headers.authorization, `Basic ${CREDENTIALS}`);
    assert.equal(echoed(reply.body).headers.cookie, undefined);
  });
});

describe('oversized credentials', () => {
  it('answers 500 ERR_CREDENTIALS_INVALID to 1 MiB of stored credentials', async () => {
    await redis.set('sid', JSON.stringify({ credentials: 'QUFB'.repeat(1 << 18) }));
    proxy = await startProxyApp({ '/': options() });
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 500);
    assert.match(reply.body, /ERR_CREDENTIALS_INVALID/);
    assert.deepEqual(backend.seen, []);
  });

  it('forwards credentials of exactly 4096 characters', async () => {
    const credentials = 'QUFB'.repeat(1024);
    await redis.set('sid', JSON.stringify({ credentials }));
    proxy = await startProxyApp({ '/': options() });
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 200);
    assert.equal(echoed(reply.body).headers.authorization, `Basic ${credentials}`);
  });
});

describe('a session key of another Redis type', () => {
  const kinds: [string, () => Promise<unknown>][] = [
    ['a list', () => redis.rpush('wrong', 'a')],
    ['a hash', () => redis.hset('wrong', 'credentials', CREDENTIALS)],
    ['a set', () => redis.sadd('wrong', CREDENTIALS)],
  ];
  for (const [kind, store] of kinds) {
    it(`answers 500 ERR_SESSION_MALFORMED, not 503, to ${kind}`, async () => {
      await store();
      proxy = await startProxyApp({ '/': options() });
      const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('wrong') } });
      assert.equal(reply.status, 500);
      assert.match(reply.body, /ERR_SESSION_MALFORMED/);
      assert.equal(reply.headers['retry-after'], undefined);
      assert.deepEqual(backend.seen, []);
    });
  }
});

describe('time claims', () => {
  const now = (): number => Math.floor(Date.now() / 1000);
  // JSON's 1e400 reads as Infinity: signed by hand, as no JWT library would write it.
  const withClaims = (claims: string): string => {
    const part = (text: string): string => Buffer.from(text).toString('base64url');
    const input = `${part('{"alg":"HS512","typ":"JWT"}')}.${part(claims)}`;
    const signature = createHmac('sha512', JWT_KEY).update(input).digest('base64url');
    return `Authorization=${Buffer.from(`${input}.${signature}`).toString('base64')}`;
  };

  const refused: [string, string, string][] = [
    ['exp of 1e400 (Infinity)', '{"sid":"sid","exp":1e400}', 'ERR_TOKEN_INVALID'],
    ['nbf of -1e400', `{"sid":"sid","exp":${now() + 60},"nbf":-1e400}`, 'ERR_TOKEN_INVALID'],
    ['iat of 1e400', `{"sid":"sid","exp":${now() + 60},"iat":1e400}`, 'ERR_TOKEN_INVALID'],
    ['a string iat', `{"sid":"sid","exp":${now() + 60},"iat":"0"}`, 'ERR_TOKEN_INVALID'],
  ];
  for (const [name, claims, code] of refused) {
    it(`answers 401 ${code} to ${name}`, async () => {
      proxy = await startProxyApp({ '/': options() });
      const reply = await request(`${proxy.url}/x`, { headers: { cookie: withClaims(claims) } });
      assert.equal(reply.status, 401);
      assert.match(reply.body, new RegExp(code));
      assert.deepEqual(backend.seen, []);
    });
  }

  describe('with maxTokenLifetime', () => {
    const limited: [string, () => string, number, string][] = [
      ['a token within it', () => authCookie('sid', { expiresIn: 3600 }), 200, ''],
      [
        'a token living longer',
        () => authCookie('sid', { expiresIn: 3601 }),
        401,
        'ERR_TOKEN_INVALID',
      ],
      [
        'a token without iat',
        () => withClaims(`{"sid":"sid","exp":${now() + 60}}`),
        401,
        'ERR_TOKEN_CLAIM_MISSING',
      ],
      [
        'a token issued in the future',
        () => withClaims(`{"sid":"sid","iat":${now() + 86400},"exp":${now() + 86460}}`),
        401,
        'ERR_TOKEN_INVALID',
      ],
      [
        'a token with exp 1e300',
        () => withClaims(`{"sid":"sid","iat":${now()},"exp":1e300}`),
        401,
        'ERR_TOKEN_INVALID',
      ],
    ];
    for (const [name, cookie, status, code] of limited) {
      it(`answers ${status} ${code} to ${name}`, async () => {
        proxy = await startProxyApp({ '/': options({ maxTokenLifetime: 3600 }) });
        const reply = await request(`${proxy.url}/x`, { headers: { cookie: cookie() } });
        assert.equal(reply.status, status);
        if (status === 200) assert.equal(backend.seen.length, 1);
        else {
          assert.match(reply.body, new RegExp(code));
          assert.deepEqual(backend.seen, []);
        }
      });
    }
  });
});

describe('many mounts on one server', () => {
  it('serves 50 mounts without a MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const mounts: Record<string, AuthProxyOptions> = {};
      for (let n = 0; n < 50; n++) mounts[`/m${n}`] = options();
      proxy = await startProxyApp(mounts);
      const headers = { cookie: authCookie('sid') };
      for (let n = 0; n < 50; n += 7) {
        const reply = await request(`${proxy.url}/m${n}/x`, { headers });
        assert.equal(reply.status, 200);
      }
      // Concurrent first requests, each through a mount not used yet.
      const replies = await Promise.all(
        [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13].map((n) =>
          request(`${proxy?.url ?? ''}/m${n}/y`, { headers }),
        ),
      );
      assert.deepEqual(
        replies.map((r) => r.status),
        replies.map(() => 200),
      );
      // Warnings are emitted on the next tick: let them arrive before looking.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(
      warnings.map((w) => `${w.name}: ${w.message}`),
      [],
    );
  });
});

describe('a backend that rejects the stored credentials', () => {
  // Answers what `reply` says, after reading the request; `hold` keeps the body open.
  async function backendAnswering(
    status: number,
    headers: Record<string, string | string[]>,
    hold = false,
  ): Promise<void> {
    await backend.close();
    backend = await startBackend((_req, res) => {
      res.writeHead(status, { 'content-type': 'text/html', ...headers });
      if (hold) res.write('<h1>backend login page</h1>');
      else res.end('<h1>backend login page</h1>');
    });
  }

  const challenges: [string, Record<string, string | string[]>][] = [
    ['a Basic challenge', { 'www-authenticate': 'Basic realm="mail"' }],
    [
      'Basic among several, in capitals',
      { 'www-authenticate': 'Bearer realm="a", BASIC realm="b"' },
    ],
    ['Basic on a second header line', { 'www-authenticate': ['Bearer realm="a"', 'basic'] }],
    ['a Digest challenge', { 'www-authenticate': 'Digest realm="mail", nonce="x"' }],
  ];
  for (const [name, headers] of challenges) {
    it(`answers 401 ERR_CREDENTIALS_REJECTED to ${name}, logging one warning`, async () => {
      await backendAnswering(401, headers);
      const lines: [string, string][] = [];
      const levels = (level: string) => (line: string) => lines.push([level, line]);
      proxy = await startProxyApp({
        '/mail': options({
          logger: {
            debug: levels('debug'),
            info: levels('info'),
            warn: levels('warn'),
            error: levels('error'),
          },
        }),
      });
      const reply = await request(`${proxy.url}/mail/inbox`, {
        headers: { cookie: authCookie('sid') },
      });
      assert.equal(reply.status, 401);
      assert.match(reply.body, /ERR_CREDENTIALS_REJECTED/);
      assert.equal(reply.headers['www-authenticate'], undefined);
      assert.ok(!reply.body.includes('backend login page'));
      assert.equal(backend.seen.length, 1);
      const sidHash = createHash('sha256').update('sid').digest('hex').slice(0, 12);
      assert.equal(lines.length, 1, JSON.stringify(lines));
      const [level, line] = lines[0] ?? ['', ''];
      assert.equal(level, 'warn');
      assert.match(line, /ERR_CREDENTIALS_REJECTED/);
      assert.match(line, /mount \/mail\b/);
      assert.ok(line.includes(`sid#${sidHash}`), line);
    });
  }

  it('lets an asynchronous onError answer alone, with nothing of the backend', async () => {
    await backendAnswering(401, { 'www-authenticate': 'Basic', 'x-backend': '1' });
    proxy = await startProxyApp({
      '/mail': options({
        onError: async (err, _req, res) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          res.redirect(`/login?reason=${err.code}`);
        },
      }),
    });
    const reply = await request(`${proxy.url}/mail/inbox`, {
      headers: { cookie: authCookie('sid') },
    });
    assert.equal(reply.status, 302);
    assert.equal(reply.headers.location, '/login?reason=ERR_CREDENTIALS_REJECTED');
    assert.equal(reply.headers['www-authenticate'], undefined);
    assert.equal(reply.headers['x-backend'], undefined);
    assert.ok(!reply.body.includes('backend login page'));
  });

  // Without the fix the held body is piped to the client, which waits: bounded generously.
  it(
    'closes the upstream response instead of leaving its socket open',
    { timeout: 10_000 },
    async () => {
      await backendAnswering(401, { 'www-authenticate': 'Basic' }, true);
      const upstreamClosed = new Promise((resolve) => {
        backend.server.once('connection', (socket: Socket) => socket.once('close', resolve));
      });
      proxy = await startProxyApp({ '/': options() });
      const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
      assert.equal(reply.status, 401);
      await upstreamClosed; // resolves only if the proxy lets go of the upstream connection
    },
  );

  it('passes a 401 without a login-box challenge through (a Bearer API)', async () => {
    await backendAnswering(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
    proxy = await startProxyApp({ '/': options() });
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 401);
    assert.equal(reply.headers['www-authenticate'], 'Bearer error="invalid_token"');
    assert.match(reply.body, /backend login page/);
  });

  it('drops a Basic challenge from any other status', async () => {
    await backendAnswering(200, { 'www-authenticate': 'Basic realm="x"' });
    proxy = await startProxyApp({ '/': options() });
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['www-authenticate'], undefined);
    assert.match(reply.body, /backend login page/);
  });

  it('answers 502 to a 407, never passing Proxy-Authenticate on', async () => {
    await backendAnswering(407, { 'proxy-authenticate': 'Basic realm="proxy"' });
    proxy = await startProxyApp({ '/': options() });
    const reply = await request(`${proxy.url}/x`, { headers: { cookie: authCookie('sid') } });
    assert.equal(reply.status, 502);
    assert.match(reply.body, /ERR_UPSTREAM_FAILED/);
    assert.equal(reply.headers['proxy-authenticate'], undefined);
  });
});
