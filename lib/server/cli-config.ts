import { parseArgs } from 'node:util';
import { AuthProxyConfigError } from '../errors.js';
import { resolveOptions } from '../options.js';
import type { RedisNode, RedisTopology } from '../sessions/redis-topology.js';

/** One CLI setting: its flag, its environment twin and what `--help` says of it. */
interface Setting {
  flag: string;
  env?: string;
  value: string;
  help: string;
  multiple?: boolean;
  short?: string;
}

const SETTINGS = [
  {
    flag: 'route',
    env: 'AUTH_PROXY_ROUTES',
    value: 'PATH=URL',
    multiple: true,
    help: 'mount PATH proxied to backend URL; repeat for several (env: comma-separated)',
  },
  { flag: 'target', env: 'AUTH_PROXY_TARGET', value: 'URL', help: 'shorthand for --route /=URL' },
  {
    flag: 'jwt-key-file',
    env: 'AUTH_PROXY_JWT_KEY_FILE',
    value: 'PATH',
    help: 'file holding the JWT HMAC secret (one trailing newline ignored)',
  },
  {
    flag: 'jwt-key',
    env: 'AUTH_PROXY_JWT_KEY',
    value: 'SECRET',
    help: 'the JWT HMAC secret itself; visible in `ps` as a flag, prefer the file or env',
  },
  {
    flag: 'credentials-key-file',
    env: 'AUTH_PROXY_CREDENTIALS_KEY_FILE',
    value: 'PATH',
    help: 'file holding the AES-256-GCM key of sealed credentials (64 hex or base64)',
  },
  {
    flag: 'credentials-key',
    env: 'AUTH_PROXY_CREDENTIALS_KEY',
    value: 'KEY',
    help: 'the credentials key itself; prefer the file or env',
  },
  {
    flag: 'redis',
    env: 'AUTH_PROXY_REDIS',
    value: 'URL',
    help: 'redis:// or rediss:// URL of the session store (alias --redis-uri)',
  },
  { flag: 'redis-uri', value: 'URL', help: '' },
  {
    flag: 'redis-sentinel',
    env: 'AUTH_PROXY_REDIS_SENTINEL',
    value: 'HOST:PORT,...',
    help: 'sentinels to ask where the master is, instead of --redis (with --redis-master-name)',
  },
  {
    flag: 'redis-master-name',
    env: 'AUTH_PROXY_REDIS_MASTER_NAME',
    value: 'NAME',
    help: 'the master group name the sentinels monitor',
  },
  {
    flag: 'redis-cluster',
    env: 'AUTH_PROXY_REDIS_CLUSTER',
    value: 'HOST:PORT,...',
    help: 'some nodes of a Redis Cluster, instead of --redis (the others are discovered)',
  },
  {
    flag: 'redis-password-file',
    env: 'AUTH_PROXY_REDIS_PASSWORD_FILE',
    value: 'PATH',
    help: 'file holding the password of the Sentinel or Cluster data nodes (env: or AUTH_PROXY_REDIS_PASSWORD)',
  },
  {
    flag: 'session-cache',
    env: 'AUTH_PROXY_SESSION_CACHE',
    value: 'on|off',
    help: 'keep sessions in memory, kept exact by Redis client tracking (not with Cluster; default off)',
  },
  {
    flag: 'key-prefix',
    env: 'AUTH_PROXY_KEY_PREFIX',
    value: 'PREFIX',
    help: "prepended to the sid to form the Redis key (default '')",
  },
  {
    flag: 'cookie-name',
    env: 'AUTH_PROXY_COOKIE_NAME',
    value: 'NAME',
    help: 'name of the JWT cookie (default Authorization)',
  },
  {
    flag: 'host',
    env: 'AUTH_PROXY_HOST',
    value: 'ADDRESS',
    help: 'listen address (default 127.0.0.1)',
  },
  {
    flag: 'port',
    env: 'AUTH_PROXY_PORT',
    value: 'PORT',
    help: 'listen port (default 3000; 0 picks a free one)',
  },
  {
    flag: 'proxy-timeout',
    env: 'AUTH_PROXY_PROXY_TIMEOUT',
    value: 'MS',
    help: 'backend inactivity before 504 (default none)',
  },
  {
    flag: 'redis-timeout',
    env: 'AUTH_PROXY_REDIS_TIMEOUT',
    value: 'MS',
    help: 'how long a session lookup may take before 503 (default 1000)',
  },
  {
    flag: 'clock-tolerance',
    env: 'AUTH_PROXY_CLOCK_TOLERANCE',
    value: 'SECONDS',
    help: 'clock skew allowed on exp/nbf (default 0)',
  },
  {
    flag: 'max-token-lifetime',
    env: 'AUTH_PROXY_MAX_TOKEN_LIFETIME',
    value: 'SECONDS',
    help: 'refuse tokens living longer (exp - iat) or without iat (default no limit)',
  },
  {
    flag: 'shutdown-timeout',
    env: 'AUTH_PROXY_SHUTDOWN_TIMEOUT',
    value: 'MS',
    help: 'how long in-flight requests may finish on SIGTERM (default 10000)',
  },
  {
    flag: 'ws',
    env: 'AUTH_PROXY_WS',
    value: 'on|off',
    help: 'proxy WebSocket handshakes through the same checks (off: refused with 403; default on)',
  },
  {
    flag: 'ws-recheck-interval',
    env: 'AUTH_PROXY_WS_RECHECK_INTERVAL',
    value: 'MS',
    help: "how often an open WebSocket's session is checked (default 30000)",
  },
  {
    flag: 'workers',
    env: 'AUTH_PROXY_WORKERS',
    value: 'N',
    help: 'worker processes sharing the port (node:cluster), sharing nothing but Redis (default 1)',
  },
  {
    flag: 'metrics',
    env: 'AUTH_PROXY_METRICS',
    value: 'on|off',
    help: 'Prometheus metrics at GET /metrics (default off)',
  },
  {
    flag: 'metrics-port',
    env: 'AUTH_PROXY_METRICS_PORT',
    value: 'PORT',
    help: 'serve /metrics on this port (same --host; 0 picks a free one) instead of the main one; implies --metrics on',
  },
  {
    flag: 'access-log',
    env: 'AUTH_PROXY_ACCESS_LOG',
    value: 'on|off',
    help: 'one line per request on stdout, never a cookie or query (default on)',
  },
  {
    flag: 'log-level',
    env: 'AUTH_PROXY_LOG_LEVEL',
    value: 'LEVEL',
    help: 'error, warn, info or debug, on stderr (default info)',
  },
] as const satisfies readonly Setting[];

type SettingName = (typeof SETTINGS)[number]['flag'];

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything the standalone server needs, validated. */
export interface ServerConfig {
  routes: { path: string; target: string }[];
  jwtKey: string;
  credentialsKey: string | undefined;
  /** A redis:// URL, or a Sentinel or Cluster configuration. */
  redis: string | RedisTopology;
  sessionCache: boolean;
  keyPrefix: string;
  cookieName: string | undefined;
  host: string;
  port: number;
  proxyTimeout: number | undefined;
  redisTimeout: number;
  clockTolerance: number;
  maxTokenLifetime: number | undefined;
  shutdownTimeout: number;
  ws: boolean;
  wsRecheckInterval: number;
  accessLog: boolean;
  logLevel: LogLevel;
  workers: number;
  /** Off, on the main port, or on a port of its own. */
  metrics: { port: number } | 'main' | 'off';
}

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'serve'; config: ServerConfig; checkOnly: boolean };

export interface ParsedCli {
  /** Undefined when there are problems. */
  command: CliCommand | undefined;
  problems: string[];
  /**
   * With --check-config, the Redis to ping even when other settings have problems (undefined when
   * the URL itself is missing or malformed), so that one run lists everything.
   */
  checkRedis?: { redis: string | RedisTopology; timeout: number };
  warnings: string[];
}

const RESERVED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Reads flags, then their environment twins, then defaults, into a ServerConfig. Pure apart from
 * `readFile`, so every problem can be listed at once and tested without a process.
 */
export function parseCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string,
): ParsedCli {
  const problems: string[] = [];
  const warnings: string[] = [];
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(
          SETTINGS.map((s) => [
            s.flag,
            { type: 'string' as const, multiple: 'multiple' in s ? s.multiple : false },
          ]),
        ),
        'check-config': { type: 'boolean' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return { command: undefined, problems: [(err as Error).message], warnings };
  }
  const flags = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (flags.help === true) return { command: { kind: 'help' }, problems, warnings };
  if (flags.version === true) return { command: { kind: 'version' }, problems, warnings };

  const setting = (name: SettingName): string | undefined => {
    const flag = flags[name];
    if (typeof flag === 'string') return flag;
    const twin = SETTINGS.find((s) => s.flag === name);
    const fromEnv = twin !== undefined && 'env' in twin ? env[twin.env] : undefined;
    return fromEnv === '' ? undefined : fromEnv;
  };

  // Flags win as a whole: routes given on the command line replace those of the environment.
  const flagRoutes = [
    ...(Array.isArray(flags.route) ? flags.route : []),
    ...(typeof flags.target === 'string' ? [`/=${flags.target}`] : []),
  ];
  const envRoutes = [
    ...(env.AUTH_PROXY_ROUTES ?? '').split(','),
    ...(env.AUTH_PROXY_TARGET === undefined ? [] : [`/=${env.AUTH_PROXY_TARGET}`]),
  ]
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '' && spec !== '/=');
  const routes = parseRoutes(flagRoutes.length > 0 ? flagRoutes : envRoutes, problems);
  const jwtKey = secret('jwt-key', flags, env, readFile, problems, warnings);
  const credentialsKey = secret('credentials-key', flags, env, readFile, problems, warnings);
  if (jwtKey === undefined && !problems.some((p) => p.startsWith('--jwt-key'))) {
    problems.push('--jwt-key-file: required (or --jwt-key, AUTH_PROXY_JWT_KEY[_FILE])');
  }
  const redis = redisSetting(flags, setting, env, readFile, problems);
  const sessionCache = setting('session-cache') ?? 'off';
  if (sessionCache !== 'on' && sessionCache !== 'off') {
    problems.push('--session-cache: must be on or off');
  } else if (sessionCache === 'on' && redis !== undefined && typeof redis !== 'string') {
    if ('cluster' in redis) {
      problems.push(
        '--session-cache: not available with --redis-cluster (invalidations cannot be kept exact across nodes)',
      );
    }
  }

  const port = integer('port', setting('port'), 3000, problems, { min: 0, max: 65535 });
  const ws = setting('ws') ?? 'on';
  if (ws !== 'on' && ws !== 'off') problems.push('--ws: must be on or off');
  const workers = integer('workers', setting('workers'), 1, problems, { min: 1, max: 256 });
  const metricsSetting = setting('metrics');
  const metricsPortSetting = setting('metrics-port');
  let metrics: ServerConfig['metrics'] = 'off';
  if (metricsSetting !== undefined && metricsSetting !== 'on' && metricsSetting !== 'off') {
    problems.push('--metrics: must be on or off');
  } else if (metricsPortSetting !== undefined) {
    const metricsPort = integer('metrics-port', metricsPortSetting, 0, problems, {
      min: 0,
      max: 65535,
    });
    if (metricsSetting === 'off') problems.push('--metrics-port: conflicts with --metrics off');
    else if (metricsPort === port && metricsPort !== 0) {
      problems.push('--metrics-port: must differ from --port');
    } else metrics = { port: metricsPort };
  } else if (metricsSetting === 'on') {
    metrics = 'main';
    // Each worker would answer for itself alone: only the primary process sees them all.
    if (workers > 1) {
      problems.push(
        "--metrics: with --workers above 1, give --metrics-port (the primary process serves every worker's metrics there)",
      );
    }
  }
  const accessLog = setting('access-log') ?? 'on';
  if (accessLog !== 'on' && accessLog !== 'off') problems.push('--access-log: must be on or off');
  const logLevel = setting('log-level') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`--log-level: must be one of ${LOG_LEVELS.join(', ')}`);
  }

  const config: ServerConfig = {
    routes,
    jwtKey: jwtKey ?? '',
    credentialsKey,
    redis: redis ?? '',
    sessionCache: sessionCache === 'on',
    keyPrefix: setting('key-prefix') ?? '',
    cookieName: setting('cookie-name'),
    host: setting('host') ?? '127.0.0.1',
    port,
    // authProxy options: its validation (checkWithAuthProxy below) is the one that judges them.
    proxyTimeout: optionNumber(setting('proxy-timeout')),
    redisTimeout: optionNumber(setting('redis-timeout')) ?? 1000,
    clockTolerance: optionNumber(setting('clock-tolerance')) ?? 0,
    maxTokenLifetime: optionNumber(setting('max-token-lifetime')),
    shutdownTimeout: integer('shutdown-timeout', setting('shutdown-timeout'), 10_000, problems, {
      min: 0,
    }),
    ws: ws === 'on',
    wsRecheckInterval: optionNumber(setting('ws-recheck-interval')) ?? 30_000,
    accessLog: accessLog === 'on',
    logLevel: logLevel as LogLevel,
    workers,
    metrics,
  };
  const skip = new Set<string>();
  if (jwtKey === undefined) skip.add('jwtKey');
  if (redis === undefined) skip.add('redis');
  checkWithAuthProxy(config, skip, problems);
  const checkOnly = flags['check-config'] === true;
  // Also false for a bad --redis-timeout, which the ping would use.
  const redisOk = redis !== undefined && !problems.some((p) => p.startsWith('--redis'));
  return {
    command: problems.length === 0 ? { kind: 'serve', config, checkOnly } : undefined,
    problems,
    warnings,
    ...(checkOnly && redisOk ? { checkRedis: { redis, timeout: config.redisTimeout } } : {}),
  };
}

/**
 * Where sessions are: exactly one of --redis (URL), --redis-sentinel with --redis-master-name, or
 * --redis-cluster, flags winning over their environment twins as a whole.
 */
function redisSetting(
  flags: Record<string, unknown>,
  setting: (name: SettingName) => string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string,
  problems: string[],
): string | RedisTopology | undefined {
  const given = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined;
  const topologyFlags = ['redis-sentinel', 'redis-master-name', 'redis-cluster'] as const;
  const anyFlag =
    given(flags.redis) !== undefined ||
    given(flags['redis-uri']) !== undefined ||
    topologyFlags.some((name) => given(flags[name]) !== undefined);
  // Flags win as a whole: --redis-cluster on the command line replaces AUTH_PROXY_REDIS.
  const from = (name: SettingName): string | undefined =>
    anyFlag ? given(flags[name]) : setting(name);
  const url = from('redis') ?? (anyFlag ? given(flags['redis-uri']) : undefined);
  const sentinels = from('redis-sentinel');
  const masterName = from('redis-master-name');
  const cluster = from('redis-cluster');
  const chosen = [
    url && '--redis',
    sentinels && '--redis-sentinel',
    cluster && '--redis-cluster',
  ].filter((name): name is string => typeof name === 'string');
  if (chosen.length === 0) {
    problems.push(
      '--redis: required, a redis:// URL (or --redis-sentinel with --redis-master-name, or --redis-cluster; or AUTH_PROXY_REDIS...)',
    );
    return undefined;
  }
  if (chosen.length > 1) {
    problems.push(`--redis: give one of ${chosen.join(', ')}, not several`);
    return undefined;
  }
  if (masterName !== undefined && sentinels === undefined) {
    problems.push('--redis-master-name: only with --redis-sentinel');
  }
  const password = secret('redis-password', flags, env, readFile, problems, []);
  if (url !== undefined) {
    if (password !== undefined) {
      problems.push(
        '--redis-password-file: only with --redis-sentinel or --redis-cluster (a URL carries its own)',
      );
    }
    return url;
  }
  const auth = password === undefined ? {} : { password };
  if (sentinels !== undefined) {
    const nodes = nodeList('redis-sentinel', sentinels, problems);
    if (masterName === undefined) {
      problems.push(
        '--redis-master-name: required with --redis-sentinel, the name the sentinels monitor',
      );
      return undefined;
    }
    return nodes && { sentinels: nodes, name: masterName, ...auth };
  }
  const nodes = nodeList('redis-cluster', cluster ?? '', problems);
  return nodes && { cluster: nodes, ...auth };
}

/** `HOST:PORT,HOST:PORT` (IPv6 hosts in brackets), one problem per bad entry. */
function nodeList(name: SettingName, list: string, problems: string[]): RedisNode[] | undefined {
  const nodes: RedisNode[] = [];
  let bad = false;
  for (const entry of list.split(',').map((part) => part.trim())) {
    const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    if (match === null || port < 1 || port > 65535) {
      problems.push(
        `--${name} ${entry === '' ? '(empty)' : entry}: must be HOST:PORT, port 1-65535`,
      );
      bad = true;
    } else {
      nodes.push({ host: (match[1] ?? '').replace(/^\[(.*)\]$/, '$1'), port });
    }
  }
  return bad ? undefined : nodes;
}

// Plain path characters only: Express would read ( ) * : ? + ! { } as route syntax.
const ROUTE_PATH = /^\/[A-Za-z0-9._~%/-]*$/;

function parseRoutes(specs: string[], problems: string[]): { path: string; target: string }[] {
  if (specs.length === 0) {
    problems.push('--route: at least one PATH=URL is required (or --target URL)');
  }
  const routes: { path: string; target: string }[] = [];
  // Express matches paths without regard to case, so duplicates are compared the same way.
  const taken = new Set<string>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const path = eq < 0 ? '' : spec.slice(0, eq).replace(/(.)\/+$/, '$1');
    const key = path.toLowerCase();
    if (eq < 0 || !ROUTE_PATH.test(path)) {
      problems.push(
        `--route ${spec}: must be PATH=URL, PATH made of / letters digits . _ ~ % - (e.g. /mail=http://127.0.0.1:8080)`,
      );
    } else if (RESERVED_PATHS.has(key)) {
      problems.push(`--route ${spec}: ${path} is the server's own health endpoint`);
    } else if (taken.has(key)) {
      problems.push(`--route ${spec}: ${path} is mounted twice`);
    } else {
      taken.add(key);
      routes.push({ path, target: spec.slice(eq + 1) });
    }
  }
  return routes;
}

/**
 * A secret from its flag, its file flag, or (when neither flag is given) their environment twins.
 * Two sources at the same level are a mistake worth reporting, not a silent choice.
 */
function secret(
  name: 'jwt-key' | 'credentials-key' | 'redis-password',
  flags: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string,
  problems: string[],
  warnings: string[],
): string | undefined {
  const envName = `AUTH_PROXY_${name.toUpperCase().replaceAll('-', '_')}`;
  const given = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined;
  const flagValue = given(flags[name]);
  if (flagValue !== undefined) {
    warnings.push(
      `--${name} puts a secret in the process list; prefer --${name}-file or the environment`,
    );
  }
  const [value, file, what] =
    flagValue !== undefined || given(flags[`${name}-file`]) !== undefined
      ? [flagValue, given(flags[`${name}-file`]), `--${name} or --${name}-file`]
      : [given(env[envName]), given(env[`${envName}_FILE`]), `${envName} or ${envName}_FILE`];
  if (value !== undefined && file !== undefined) {
    problems.push(`--${name}: give ${what}, not both`);
    return undefined;
  }
  if (file === undefined) return value;
  try {
    // Key files are usually written with a final newline that is not part of the secret.
    const content = readFile(file).replace(/\r?\n$/, '');
    if (content.trim() !== '') return content;
    problems.push(`--${name}-file ${file}: empty`);
    return undefined;
  } catch (err) {
    problems.push(
      `--${name}-file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
    return undefined;
  }
}

/**
 * A setting that is an authProxy option, as a number for authProxy's validation to judge, so that
 * a bad value gets one message in one wording: plain decimal notation, anything else NaN.
 */
function optionNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
}

/** A setting of the server alone (not an authProxy option), checked here. */
function integer(
  name: SettingName,
  value: string | undefined,
  fallback: number,
  problems: string[],
  range: { min: number; max?: number },
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < range.min || (range.max !== undefined && n > range.max)) {
    const max = range.max === undefined ? '' : ` and <= ${range.max}`;
    problems.push(`--${name}: must be a whole number >= ${range.min}${max}`);
    return fallback;
  }
  return n;
}

const FLAG_OF: Readonly<Record<string, string>> = {
  jwtKey: '--jwt-key',
  redis: '--redis',
  credentialsKey: '--credentials-key',
  cookieName: '--cookie-name',
  clockTolerance: '--clock-tolerance',
  maxTokenLifetime: '--max-token-lifetime',
  proxyTimeout: '--proxy-timeout',
  storeTimeout: '--redis-timeout',
  wsRecheckInterval: '--ws-recheck-interval',
};

/**
 * Runs the settings through authProxy's own validation, so the CLI reports exactly its problems:
 * the shared ones once under their flag, each route's target under its route.
 */
function checkWithAuthProxy(config: ServerConfig, skip: Set<string>, problems: string[]): void {
  const problemsOf = (target: string): readonly string[] => {
    try {
      resolveOptions(routeOptions(config, target, config.redis));
      return [];
    } catch (err) {
      if (err instanceof AuthProxyConfigError) return err.problems;
      throw err;
    }
  };
  for (const problem of problemsOf('http://127.0.0.1')) {
    const option = problem.slice(0, problem.indexOf(':'));
    if (!skip.has(option))
      problems.push(`${FLAG_OF[option] ?? option}${problem.slice(option.length)}`);
  }
  for (const route of config.routes) {
    for (const problem of problemsOf(route.target)) {
      if (problem.startsWith('target:')) {
        problems.push(`--route ${route.path}: ${problem.slice('target: '.length)}`);
      }
    }
  }
}

/** The authProxy options of one route. */
export function routeOptions<R>(
  config: ServerConfig,
  target: string,
  redis: R,
): {
  target: string;
  jwtKey: string;
  redis: R;
  credentialsKey: string | undefined;
  cookieName: string | undefined;
  clockTolerance: number;
  maxTokenLifetime: number | undefined;
  proxyTimeout: number | undefined;
  storeTimeout: number;
  ws: boolean;
  wsRecheckInterval: number;
} {
  return {
    target,
    jwtKey: config.jwtKey,
    redis,
    credentialsKey: config.credentialsKey,
    cookieName: config.cookieName,
    clockTolerance: config.clockTolerance,
    maxTokenLifetime: config.maxTokenLifetime,
    proxyTimeout: config.proxyTimeout,
    storeTimeout: config.redisTimeout,
    ws: config.ws,
    wsRecheckInterval: config.wsRecheckInterval,
  };
}

/** The `--help` text, generated from the same table the parser reads. */
export function helpText(): string {
  const rows = SETTINGS.filter((s) => s.help !== '').map((s) => {
    const left = `  --${s.flag} ${s.value}`;
    const env = 'env' in s ? `  [${s.env}]` : '';
    return `${left.padEnd(34)}${s.help}${env}`;
  });
  return [
    'Usage: express-auth-proxy --route PATH=URL [--route ...] --jwt-key-file FILE --redis URL [options]',
    '',
    'Proxies each PATH to its backend URL for browsers holding a valid JWT session cookie,',
    "injecting the session's HTTP Basic credentials read from Redis.",
    '',
    'Options (each can also be set by the environment variable in brackets; flags win):',
    ...rows,
    `  --check-config${' '.repeat(20)}validate everything and ping Redis; exit 0, 1 (Redis) or 2 (settings)`,
    `  --version, -v${' '.repeat(21)}print the version`,
    `  --help, -h${' '.repeat(24)}print this help`,
    '',
    'Endpoints: GET /healthz (process up), GET /readyz (Redis answers within --redis-timeout),',
    'GET /metrics (with --metrics on, or on --metrics-port).',
    'WebSockets under a route pass the same checks and are closed (4401) when their session ends.',
    'Example:',
    '  express-auth-proxy --route /mail=http://127.0.0.1:8080 --route /dav=http://127.0.0.1:8081/remote.php \\',
    '    --jwt-key-file ./jwt.key --redis redis://127.0.0.1:6379 --port 3000',
  ].join('\n');
}
