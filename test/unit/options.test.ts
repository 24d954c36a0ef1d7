import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { resolveOptions } from '../../lib/options.js';
import { AuthProxyConfigError, MemorySessionStore } from '../../lib/index.js';

const VALID = {
  target: 'http://127.0.0.1:8080',
  jwtKey: 'secret',
  redis: 'redis://127.0.0.1:6379/0',
};

function problemsOf(options: unknown): readonly string[] {
  try {
    resolveOptions(options);
  } catch (err) {
    assert.ok(err instanceof AuthProxyConfigError, String(err));
    assert.equal(err.code, 'ERR_INVALID_OPTIONS');
    assert.ok(err instanceof TypeError);
    return err.problems;
  }
  assert.fail('resolveOptions accepted invalid options');
}

describe('resolveOptions', () => {
  it('applies the defaults', () => {
    const config = resolveOptions(VALID);
    assert.equal(config.target, 'http://127.0.0.1:8080');
    assert.equal(config.cookieName, 'Authorization');
    assert.deepEqual(config.algorithms, ['HS512']);
    assert.equal(config.clockTolerance, 0);
    assert.equal(config.maxTokenLifetime, undefined);
    assert.equal(config.keyPrefix, '');
    assert.equal(config.storeTimeout, 1000);
    assert.equal(config.decodeCredentials, undefined);
    assert.equal(config.proxyTimeout, undefined);
    assert.equal(config.rewriteUrls, true);
    assert.equal(config.sessionCache, undefined);
    assert.equal(config.ws, true);
    assert.equal(config.wsRecheckInterval, 30_000);
    assert.deepEqual(config.store, { kind: 'url', url: VALID.redis });
    assert.equal(config.jwtKey.type, 'secret');
    assert.equal(config.jwtKey.symmetricKeySize, 6);
  });

  it('does not modify the caller object', () => {
    const options = { ...VALID, proxy: { changeOrigin: false } };
    const copy = structuredClone(options);
    resolveOptions(options);
    assert.deepEqual(options, copy);
  });

  it('accepts a Buffer or KeyObject jwtKey, a URL target and a SessionStore', () => {
    const store = new MemorySessionStore();
    const config = resolveOptions({
      target: new URL('https://backend.test/remote.php/'),
      jwtKey: Buffer.from('k'),
      redis: store,
    });
    assert.equal(config.target, 'https://backend.test/remote.php');
    assert.deepEqual(config.store, { kind: 'store', store });
    const key = createSecretKey(Buffer.from('k'));
    assert.equal(resolveOptions({ ...VALID, jwtKey: key }).jwtKey, key);
  });

  it('treats undefined as absent', () => {
    const config = resolveOptions({ ...VALID, cookieName: undefined, logger: undefined });
    assert.equal(config.cookieName, 'Authorization');
  });

  it('builds the AES-GCM decoder from credentialsKey, and lets decodeCredentials override it', () => {
    assert.equal(
      typeof resolveOptions({ ...VALID, credentialsKey: 'a'.repeat(64) }).decodeCredentials,
      'function',
    );
    const decode = (s: string): string => s;
    assert.equal(
      resolveOptions({ ...VALID, credentialsKey: 'a'.repeat(64), decodeCredentials: decode })
        .decodeCredentials,
      decode,
    );
  });

  it('takes storeTimeout for every store, redisCommandTimeout as its former name', () => {
    const store = new MemorySessionStore();
    assert.equal(resolveOptions({ ...VALID, redis: store, storeTimeout: 250 }).storeTimeout, 250);
    assert.equal(
      resolveOptions({ ...VALID, redis: store, redisCommandTimeout: 300 }).storeTimeout,
      300,
    );
    assert.equal(
      resolveOptions({ ...VALID, storeTimeout: 250, redisCommandTimeout: 300 }).storeTimeout,
      250,
    );
  });

  it('accepts Sentinel and Cluster configurations, which the proxy will open', () => {
    const sentinel = { sentinels: [{ host: '10.0.0.1', port: 26379 }], name: 'sessions' };
    assert.deepEqual(resolveOptions({ ...VALID, redis: sentinel, keyPrefix: 's:' }).store, {
      kind: 'topology',
      topology: sentinel,
    });
    const cluster = { cluster: [{ host: '10.0.0.1', port: 6379 }], password: 'pw' };
    assert.deepEqual(resolveOptions({ ...VALID, redis: cluster }).store, {
      kind: 'topology',
      topology: cluster,
    });
  });

  it('reports every problem at once, each naming its option', () => {
    const problems = problemsOf({ cookiename: 'x', algorithms: ['none'], proxyTimeout: -1 });
    for (const option of [
      'target',
      'jwtKey',
      'redis',
      'cookiename',
      'algorithms',
      'proxyTimeout',
    ]) {
      assert.ok(
        problems.some((p) => p.startsWith(`${option}:`)),
        `no problem names ${option}: ${problems.join(' | ')}`,
      );
    }
  });

  const bad: [string, Record<string, unknown>][] = [
    ['target', { target: 'ftp://x' }],
    ['target', { target: 'not a url' }],
    ['target', { target: 'http://user:pw@x' }],
    ['target', { target: 'http://x/?q=1' }],
    ['target', { target: 42 }],
    ['jwtKey', { jwtKey: '' }],
    ['jwtKey', { jwtKey: 42 }],
    ['redis', { redis: 'http://127.0.0.1:6379' }],
    ['redis', { redis: {} }],
    ['redis.name', { redis: { sentinels: [{ host: 'h', port: 26379 }] } }],
    ['redis.sentinels', { redis: { sentinels: [], name: 'm' } }],
    ['redis.sentinels', { redis: { sentinels: ['h:26379'], name: 'm' } }],
    ['redis.cluster', { redis: { cluster: [{ host: 'h', port: 70000 }] } }],
    ['redis.retryStrategy', { redis: { cluster: [{ host: 'h', port: 1 }], retryStrategy: 1 } }],
    ['redis.db', { redis: { cluster: [{ host: 'h', port: 1 }], db: 1 } }],
    ['sessionCache', { redis: { cluster: [{ host: 'h', port: 1 }] }, sessionCache: true }],
    ['redis.password', { redis: { cluster: [{ host: 'h', port: 1 }], password: 1 } }],
    ['redis', { redis: { cluster: [{ host: 'h', port: 1 }], sentinels: [], name: 'm' } }],
    ['cookieName', { cookieName: '' }],
    ['cookieName', { cookieName: 'a b' }],
    ['algorithms', { algorithms: [] }],
    ['algorithms', { algorithms: ['RS256'] }],
    ['algorithms', { algorithms: 'HS512' }],
    ['clockTolerance', { clockTolerance: -1 }],
    ['clockTolerance', { clockTolerance: '5' }],
    ['maxTokenLifetime', { maxTokenLifetime: 0 }],
    ['maxTokenLifetime', { maxTokenLifetime: 3600.5 }],
    ['maxTokenLifetime', { maxTokenLifetime: '3600' }],
    ['keyPrefix', { keyPrefix: 3 }],
    ['keyPrefix', { keyPrefix: 'p:', redis: new MemorySessionStore() }],
    ['redisCommandTimeout', { redisCommandTimeout: 0 }],
    ['storeTimeout', { storeTimeout: 1.5 }],
    ['storeTimeout', { storeTimeout: '1000' }],
    ['sessionCache', { sessionCache: 'yes' }],
    ['sessionCache', { sessionCache: true, redis: new MemorySessionStore() }],
    ['sessionCache', { sessionCache: {}, redis: { sendCommand() {}, get() {}, isCluster: true } }],
    ['sessionCache.max', { sessionCache: { max: 0 } }],
    ['sessionCache.maxBytes', { sessionCache: { maxBytes: 1.5 } }],
    ['sessionCache.ttlSeconds', { sessionCache: { ttlSeconds: '60' } }],
    ['sessionCache.pingInterval', { sessionCache: { pingInterval: 5 } }],
    ['sessionCache.size', { sessionCache: { size: 10 } }],
    ['credentialsKey', { credentialsKey: 'too-short' }],
    ['credentialsKey', { credentialsKey: Buffer.alloc(31) }],
    ['decodeCredentials', { decodeCredentials: 'base64' }],
    ['proxyTimeout', { proxyTimeout: 1.5 }],
    ['logger', { logger: { info: () => undefined } }],
    ['onError', { onError: true }],
    ['proxy', { proxy: 'yes' }],
    ['proxy.target', { proxy: { target: 'http://elsewhere' } }],
    ['proxy.on', { proxy: { on: {} } }],
    ['proxy.headers', { proxy: { headers: { Authorization: 'Basic x' } } }],
    ['proxy.headers', { proxy: { headers: { cookie: 'a=1' } } }],
    ['rewriteUrls', { rewriteUrls: 'no' }],
    ['rewriteUrls', { rewriteUrls: true, proxy: { pathRewrite: { '^/a': '/b' } } }],
    // hpm's own ws: true would proxy upgrades straight from the server, without the chain.
    ['proxy.ws', { proxy: { ws: true } }],
    ['proxy.headers', { proxy: { headers: { 'Sec-WebSocket-Key': 'x' } } }],
    ['ws', { ws: 'no' }],
    ['wsRecheckInterval', { wsRecheckInterval: 0 }],
    ['wsRecheckInterval', { wsRecheckInterval: 1.5 }],
    ['wsRecheckInterval', { wsRecheckInterval: 2 ** 31 }],
    ['surprise', { surprise: true }],
  ];
  for (const [option, override] of bad) {
    it(`refuses ${option} = ${JSON.stringify(Object.values(override)[0])}`, () => {
      const problems = problemsOf({ ...VALID, ...override });
      assert.equal(problems.length, 1, problems.join(' | '));
      assert.ok(problems[0]?.startsWith(`${option}:`), problems[0]);
    });
  }

  it('does not translate URLs through a pathRewrite unless told not to', () => {
    const pathRewrite = { '^/a': '/b' };
    assert.equal(resolveOptions({ ...VALID, proxy: { pathRewrite } }).rewriteUrls, false);
    assert.equal(resolveOptions({ ...VALID, rewriteUrls: false }).rewriteUrls, false);
  });

  it('completes sessionCache settings, true meaning the defaults and false off', () => {
    const defaults = {
      max: 10_000,
      maxBytes: 16 * 1024 * 1024,
      ttlSeconds: 300,
      pingInterval: 1000,
    };
    assert.deepEqual(resolveOptions({ ...VALID, sessionCache: true }).sessionCache, defaults);
    assert.equal(resolveOptions({ ...VALID, sessionCache: false }).sessionCache, undefined);
    const given = { sessionCache: { max: 5, ttlSeconds: undefined, pingInterval: 50 } };
    assert.deepEqual(resolveOptions({ ...VALID, ...given }).sessionCache, {
      ...defaults,
      max: 5,
      pingInterval: 50,
    });
    const client = { sendCommand() {}, get() {}, isCluster: false };
    assert.ok(resolveOptions({ ...VALID, redis: client, sessionCache: true }).sessionCache);
  });

  it('explains app.use(authProxy) without the call', () => {
    const problems = problemsOf({ socket: {}, method: 'GET', headers: {} });
    assert.match(problems[0] ?? '', /authProxy\(\{/);
  });
});
