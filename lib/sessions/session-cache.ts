import type { Redis, RedisOptions } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { silentLogger } from '../logger.js';
import type { Logger } from '../logger.js';
import { RedisSessionStore } from './redis-session-store.js';
import { isCluster, requestPathRedisOptions, sentinelRedisOptions } from './redis-topology.js';
import type { RedisSentinelConfig } from './redis-topology.js';
import type { RedisClient } from './redis-session-store.js';
import type { InvalidationListener, Session, SessionStore } from './session-store.js';
import { TrackingConnection } from './tracking-connection.js';

/** Sizes and timings of a session cache; every field optional, see the README for defaults. */
export interface SessionCacheSettings {
  /** Most sessions kept. Default 10,000. */
  max?: number;
  /** Most bytes kept, approximately (sid and credentials, twice, plus overhead). Default 16 MiB. */
  maxBytes?: number;
  /** Longest an entry is served without reading Redis again, whatever tracking says. Default 300. */
  ttlSeconds?: number;
  /** Milliseconds between end-to-end probes of the tracking pair. Default 1000. */
  pingInterval?: number;
}

export interface SessionCacheOptions extends SessionCacheSettings {
  /** Prepended to every sid to form the Redis key. Default `''`. */
  keyPrefix?: string;
  /** With a URL: milliseconds a command may take. Default 1000. */
  commandTimeout?: number;
  /** Receives tracking state changes, never keys or values. */
  logger?: Logger;
  /** Milliseconds clock for entry lifetimes; injectable so that tests need not wait. */
  now?: () => number;
}

const DEFAULTS: Required<SessionCacheSettings> = {
  max: 10_000,
  maxBytes: 16 * 1024 * 1024,
  ttlSeconds: 300,
  pingInterval: 1000,
};
// What an entry costs beside its strings: the LRU's slots, the entry, the resolved promise.
const ENTRY_OVERHEAD = 200;
const MIN_PING_INTERVAL = 10;

/**
 * Validates `sessionCache` (`true` or settings) into complete settings, one problem per line,
 * each naming its field. Shared by `authProxy` options and the constructor.
 */
export function checkSessionCacheSettings(
  value: unknown,
  problems: string[],
  name = 'sessionCache',
): Required<SessionCacheSettings> {
  if (value === true) return DEFAULTS;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${name}: must be true or { max, maxBytes, ttlSeconds, pingInterval }`);
    return DEFAULTS;
  }
  const settings: Record<string, unknown> = { ...DEFAULTS };
  for (const [field, given] of Object.entries(value)) {
    if (given === undefined) continue;
    if (!Object.hasOwn(DEFAULTS, field)) {
      problems.push(
        `${name}.${field}: unknown option (allowed: ${Object.keys(DEFAULTS).join(', ')})`,
      );
    } else if (!(Number.isInteger(given) && (given as number) > 0)) {
      problems.push(`${name}.${field}: must be a whole number > 0`);
    } else if (field === 'pingInterval' && (given as number) < MIN_PING_INTERVAL) {
      problems.push(`${name}.pingInterval: must be at least ${MIN_PING_INTERVAL} ms`);
    } else {
      settings[field] = given;
    }
  }
  return settings as Required<SessionCacheSettings>;
}

interface Entry {
  // Already settled: a hit hands out the same promise instead of making one per request.
  answer: Promise<Session | undefined>;
}

interface Flight {
  answer: Promise<Session | undefined>;
}

/**
 * Sessions from Redis, cached in process and kept exact by Redis itself (server-assisted
 * client-side caching): every read goes through a connection Redis tracks, and any change to a
 * key read (a write, DEL, EXPIRE, expiry, eviction, FLUSHDB) drops the entry in every process
 * that holds it. While tracking is not established (starting, a connection lost, a probe
 * unanswered) nothing is cached and every `get` reads Redis, as without the cache.
 *
 * Opens its own two connections, from the URL or from the options of the client given (which is
 * only borrowed for its settings, never tracked). A Cluster is refused.
 *
 * @example
 * const sessions = new SessionCache('redis://127.0.0.1:6379/0', { keyPrefix: 'session:' });
 * app.use('/mail', authProxy({ target, jwtKey, redis: sessions }));
 * app.use('/dav', authProxy({ target: dav, jwtKey, redis: sessions }));
 */
export class SessionCache implements SessionStore {
  readonly #store: RedisSessionStore;
  readonly #tracking: TrackingConnection;
  readonly #entries: LRUCache<string, Entry>;
  readonly #pending = new Map<string, Flight>();
  readonly #listeners = new Set<InvalidationListener>();
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  #hits = 0;
  #misses = 0;

  constructor(
    redis: string | RedisClient | RedisSentinelConfig,
    options: SessionCacheOptions = {},
  ) {
    const problems: string[] = [];
    const settings = checkSessionCacheSettings(
      {
        max: options.max,
        maxBytes: options.maxBytes,
        ttlSeconds: options.ttlSeconds,
        pingInterval: options.pingInterval,
      },
      problems,
      'SessionCache',
    );
    const client = typeof redis !== 'string' && 'sendCommand' in redis ? redis : undefined;
    if (client !== undefined && isCluster(client)) {
      problems.push('SessionCache: a Redis Cluster cannot be tracked exactly; use a single node');
    }
    if (problems.length > 0) throw new TypeError(`express-auth-proxy: ${problems.join('; ')}`);

    const keyPrefix = options.keyPrefix ?? '';
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#ttl = settings.ttlSeconds * 1000;
    const borrowed: RedisOptions | undefined = (client as Redis | undefined)?.options;
    // The client's own keyPrefix is part of the key names invalidations carry.
    this.#prefix = (borrowed?.keyPrefix ?? '') + keyPrefix;
    const commandTimeout = options.commandTimeout ?? 1000;
    this.#tracking = new TrackingConnection(
      borrowed ??
        (typeof redis === 'string'
          ? redis
          : sentinelRedisOptions(redis as RedisSentinelConfig, commandTimeout)),
      borrowed === undefined ? requestPathRedisOptions(commandTimeout) : {},
      {
        pingInterval: settings.pingInterval,
        logger: this.#logger,
        events: {
          invalidate: (keys) => {
            this.#invalidate(keys);
          },
          change: () => {
            this.#reset();
          },
        },
      },
    );
    this.#store = new RedisSessionStore(this.#tracking.client, { keyPrefix });
    const now = this.#now;
    this.#entries = new LRUCache<string, Entry>({
      max: settings.max,
      maxSize: settings.maxBytes,
      ttlResolution: 0,
      perf: { now },
    });
  }

  /** True while entries are served; false while the cache is bypassed. */
  get tracking(): boolean {
    return this.#tracking.tracking;
  }

  /** Number of sessions (and known-missing sids) held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Lookups answered from memory, since construction. */
  get hits(): number {
    return this.#hits;
  }

  /** Lookups passed on to Redis (or joined to one on its way), since construction. */
  get misses(): number {
    return this.#misses;
  }

  get(sid: string): Promise<Session | undefined> {
    if (!this.#tracking.tracking) {
      this.#misses++;
      return this.#store.get(sid);
    }
    const entry = this.#entries.get(sid);
    if (entry !== undefined) {
      this.#hits++;
      return entry.answer;
    }
    this.#misses++;
    return this.#pending.get(sid)?.answer ?? this.#load(sid);
  }

  async set(sid: string, session: Session, ttlSeconds?: number): Promise<void> {
    this.#forget(sid);
    await this.#store.set(sid, session, ttlSeconds);
  }

  async delete(sid: string): Promise<void> {
    this.#forget(sid);
    await this.#store.delete(sid);
  }

  onInvalidate(listener: InvalidationListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Resolves when Redis answers a PING on the data connection (never from the cache). */
  ping(): Promise<void> {
    return this.#store.ping();
  }

  /** Closes the two connections it opened; a borrowed client is left to its owner. */
  async close(): Promise<void> {
    this.#entries.clear();
    this.#pending.clear();
    this.#listeners.clear();
    await this.#store.close();
    await this.#tracking.close();
  }

  // One GET for all concurrent misses of a sid. The answer is kept only if no invalidation or
  // flush came while it was on its way: those remove the flight from #pending, and Redis may
  // deliver the invalidation (on the other connection) before the reply it supersedes.
  #load(sid: string): Promise<Session | undefined> {
    const started = this.#now();
    const flight: Flight = {
      answer: this.#store.getWithTtl(sid).then(
        ({ session, ttl }) => {
          // Frozen: the object may be handed to every later request for this sid.
          if (session !== undefined) Object.freeze(session);
          if (this.#pending.get(sid) !== flight) return session;
          this.#pending.delete(sid);
          this.#remember(sid, session, ttl, started);
          return session;
        },
        (err: unknown) => {
          if (this.#pending.get(sid) === flight) this.#pending.delete(sid);
          throw err;
        },
      ),
    };
    this.#pending.set(sid, flight);
    return flight.answer;
  }

  #remember(sid: string, session: Session | undefined, redisTtl: number, started: number): void {
    // Redis counted the TTL when it ran the command, after `started`: counting from `started`
    // ends the entry no later than Redis ends the key, even if expiry deletes it late.
    let ttl = this.#ttl;
    if (redisTtl >= 0) ttl = Math.min(ttl, redisTtl - (this.#now() - started));
    if (ttl <= 0) return;
    // The credentials count twice: resolve-session keeps the Authorization built from them.
    const size =
      sid.length + ENTRY_OVERHEAD + (session === undefined ? 0 : session.credentials.length * 2);
    this.#entries.set(sid, { answer: Promise.resolve(session) }, { ttl, size });
  }

  #forget(sid: string): void {
    this.#entries.delete(sid);
    this.#pending.delete(sid);
  }

  #reset(): void {
    this.#entries.clear();
    this.#pending.clear();
    this.#emit(undefined);
  }

  #invalidate(keys: readonly Buffer[] | null): void {
    if (keys === null) {
      this.#reset();
      return;
    }
    for (const key of keys) {
      const name = key.toString();
      if (!name.startsWith(this.#prefix)) continue;
      const sid = name.slice(this.#prefix.length);
      this.#forget(sid);
      this.#emit(sid);
    }
  }

  #emit(sid: string | undefined): void {
    for (const listener of this.#listeners) {
      try {
        listener(sid);
      } catch (err) {
        this.#logger.error(
          `express-auth-proxy: an onInvalidate listener threw: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }
}
