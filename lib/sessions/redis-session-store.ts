import { ReplyError } from 'ioredis';
import type { Cluster, Redis } from 'ioredis';
import { AuthProxyError } from '../errors.js';
import { BatchedGet } from './batched-get.js';
import { silentLogger } from '../logger.js';
import type { Logger } from '../logger.js';
import { watchConnection } from './connection-watch.js';
import { isCluster, misdirection, openRedis } from './redis-topology.js';
import type { RedisTopology } from './redis-topology.js';
import { checkTtl, parseSession, serializeSession } from './session-store.js';
import type { Session, SessionStore } from './session-store.js';

/** An ioredis client: a single node, Sentinel-managed, or a Cluster. */
export type RedisClient = Redis | Cluster;

export interface RedisSessionStoreOptions {
  /** Prepended to every sid to form the Redis key. Default `''`. */
  keyPrefix?: string;
  /**
   * Milliseconds a command may take before it fails, when the store opens its own client (from a
   * URL or a topology). Default 1000.
   */
  commandTimeout?: number;
  /**
   * Receives connection state changes (lost, restored), once per outage, never keys or values.
   * A borrowed client is observed without touching its 'error' events, which stay its owner's.
   */
  logger?: Logger;
}

/**
 * Sessions in Redis, as JSON under `<keyPrefix><sid>`, the format login sites already write.
 * Given a URL or a Sentinel / Cluster configuration it owns its client (closed by `close()`);
 * given a client it only borrows it (`close()` then only stops observing it).
 *
 * @example
 * const store = new RedisSessionStore('redis://127.0.0.1:6379/0', { keyPrefix: 'session:' });
 * await store.set(sid, { credentials }, 3600);
 * const ha = new RedisSessionStore({ sentinels: [{ host: '10.0.0.1', port: 26379 }], name: 'sessions' });
 */
export class RedisSessionStore implements SessionStore {
  readonly client: RedisClient;
  readonly #keyPrefix: string;
  readonly #owned: boolean;
  readonly #unwatch: () => void;
  /** The reads of one event-loop turn as one MGET; undefined on a Cluster, where keys span nodes. */
  readonly #reads: BatchedGet<Session | undefined> | undefined;
  /** Set when a URL turned out to name a sentinel or a cluster node, which cannot serve GET. */
  #misdirected: string | undefined;

  constructor(redis: string | RedisClient | RedisTopology, options: RedisSessionStoreOptions = {}) {
    this.#keyPrefix = options.keyPrefix ?? '';
    const logger = options.logger ?? silentLogger;
    if (typeof redis === 'string' || !('sendCommand' in redis)) {
      this.client = openRedis(redis, options.commandTimeout ?? 1000);
      this.#owned = true;
      // An 'error' event without a listener would crash the process, even after close().
      this.client.on('error', ignore);
      if (typeof redis === 'string') this.#checkServerMode(logger);
    } else {
      this.client = redis;
      this.#owned = false;
    }
    this.#unwatch = watchConnection(this.client, logger, this.#owned);
    this.#reads = isCluster(this.client)
      ? undefined
      : new BatchedGet(this.client as Redis, sessionOf, readFailure, logger);
  }

  // On every request: no async function's extra promise and frame.
  get(sid: string): Promise<Session | undefined> {
    const key = this.#keyPrefix + sid;
    if (this.#reads !== undefined) return this.#reads.get(key);
    return this.client.get(key).then(sessionOf, rejectReadFailure);
  }

  /**
   * `get` plus the key's remaining lifetime in milliseconds as Redis reports it (`-1`: none, `-2`:
   * no key), for a cache that must not outlive the session. Both commands go out together on the
   * one connection; a change between them is a change after the first, which a tracking client is
   * told about.
   */
  async getWithTtl(sid: string): Promise<{ session: Session | undefined; ttl: number }> {
    const key = this.#keyPrefix + sid;
    let raw: string | null;
    let ttl: number;
    try {
      [raw, ttl] = await Promise.all([this.client.get(key), this.client.pttl(key)]);
    } catch (cause) {
      throw readFailure(cause);
    }
    return { session: raw === null ? undefined : parseSession(raw), ttl };
  }

  async set(sid: string, session: Session, ttlSeconds?: number): Promise<void> {
    checkTtl(ttlSeconds);
    const key = this.#keyPrefix + sid;
    const data = serializeSession(session);
    try {
      if (ttlSeconds === undefined) await this.client.set(key, data);
      else await this.client.set(key, data, 'EX', ttlSeconds);
    } catch (cause) {
      throw unavailable(cause);
    }
  }

  async delete(sid: string): Promise<void> {
    try {
      await this.client.del(this.#keyPrefix + sid);
    } catch (cause) {
      throw unavailable(cause);
    }
  }

  /**
   * Resolves when Redis answers a PING, rejects `ERR_STORE_UNAVAILABLE` otherwise, or when the
   * URL given names a sentinel or a cluster node.
   */
  async ping(): Promise<void> {
    try {
      await this.client.ping();
    } catch (cause) {
      throw unavailable(cause);
    }
    if (this.#misdirected !== undefined) {
      throw new AuthProxyError('ERR_STORE_UNAVAILABLE', this.#misdirected);
    }
  }

  // A sentinel answers PING and INFO like a data node but refuses GET: every request would get
  // 503 with nothing in the log to say why. One INFO per connection tells.
  #checkServerMode(logger: Logger): void {
    const client = this.client as Redis;
    client.on('ready', () => {
      misdirection(client).then((problem) => {
        if (problem !== undefined && this.#misdirected === undefined) {
          logger.error(`express-auth-proxy: ${problem}`);
        }
        this.#misdirected = problem;
      }, ignore);
    });
  }

  /** Closes the connection if this store opened it; a borrowed client is left to its owner. */
  async close(): Promise<void> {
    this.#unwatch();
    if (!this.#owned) return;
    // QUIT lets pending replies arrive; with no live connection it would only wait in the queue.
    if (this.client.status !== 'ready') {
      this.client.disconnect();
      return;
    }
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

function isWrongType(err: unknown): boolean {
  return err instanceof (ReplyError as typeof Error) && err.message.startsWith('WRONGTYPE ');
}

/** What a failed read means: the same for every read of a session. */
function readFailure(cause: unknown): AuthProxyError {
  // A list or hash under the key will not heal by retrying: malformed data, not an outage.
  if (isWrongType(cause)) {
    return new AuthProxyError('ERR_SESSION_MALFORMED', 'session key holds another Redis type', {
      cause,
    });
  }
  return unavailable(cause);
}

function sessionOf(raw: string | null): Session | undefined {
  return raw === null ? undefined : parseSession(raw);
}

function rejectReadFailure(cause: unknown): never {
  throw readFailure(cause);
}

function unavailable(cause: unknown): AuthProxyError {
  return new AuthProxyError('ERR_STORE_UNAVAILABLE', 'session store did not answer', { cause });
}

function ignore(): void {
  // Failures are reported through the connection watch and the requests that meet them.
}
