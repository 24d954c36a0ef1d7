import type { KeyObject } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Options as HpmOptions } from 'http-proxy-middleware';
import { openWith, parseCredentialsKey } from './sessions/credentials.js';
import type { CredentialsKey } from './sessions/credentials.js';
import { AuthProxyConfigError } from './errors.js';
import { parseJwtKey } from './sessions/jwt-key.js';
import type { JwtKey } from './sessions/jwt-key.js';
import type { AuthProxyError } from './errors.js';
import { silentLogger } from './logger.js';
import type { Logger } from './logger.js';
import type { RedisClient } from './sessions/redis-session-store.js';
import { checkSessionCacheSettings } from './sessions/session-cache.js';
import type { SessionCacheSettings } from './sessions/session-cache.js';
import { checkTopology, isCluster, isTopology } from './sessions/redis-topology.js';
import type { RedisTopology } from './sessions/redis-topology.js';
import type { SessionStore } from './sessions/session-store.js';
import { hooksOf } from './observe/metrics.js';
import type { MountHooks, MountMetrics } from './observe/metrics.js';

export type HmacAlgorithm = 'HS256' | 'HS384' | 'HS512';

/** http-proxy-middleware options that cannot weaken authentication, passed through as given. */
export const PASSTHROUGH_PROXY_OPTIONS = [
  'changeOrigin',
  'xfwd',
  'secure',
  'headers',
  'pathRewrite',
  'cookieDomainRewrite',
  'cookiePathRewrite',
  'hostRewrite',
  'autoRewrite',
  'protocolRewrite',
  'preserveHeaderKeyCase',
  'timeout',
  'agent',
] as const;

export type ProxyPassthroughOptions = Pick<HpmOptions, (typeof PASSTHROUGH_PROXY_OPTIONS)[number]>;

/**
 * Replaces the default error response. Called after the failure is logged; it must answer. If it
 * throws or its promise rejects, the default answer is sent instead.
 *
 * @example
 * onError: (err, req, res) => res.status(err.status).send(renderLoginPage())
 */
export type ErrorHandler = (
  error: AuthProxyError,
  req: Request,
  res: Response,
) => void | Promise<void>;

/** Options of `authProxy()`. `undefined` means the same as absent. */
export interface AuthProxyOptions {
  /** Backend base URL (http or https). Its path is kept as a prefix of every proxied path. */
  target: string | URL;
  /** Shared HMAC secret of the JWTs: a string (UTF-8 bytes) or bytes. */
  jwtKey: JwtKey;
  /**
   * Where sessions are: a `redis://` / `rediss://` URL, a Sentinel (`{ sentinels, name }`) or
   * Cluster (`{ cluster }`) configuration (the proxy owns the client it opens for these), an
   * ioredis client you own, or a SessionStore.
   */
  redis: string | RedisTopology | RedisClient | SessionStore;
  /** Name of the cookie holding the JWT. Default `'Authorization'`. */
  cookieName?: string;
  /** Accepted JWT algorithms, HMAC only. Default `['HS512']`. */
  algorithms?: HmacAlgorithm[];
  /** Seconds of clock skew allowed on `exp` and `nbf`. Default 0. */
  clockTolerance?: number;
  /**
   * Seconds a token may live, `exp - iat`. Tokens without `iat`, issued in the future or living
   * longer are refused. Default: no limit.
   */
  maxTokenLifetime?: number;
  /** Prepended to the sid to form the Redis key (URL or client only). Default `''`. */
  keyPrefix?: string;
  /**
   * Milliseconds the session lookup may take before the request gets 503, whatever the store
   * (URL, borrowed client, Cluster, Sentinel, SessionStore). Default 1000.
   */
  storeTimeout?: number;
  /** Former name of `storeTimeout`, still accepted; `storeTimeout` wins when both are given. */
  redisCommandTimeout?: number;
  /**
   * Caches sessions in process, kept exact by Redis client-side caching (URL or single-node or
   * Sentinel client only). `true` for the defaults. Default: off.
   */
  sessionCache?: boolean | SessionCacheSettings;
  /** Enables the built-in AES-256-GCM decoder of sealed credentials. */
  credentialsKey?: CredentialsKey;
  /** Turns the stored value into the Basic credentials; overrides the built-in decoders. */
  decodeCredentials?: (stored: string) => string | Promise<string>;
  /** Milliseconds of backend inactivity before 504. Default: none. */
  proxyTimeout?: number;
  /** Receives one line per refused request. Default: silent. */
  logger?: Logger;
  /** Renders refusals yourself (a login page, JSON...). */
  onError?: ErrorHandler;
  /** Prometheus metrics of this mount: `createMetrics().mount('/mail')`. Default: none, no cost. */
  metrics?: MountMetrics;
  /**
   * Translate the URLs inside WebDAV requests and answers (`Destination`, `If`, `Location`,
   * `Content-Location`, multistatus hrefs) between the mount point and the target's path.
   * Default `true`, or `false` when `proxy.pathRewrite` is set.
   */
  rewriteUrls?: boolean;
  /** Further http-proxy-middleware options that are safe to pass through. */
  proxy?: ProxyPassthroughOptions;
  /** Proxies WebSocket handshakes (with `upgradeHandler`); `false` refuses them with 403. Default true. */
  ws?: boolean;
  /** Milliseconds between two checks that an open WebSocket's session still exists. Default 30000. */
  wsRecheckInterval?: number;
}

/** Where the sessions come from, still unopened: validation stays free of side effects. */
export type StoreSource =
  | { kind: 'url'; url: string }
  | { kind: 'topology'; topology: RedisTopology }
  | { kind: 'client'; client: RedisClient }
  | { kind: 'store'; store: SessionStore };

/** The validated, normalized form the chain runs on. */
export interface Config {
  target: string;
  jwtKey: KeyObject;
  algorithms: HmacAlgorithm[];
  cookieName: string;
  clockTolerance: number;
  maxTokenLifetime: number | undefined;
  store: StoreSource;
  keyPrefix: string;
  /** Deadline of every session lookup; also the command timeout of a client opened from a URL. */
  storeTimeout: number;
  /** Complete settings when the session cache is on. */
  sessionCache: Required<SessionCacheSettings> | undefined;
  /** Undefined when credentials are stored in clear: the stored value is used as it is. */
  decodeCredentials: ((stored: string) => string | Promise<string>) | undefined;
  proxyTimeout: number | undefined;
  logger: Logger;
  onError: ErrorHandler | undefined;
  metrics: MountHooks | undefined;
  rewriteUrls: boolean;
  proxy: ProxyPassthroughOptions;
  ws: boolean;
  wsRecheckInterval: number;
}

const KNOWN_OPTIONS = new Set<string>([
  'target',
  'jwtKey',
  'redis',
  'cookieName',
  'algorithms',
  'clockTolerance',
  'maxTokenLifetime',
  'keyPrefix',
  'storeTimeout',
  'redisCommandTimeout',
  'sessionCache',
  'credentialsKey',
  'decodeCredentials',
  'proxyTimeout',
  'logger',
  'onError',
  'metrics',
  'rewriteUrls',
  'proxy',
  'ws',
  'wsRecheckInterval',
]);
// Node's timers take at most a signed 32-bit number of milliseconds (about 24.8 days).
const MAX_TIMER_MS = 2 ** 31 - 1;
export const HMAC_ALGORITHMS: ReadonlySet<string> = new Set(['HS256', 'HS384', 'HS512']);
// RFC 6265 token characters: what a browser will send back as a cookie name.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const LOGGER_METHODS = ['debug', 'info', 'warn', 'error'] as const;
// Headers the chain owns, and those that would change framing or make http-proxy skip its hooks.
const PROXY_HEADERS_REFUSED = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'expect',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
  'transfer-encoding',
  'content-length',
  'host',
]);

/**
 * Validates options once, at construction, into a Config. Every problem is collected and thrown
 * together as an `AuthProxyConfigError` whose lines each name their option. The caller's object
 * is never modified.
 */
export function resolveOptions(input: unknown): Config {
  if (typeof input !== 'object' || input === null) {
    throw new AuthProxyConfigError([
      'options must be an object: authProxy({ target, jwtKey, redis })',
    ]);
  }
  if ('socket' in input && 'method' in input) {
    throw new AuthProxyConfigError([
      'authProxy was given a request: call it with options, app.use(path, authProxy({ ... }))',
    ]);
  }
  const options = input as Record<string, unknown>;
  const problems: string[] = [];
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name) && options[name] !== undefined) {
      problems.push(`${name}: unknown option`);
    }
  }

  const target = checkTarget(options.target, problems);
  const jwtKey = checkJwtKey(options.jwtKey, problems);
  const store = checkStore(options.redis, problems);

  const cookieName = options.cookieName ?? 'Authorization';
  if (typeof cookieName !== 'string' || !COOKIE_NAME.test(cookieName)) {
    problems.push('cookieName: must be a non-empty cookie name (RFC 6265 token characters)');
  }

  const algorithms = options.algorithms ?? ['HS512'];
  if (
    !Array.isArray(algorithms) ||
    algorithms.length === 0 ||
    !algorithms.every((a) => typeof a === 'string' && HMAC_ALGORITHMS.has(a))
  ) {
    problems.push('algorithms: must be a non-empty array of HS256, HS384, HS512');
  }

  const clockTolerance = options.clockTolerance ?? 0;
  if (!isNonNegativeNumber(clockTolerance)) {
    problems.push('clockTolerance: must be a number of seconds >= 0');
  }

  const maxTokenLifetime = options.maxTokenLifetime;
  if (maxTokenLifetime !== undefined && !isPositiveInteger(maxTokenLifetime)) {
    problems.push('maxTokenLifetime: must be a whole number of seconds > 0');
  }

  const keyPrefix = options.keyPrefix ?? '';
  if (typeof keyPrefix !== 'string') problems.push('keyPrefix: must be a string');
  else if (keyPrefix !== '' && store?.kind === 'store') {
    problems.push(
      'keyPrefix: applies to a Redis URL or client; configure your SessionStore instead',
    );
  }

  // Both names are checked, so that a mistake in the one that loses is still reported.
  for (const name of ['storeTimeout', 'redisCommandTimeout'] as const) {
    if (options[name] !== undefined && !isPositiveInteger(options[name])) {
      problems.push(`${name}: must be a whole number of milliseconds > 0`);
    }
  }
  const storeTimeout = options.storeTimeout ?? options.redisCommandTimeout ?? 1000;

  const sessionCache = checkSessionCache(options.sessionCache, store, problems);

  let credentialsKey: KeyObject | undefined;
  if (options.credentialsKey !== undefined) {
    const parsed = parseCredentialsKey(options.credentialsKey);
    if (typeof parsed === 'string') problems.push(`credentialsKey: ${parsed}`);
    else credentialsKey = parsed;
  }

  const decodeCredentials = options.decodeCredentials;
  if (decodeCredentials !== undefined && typeof decodeCredentials !== 'function') {
    problems.push(
      'decodeCredentials: must be a function (stored: string) => string | Promise<string>',
    );
  }

  const proxyTimeout = options.proxyTimeout;
  if (proxyTimeout !== undefined && !isPositiveInteger(proxyTimeout)) {
    problems.push('proxyTimeout: must be a whole number of milliseconds > 0');
  }

  const logger = options.logger ?? silentLogger;
  if (
    typeof logger !== 'object' ||
    !LOGGER_METHODS.every((m) => typeof (logger as Record<string, unknown>)[m] === 'function')
  ) {
    problems.push('logger: must have debug, info, warn and error methods (console fits)');
  }

  const onError = options.onError;
  if (onError !== undefined && typeof onError !== 'function') {
    problems.push('onError: must be a function (error, req, res) => void');
  }

  const metrics = hooksOf(options.metrics);
  if (options.metrics !== undefined && metrics === undefined) {
    problems.push(
      "metrics: must come from createMetrics().mount(name), e.g. metrics.mount('/mail')",
    );
  }

  const proxy = checkProxyOptions(options.proxy, problems);

  // A pathRewrite cannot be inverted, so the URLs it changes cannot be translated back.
  const rewriteUrls = options.rewriteUrls ?? proxy.pathRewrite === undefined;
  if (typeof rewriteUrls !== 'boolean') {
    problems.push('rewriteUrls: must be true or false');
  } else if (rewriteUrls && proxy.pathRewrite !== undefined) {
    problems.push('rewriteUrls: cannot translate URLs through proxy.pathRewrite; set it to false');
  }

  const ws = options.ws ?? true;
  if (typeof ws !== 'boolean') problems.push('ws: must be true or false');

  const wsRecheckInterval = options.wsRecheckInterval ?? 30_000;
  if (!isPositiveInteger(wsRecheckInterval) || (wsRecheckInterval as number) > MAX_TIMER_MS) {
    problems.push(
      `wsRecheckInterval: must be a whole number of milliseconds > 0 and <= ${MAX_TIMER_MS}`,
    );
  }

  if (problems.length > 0) throw new AuthProxyConfigError(problems);
  return {
    target: target as string,
    jwtKey: jwtKey as KeyObject,
    algorithms: algorithms as HmacAlgorithm[],
    cookieName: cookieName as string,
    clockTolerance: clockTolerance as number,
    maxTokenLifetime: maxTokenLifetime as number | undefined,
    store: store as StoreSource,
    keyPrefix: keyPrefix as string,
    storeTimeout: storeTimeout as number,
    sessionCache,
    decodeCredentials:
      (decodeCredentials as Config['decodeCredentials']) ??
      (credentialsKey && ((stored: string) => openWith(stored, credentialsKey))),
    proxyTimeout: proxyTimeout as number | undefined,
    logger: logger as Logger,
    onError: onError as ErrorHandler | undefined,
    metrics,
    rewriteUrls: rewriteUrls as boolean,
    proxy,
    ws: ws as boolean,
    wsRecheckInterval: wsRecheckInterval as number,
  };
}

function checkTarget(value: unknown, problems: string[]): string | undefined {
  if (value === undefined) {
    problems.push('target: required, the backend URL such as http://127.0.0.1:8080');
    return undefined;
  }
  if (typeof value !== 'string' && !(value instanceof URL)) {
    problems.push('target: must be a string or URL');
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(typeof value === 'string' ? value : value.href);
  } catch {
    problems.push('target: must be an absolute http(s) URL');
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push('target: must be an http: or https: URL');
  } else if (url.username !== '' || url.password !== '') {
    problems.push('target: must not carry credentials; they come from the session');
  } else if (url.search !== '' || url.hash !== '') {
    problems.push('target: must not have a query string or fragment');
  }
  return url.href.replace(/\/$/, '');
}

function checkJwtKey(value: unknown, problems: string[]): KeyObject | undefined {
  const key = parseJwtKey(value);
  if (key === undefined) {
    problems.push(
      value === undefined
        ? 'jwtKey: required, the HMAC secret shared with the login site'
        : 'jwtKey: must be a non-empty string, Buffer or secret KeyObject',
    );
  }
  return key;
}

function checkStore(value: unknown, problems: string[]): StoreSource | undefined {
  if (typeof value === 'string') {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (url?.protocol === 'redis:' || url?.protocol === 'rediss:')
      return { kind: 'url', url: value };
    problems.push('redis: a string must be a redis:// or rediss:// URL');
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    const candidate = value as Record<string, unknown>;
    // ioredis clients (Redis, Cluster) are recognised by shape, so that a second copy of ioredis
    // in node_modules still works.
    if (typeof candidate.sendCommand === 'function' && typeof candidate.get === 'function') {
      return { kind: 'client', client: value as RedisClient };
    }
    if (['get', 'set', 'delete'].every((m) => typeof candidate[m] === 'function')) {
      return { kind: 'store', store: value as SessionStore };
    }
    if (isTopology(candidate)) {
      return checkTopology(candidate, problems)
        ? { kind: 'topology', topology: candidate as unknown as RedisTopology }
        : undefined;
    }
  }
  problems.push(
    value === undefined
      ? 'redis: required, a redis:// URL, { sentinels, name }, { cluster }, an ioredis client or a SessionStore'
      : 'redis: must be a redis:// URL, { sentinels, name }, { cluster }, an ioredis client or a SessionStore (get, set, delete)',
  );
  return undefined;
}

function checkSessionCache(
  value: unknown,
  store: StoreSource | undefined,
  problems: string[],
): Required<SessionCacheSettings> | undefined {
  if (value === undefined || value === false) return undefined;
  const settings = checkSessionCacheSettings(value, problems);
  if (store?.kind === 'store') {
    problems.push(
      'sessionCache: needs a Redis URL or ioredis client; a custom SessionStore cannot report changes (pass a SessionCache as redis to share one)',
    );
  } else if (
    (store?.kind === 'client' && isCluster(store.client)) ||
    (store?.kind === 'topology' && 'cluster' in store.topology)
  ) {
    problems.push(
      'sessionCache: not available with a Redis Cluster (invalidations cannot be kept exact across nodes); use a single node or Sentinel, or leave it off',
    );
  }
  return settings;
}

function checkProxyOptions(value: unknown, problems: string[]): ProxyPassthroughOptions {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) {
    problems.push('proxy: must be an object of http-proxy-middleware options');
    return {};
  }
  const allowed = new Set<string>(PASSTHROUGH_PROXY_OPTIONS);
  const passthrough: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(value)) {
    if (option === undefined) continue;
    if (!allowed.has(name)) {
      problems.push(
        `proxy.${name}: not supported here (allowed: ${PASSTHROUGH_PROXY_OPTIONS.join(', ')})`,
      );
    } else if (name === 'headers' && !checkHeaders(option)) {
      problems.push(
        'proxy.headers: must map names to strings, and not set Authorization, Cookie, Host, Expect, Sec-WebSocket-* or hop-by-hop headers',
      );
    } else {
      passthrough[name] = option;
    }
  }
  return passthrough;
}

function checkHeaders(headers: unknown): boolean {
  return (
    typeof headers === 'object' &&
    headers !== null &&
    Object.entries(headers).every(
      ([name, v]) =>
        typeof v === 'string' &&
        !PROXY_HEADERS_REFUSED.has(name.toLowerCase()) &&
        // A fixed WebSocket handshake header would break every handshake.
        !name.toLowerCase().startsWith('sec-websocket-'),
    )
  );
}

function isNonNegativeNumber(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isPositiveInteger(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}
