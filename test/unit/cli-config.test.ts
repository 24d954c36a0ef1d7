import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCli } from '../../lib/server/cli-config.js';
import type { ServerConfig } from '../../lib/server/cli-config.js';

const FILES: Record<string, string> = {
  '/keys/jwt': 'file-secret\n',
  '/keys/creds': `${'ab'.repeat(32)}\r\n`,
  '/keys/newline': '\n',
};
const readFile = (path: string): string => {
  const content = FILES[path];
  if (content === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  return content;
};
const BASE = [
  '--route',
  '/mail=http://127.0.0.1:8080',
  '--jwt-key-file',
  '/keys/jwt',
  '--redis',
  'redis://r:6379',
];

function config(argv: string[], env: Record<string, string> = {}): ServerConfig {
  const { command, problems } = parseCli(argv, env, readFile);
  assert.deepEqual(problems, []);
  assert.equal(command?.kind, 'serve');
  return (command as { config: ServerConfig }).config;
}

function problems(argv: string[], env: Record<string, string> = {}): string[] {
  const parsed = parseCli(argv, env, readFile);
  assert.equal(parsed.command, undefined);
  return parsed.problems;
}

describe('parseCli', () => {
  it('applies defaults and reads the key file without its final newline', () => {
    const c = config(BASE);
    assert.deepEqual(c.routes, [{ path: '/mail', target: 'http://127.0.0.1:8080' }]);
    assert.equal(c.jwtKey, 'file-secret');
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 3000);
    assert.equal(c.redisTimeout, 1000);
    assert.equal(c.shutdownTimeout, 10_000);
    assert.equal(c.accessLog, true);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.proxyTimeout, undefined);
    assert.equal(c.maxTokenLifetime, undefined);
    assert.equal(c.ws, true);
    assert.equal(c.wsRecheckInterval, 30_000);
  });

  it('reads --max-token-lifetime and its environment twin', () => {
    assert.equal(config([...BASE, '--max-token-lifetime', '3600']).maxTokenLifetime, 3600);
    assert.equal(config(BASE, { AUTH_PROXY_MAX_TOKEN_LIFETIME: '60' }).maxTokenLifetime, 60);
  });

  it('reads the WebSocket settings and checks them', () => {
    const c = config([...BASE, '--ws', 'off', '--ws-recheck-interval', '5000']);
    assert.deepEqual([c.ws, c.wsRecheckInterval], [false, 5000]);
    assert.equal(config(BASE, { AUTH_PROXY_WS_RECHECK_INTERVAL: '700' }).wsRecheckInterval, 700);
    const found = problems([...BASE, '--ws', 'maybe', '--ws-recheck-interval', '0']);
    assert.ok(
      found.some((p) => p.startsWith('--ws:')),
      found.join(' | '),
    );
    assert.ok(
      found.some((p) => p.startsWith('--ws-recheck-interval:')),
      found.join(' | '),
    );
  });

  it('takes every setting from its environment twin, flags winning', () => {
    const env = {
      AUTH_PROXY_ROUTES: '/a=http://a.test, /b/=http://b.test/x',
      AUTH_PROXY_JWT_KEY: 'env-secret',
      AUTH_PROXY_CREDENTIALS_KEY_FILE: '/keys/creds',
      AUTH_PROXY_REDIS: 'redis://env:6379',
      AUTH_PROXY_PORT: '8080',
      AUTH_PROXY_HOST: '0.0.0.0',
      AUTH_PROXY_PROXY_TIMEOUT: '5000',
      AUTH_PROXY_ACCESS_LOG: 'off',
      AUTH_PROXY_LOG_LEVEL: 'warn',
    };
    const c = config([], env);
    assert.deepEqual(c.routes, [
      { path: '/a', target: 'http://a.test' },
      { path: '/b', target: 'http://b.test/x' },
    ]);
    assert.equal(c.jwtKey, 'env-secret');
    assert.equal(c.credentialsKey, 'ab'.repeat(32));
    assert.deepEqual(
      [c.redis, c.port, c.host, c.proxyTimeout, c.accessLog, c.logLevel],
      ['redis://env:6379', 8080, '0.0.0.0', 5000, false, 'warn'],
    );
    assert.equal(config(['--port', '9090', '--redis', 'redis://flag:1'], env).port, 9090);
    assert.equal(
      config(['--port', '9090', '--redis', 'redis://flag:1'], env).redis,
      'redis://flag:1',
    );
  });

  it('lets flags win over the environment as a whole', () => {
    const env = { AUTH_PROXY_JWT_KEY_FILE: '/keys/jwt', AUTH_PROXY_ROUTES: '/env=http://env.test' };
    const c = config(
      ['--jwt-key', 'flag-secret', '--target', 'http://flag.test', '--redis', 'redis://r'],
      env,
    );
    assert.equal(c.jwtKey, 'flag-secret');
    assert.deepEqual(c.routes, [{ path: '/', target: 'http://flag.test' }]);
    const both = problems([], { ...env, AUTH_PROXY_JWT_KEY: 'x', AUTH_PROXY_REDIS: 'redis://r' });
    assert.ok(
      both.some((p) => p.includes('AUTH_PROXY_JWT_KEY or AUTH_PROXY_JWT_KEY_FILE, not both')),
    );
  });

  it('lets --redis-uri win over AUTH_PROXY_REDIS', () => {
    const c = config([...BASE.slice(0, 4), '--redis-uri', 'redis://flag'], {
      AUTH_PROXY_REDIS: 'redis://env',
    });
    assert.equal(c.redis, 'redis://flag');
  });

  it('accepts --target and --redis-uri as the seed had them', () => {
    const c = config([
      '--target',
      'http://t.test',
      '--jwt-key-file',
      '/keys/jwt',
      '--redis-uri',
      'redis://r',
    ]);
    assert.deepEqual(c.routes, [{ path: '/', target: 'http://t.test' }]);
    assert.equal(c.redis, 'redis://r');
  });

  it('warns when a secret is given as a flag', () => {
    const parsed = parseCli(
      ['--route', '/=http://x', '--jwt-key', 's', '--redis', 'redis://r'],
      {},
      readFile,
    );
    assert.match(parsed.warnings.join(), /--jwt-key puts a secret in the process list/);
  });

  const bad: [string, string[], string][] = [
    ['no route', ['--jwt-key-file', '/keys/jwt', '--redis', 'redis://r'], '--route: at least one'],
    ['a route without =', [...BASE, '--route', '/dav'], '--route /dav:'],
    ['a relative route', [...BASE, '--route', 'dav=http://x'], '--route dav=http://x:'],
    ['a route twice', [...BASE, '--route', '/mail/=http://y'], 'mounted twice'],
    ['a health path', [...BASE, '--route', '/healthz=http://y'], 'health endpoint'],
    [
      'a bad target',
      [...BASE, '--route', '/x=ftp://y'],
      '--route /x: must be an http: or https: URL',
    ],
    [
      'a key and a key file',
      [...BASE, '--jwt-key', 's'],
      '--jwt-key: give --jwt-key or --jwt-key-file, not both',
    ],
    ['a route twice in another case', [...BASE, '--route', '/MAIL=http://y'], 'mounted twice'],
    ['a health path in capitals', [...BASE, '--route', '/HEALTHZ=http://y'], 'health endpoint'],
    [
      'route syntax in a path',
      [...BASE, '--route', '/a(b)=http://y'],
      '--route /a(b)=http://y: must',
    ],
    [
      'a missing key file',
      ['--target', 'http://x', '--jwt-key-file', '/nope', '--redis', 'redis://r'],
      '--jwt-key-file /nope: cannot be read (ENOENT)',
    ],
    [
      'a bad credentials key',
      [...BASE, '--credentials-key', 'short'],
      '--credentials-key: must be 32 bytes',
    ],
    ['a bad redis URL', [...BASE.slice(0, 4), '--redis', 'http://r'], '--redis: a string must be'],
    [
      'a bad port',
      [...BASE, '--port', '70000'],
      '--port: must be a whole number >= 0 and <= 65535',
    ],
    [
      'a zero timeout',
      [...BASE, '--proxy-timeout', '0'],
      '--proxy-timeout: must be a whole number of milliseconds > 0',
    ],
    [
      'a fractional timeout',
      [...BASE, '--proxy-timeout', '1.5'],
      '--proxy-timeout: must be a whole number of milliseconds > 0',
    ],
    [
      'a timeout that is not a number',
      [...BASE, '--proxy-timeout', '5s'],
      '--proxy-timeout: must be a whole number of milliseconds > 0',
    ],
    [
      'a fractional Redis timeout',
      [...BASE, '--redis-timeout', '2.5'],
      '--redis-timeout: must be a whole number of milliseconds > 0',
    ],
    [
      'a negative clock tolerance',
      [...BASE, '--clock-tolerance=-1'],
      '--clock-tolerance: must be a number of seconds >= 0',
    ],
    [
      'a bad token lifetime',
      [...BASE, '--max-token-lifetime', '0'],
      '--max-token-lifetime: must be a whole number of seconds > 0',
    ],
    [
      'a port that is not a number',
      [...BASE, '--port', '80a'],
      '--port: must be a whole number >= 0 and <= 65535',
    ],
    [
      'a bad shutdown timeout',
      [...BASE, '--shutdown-timeout', '1.5'],
      '--shutdown-timeout: must be a whole number >= 0',
    ],
    [
      'a key file holding only a newline',
      ['--target', 'http://x', '--jwt-key-file', '/keys/newline', '--redis', 'redis://r'],
      '--jwt-key-file /keys/newline: empty',
    ],
    [
      'a credentials key file holding only a newline',
      [...BASE, '--credentials-key-file', '/keys/newline'],
      '--credentials-key-file /keys/newline: empty',
    ],
    ['a bad cookie name', [...BASE, '--cookie-name', 'a b'], '--cookie-name: must be'],
    ['a bad access log', [...BASE, '--access-log', 'yes'], '--access-log: must be on or off'],
    ['a bad log level', [...BASE, '--log-level', 'loud'], '--log-level: must be one of'],
    ['an unknown flag', [...BASE, '--prot', '1'], "Unknown option '--prot'"],
  ];
  // One bad value, one message: never a second one from authProxy's own validation in other words.
  for (const [name, argv, expected] of bad) {
    it(`reports ${name}, once`, () => {
      const found = problems(argv);
      assert.equal(found.length, 1, found.join(' | '));
      assert.ok(found[0]?.includes(expected), `${expected} not in ${found.join(' | ')}`);
    });
  }

  it('reads the timeouts of the environment the same way, with the same message', () => {
    assert.equal(config(BASE, { AUTH_PROXY_PROXY_TIMEOUT: '250' }).proxyTimeout, 250);
    assert.equal(config(BASE, { AUTH_PROXY_CLOCK_TOLERANCE: '1.5' }).clockTolerance, 1.5);
    assert.deepEqual(problems(BASE, { AUTH_PROXY_PROXY_TIMEOUT: '1.5' }), [
      '--proxy-timeout: must be a whole number of milliseconds > 0',
    ]);
  });

  it('recognises --help and --version before anything else', () => {
    assert.deepEqual(parseCli(['--help', '--port', 'x'], {}, readFile).command, { kind: 'help' });
    assert.deepEqual(parseCli(['-h'], {}, readFile).command, { kind: 'help' });
    assert.deepEqual(parseCli(['--version'], {}, readFile).command, { kind: 'version' });
  });
});

describe('parseCli: Redis topologies and the session cache', () => {
  const ROUTE = BASE.slice(0, 4);

  it('reads a Sentinel group from flags, IPv6 hosts in brackets', () => {
    const c = config([
      ...ROUTE,
      '--redis-sentinel',
      '10.0.0.1:26379, [::1]:26380',
      '--redis-master-name',
      'sessions',
    ]);
    assert.deepEqual(c.redis, {
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'sessions',
    });
    assert.equal(c.sessionCache, false);
  });

  it('reads a Cluster from the environment, with the password from its file', () => {
    FILES['/keys/redis'] = 'hunter2\n';
    const c = config(ROUTE, {
      AUTH_PROXY_REDIS_CLUSTER: 'a:7000,b:7001',
      AUTH_PROXY_REDIS_PASSWORD_FILE: '/keys/redis',
    });
    assert.deepEqual(c.redis, {
      cluster: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      password: 'hunter2',
    });
  });

  it('lets any Redis flag replace the environment as a whole', () => {
    const c = config([...ROUTE, '--redis-cluster', 'a:7000'], {
      AUTH_PROXY_REDIS: 'redis://env',
      AUTH_PROXY_REDIS_SENTINEL: 'x:1',
    });
    assert.deepEqual(c.redis, { cluster: [{ host: 'a', port: 7000 }] });
  });

  it('turns the session cache on with a URL or Sentinel', () => {
    assert.equal(config([...BASE, '--session-cache', 'on']).sessionCache, true);
    const env = { AUTH_PROXY_REDIS_SENTINEL: 's:1', AUTH_PROXY_REDIS_MASTER_NAME: 'm' };
    assert.equal(config(ROUTE, { ...env, AUTH_PROXY_SESSION_CACHE: 'on' }).sessionCache, true);
  });

  it('reports one problem per bad node, and every other mistake', () => {
    assert.deepEqual(problems([...ROUTE, '--redis-cluster', 'a:7000,b,c:0,:1,d:99999']), [
      '--redis-cluster b: must be HOST:PORT, port 1-65535',
      '--redis-cluster c:0: must be HOST:PORT, port 1-65535',
      '--redis-cluster :1: must be HOST:PORT, port 1-65535',
      '--redis-cluster d:99999: must be HOST:PORT, port 1-65535',
    ]);
    assert.deepEqual(problems([...ROUTE, '--redis-sentinel', 's:1']), [
      '--redis-master-name: required with --redis-sentinel, the name the sentinels monitor',
    ]);
    assert.deepEqual(problems([...BASE, '--redis-master-name', 'm']), [
      '--redis-master-name: only with --redis-sentinel',
    ]);
    assert.deepEqual(problems([...BASE, '--redis-cluster', 'a:1']), [
      '--redis: give one of --redis, --redis-cluster, not several',
    ]);
    assert.deepEqual(problems([...ROUTE, '--redis-cluster', 'a:1', '--session-cache', 'on']), [
      '--session-cache: not available with --redis-cluster (invalidations cannot be kept exact across nodes)',
    ]);
    assert.deepEqual(problems([...BASE, '--session-cache', 'yes']), [
      '--session-cache: must be on or off',
    ]);
    assert.deepEqual(problems(BASE, { AUTH_PROXY_REDIS_PASSWORD: 'p' }), [
      '--redis-password-file: only with --redis-sentinel or --redis-cluster (a URL carries its own)',
    ]);
  });

  it('pings the topology with --check-config', () => {
    const parsed = parseCli(
      [...ROUTE, '--redis-cluster', 'a:7000', '--check-config'],
      {},
      readFile,
    );
    assert.deepEqual(parsed.checkRedis, {
      redis: { cluster: [{ host: 'a', port: 7000 }] },
      timeout: 1000,
    });
  });
});

describe('parseCli: workers and metrics', () => {
  it('defaults to one process without metrics', () => {
    const c = config(BASE);
    assert.equal(c.workers, 1);
    assert.equal(c.metrics, 'off');
  });

  it('serves metrics on the main port, or on a port of their own', () => {
    assert.equal(config([...BASE, '--metrics', 'on']).metrics, 'main');
    assert.deepEqual(config([...BASE, '--metrics-port', '9100']).metrics, { port: 9100 });
    assert.deepEqual(config(BASE, { AUTH_PROXY_WORKERS: '4', AUTH_PROXY_METRICS_PORT: '9100' }), {
      ...config(BASE),
      workers: 4,
      metrics: { port: 9100 },
    });
  });

  it('reports each mistake', () => {
    assert.deepEqual(problems([...BASE, '--workers', '0', '--metrics', 'yes']), [
      '--workers: must be a whole number >= 1 and <= 256',
      '--metrics: must be on or off',
    ]);
    assert.deepEqual(problems([...BASE, '--metrics', 'off', '--metrics-port', '9100']), [
      '--metrics-port: conflicts with --metrics off',
    ]);
    assert.deepEqual(problems([...BASE, '--port', '9100', '--metrics-port', '9100']), [
      '--metrics-port: must differ from --port',
    ]);
    assert.deepEqual(problems([...BASE, '--workers', '2', '--metrics', 'on']), [
      "--metrics: with --workers above 1, give --metrics-port (the primary process serves every worker's metrics there)",
    ]);
    assert.match(problems([...BASE, '--route', '/metrics=http://y']).join(), /\/metrics/);
  });
});
