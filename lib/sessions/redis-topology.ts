import { Cluster, Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { RedisClient } from './redis-session-store.js';

/** A Redis server address. */
export interface RedisNode {
  host: string;
  port: number;
}

/**
 * A Redis master watched by Sentinel: the proxy asks the sentinels where the master is and
 * follows it through failovers.
 *
 * @example
 * redis: { sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }], name: 'sessions' }
 */
export interface RedisSentinelConfig {
  sentinels: RedisNode[];
  /** The master group name the sentinels monitor (`sentinel monitor <name> ...`). */
  name: string;
  /** ACL user name and password of the data nodes. */
  username?: string;
  password?: string;
  /** Database number on the master. Default 0. */
  db?: number;
  /** ACL user name and password of the sentinels themselves, when they require one. */
  sentinelUsername?: string;
  sentinelPassword?: string;
}

/**
 * A Redis Cluster, reached through any of its nodes (the others are discovered).
 *
 * @example
 * redis: { cluster: [{ host: '10.0.0.1', port: 6379 }, { host: '10.0.0.2', port: 6379 }] }
 */
export interface RedisClusterConfig {
  cluster: RedisNode[];
  /** ACL user name and password of the nodes. */
  username?: string;
  password?: string;
}

/** A Sentinel or Cluster configuration: the proxy opens, owns and closes its client. */
export type RedisTopology = RedisSentinelConfig | RedisClusterConfig;

const SENTINEL_KEYS = new Set([
  'sentinels',
  'name',
  'username',
  'password',
  'db',
  'sentinelUsername',
  'sentinelPassword',
]);
const CLUSTER_KEYS = new Set(['cluster', 'username', 'password']);

/** True when `value` looks meant as a topology (so its problems are reported as such). */
export function isTopology(value: object): boolean {
  return 'sentinels' in value || 'cluster' in value;
}

/**
 * Checks a topology, pushing one problem per mistake, each naming `redis.<key>`. Other ioredis
 * options are refused by name: a client built with them is better passed as `redis` directly.
 */
export function checkTopology(value: Record<string, unknown>, problems: string[]): boolean {
  const before = problems.length;
  const sentinel = 'sentinels' in value;
  if (sentinel && 'cluster' in value) {
    problems.push('redis: give either sentinels (with name) or cluster, not both');
    return false;
  }
  const known = sentinel ? SENTINEL_KEYS : CLUSTER_KEYS;
  for (const [key, option] of Object.entries(value)) {
    if (option !== undefined && !known.has(key)) {
      problems.push(
        `redis.${key}: not supported in a ${sentinel ? 'Sentinel' : 'Cluster'} configuration (allowed: ${[...known].join(', ')}); for other ioredis options pass your own client as redis`,
      );
    }
  }
  const listKey = sentinel ? 'sentinels' : 'cluster';
  const list = value[listKey];
  if (!Array.isArray(list) || list.length === 0 || !list.every(isNode)) {
    problems.push(
      `redis.${listKey}: must be a non-empty array of { host, port } (port a whole number 1-65535)`,
    );
  }
  if (sentinel && (typeof value.name !== 'string' || value.name === '')) {
    problems.push('redis.name: required with sentinels, the master group name they monitor');
  }
  for (const key of ['username', 'password', 'sentinelUsername', 'sentinelPassword']) {
    if (value[key] !== undefined && typeof value[key] !== 'string') {
      problems.push(`redis.${key}: must be a string`);
    }
  }
  const db = value.db;
  if (db !== undefined && !(Number.isInteger(db) && (db as number) >= 0)) {
    problems.push('redis.db: must be a whole number >= 0');
  }
  return problems.length === before;
}

function isNode(node: unknown): node is RedisNode {
  if (typeof node !== 'object' || node === null) return false;
  const { host, port } = node as Record<string, unknown>;
  return (
    typeof host === 'string' &&
    host !== '' &&
    Number.isInteger(port) &&
    (port as number) > 0 &&
    (port as number) <= 65535
  );
}

/**
 * Reconnection delays of the clients the proxy opens: 100, 200, then every 250 ms. A failed
 * attempt costs one refused connection (and, with Sentinel, one question to a sentinel); a long
 * delay costs service: after a Sentinel failover the client waits out its current delay before
 * it asks for the new master. Measured here, a cap of 2 s kept the proxy down 1.0 to 2.0 s after
 * the sentinels announced the new master, a cap of 200 ms 0.2 to 0.5 s.
 */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** attempt, 250);
}

/**
 * Client settings for the request path. The defaults of ioredis would hold a request for many
 * seconds while Redis is down (offline queue, 20 retries); here a command waits at most
 * `commandTimeout`, even while connecting, so the first request after start-up still succeeds
 * and an outage answers 503 quickly, and reconnection goes on in the background.
 */
export function requestPathRedisOptions(commandTimeout: number): RedisOptions {
  return {
    commandTimeout,
    connectTimeout: Math.max(commandTimeout, 2000),
    // How long disconnect() waits for the socket to end; its default (2 s) holds the process open.
    disconnectTimeout: commandTimeout,
    enableOfflineQueue: true,
    // Commands of concurrent requests leave in one write instead of one write each: a Cluster's
    // GETs (a single node's session reads are batched by the store itself, as MGET).
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    retryStrategy: reconnectDelay,
  };
}

/** The ioredis options of a Sentinel configuration's client, request-path settings included. */
export function sentinelRedisOptions(
  source: RedisSentinelConfig,
  commandTimeout: number,
): RedisOptions {
  return {
    ...requestPathRedisOptions(commandTimeout),
    sentinels: source.sentinels.map(({ host, port }) => ({ host, port })),
    name: source.name,
    username: source.username,
    password: source.password,
    db: source.db ?? 0,
    sentinelUsername: source.sentinelUsername,
    sentinelPassword: source.sentinelPassword,
    sentinelRetryStrategy: reconnectDelay,
    sentinelCommandTimeout: commandTimeout,
    // Not ioredis's failoverDetector: its own connections to the sentinels have no 'error'
    // listener, so one sentinel down prints "[ioredis] Unhandled error event" on every retry,
    // for ever (measured with ioredis 6.0.0), and quit() leaves them reconnecting.
  };
}

/** True for an ioredis Cluster, recognised by shape like the rest of the option checks. */
export function isCluster(client: unknown): boolean {
  return (client as { isCluster?: unknown }).isCluster === true;
}

/** Opens the client of a URL or a topology, with the request-path settings above. */
export function openRedis(source: string | RedisTopology, commandTimeout: number): RedisClient {
  const options = requestPathRedisOptions(commandTimeout);
  if (typeof source === 'string') return new Redis(source, options);
  if ('sentinels' in source) return new Redis(sentinelRedisOptions(source, commandTimeout));
  return new Cluster(
    source.cluster.map(({ host, port }) => ({ host, port })),
    {
      redisOptions: { ...options, username: source.username, password: source.password },
      clusterRetryStrategy: reconnectDelay,
      enableOfflineQueue: true,
      enableAutoPipelining: true,
    },
  );
}

/**
 * Why a `redis://` URL cannot serve sessions, read from `INFO server`: it names a sentinel (which
 * only knows where the master is) or a cluster node (which owns a fraction of the keys).
 * Undefined for a standalone server or a replica.
 */
export async function misdirection(client: Redis): Promise<string | undefined> {
  const info = await client.info('server');
  const mode = /^redis_mode:(\w+)/m.exec(info)?.[1];
  if (mode === 'sentinel') {
    return 'the Redis URL names a Sentinel, not a data node: configure redis as { sentinels: [{ host, port }], name } (CLI: --redis-sentinel HOST:PORT,... --redis-master-name NAME)';
  }
  if (mode === 'cluster') {
    return 'the Redis URL names a Cluster node: configure redis as { cluster: [{ host, port }, ...] } (CLI: --redis-cluster HOST:PORT,...)';
  }
  return undefined;
}
