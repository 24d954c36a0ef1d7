import { checkTtl, parseSession, serializeSession } from './session-store.js';
import type { Session, SessionStore } from './session-store.js';

interface Entry {
  data: string;
  expiresAt: number;
}

/**
 * An in-process store for demos, tests and single-instance setups. Sessions are kept in their
 * serialized form, so it behaves like Redis (copies in, copies out, expiry honoured on read).
 *
 * @example
 * const store = new MemorySessionStore();
 * app.use('/mail', authProxy({ target, jwtKey, redis: store }));
 */
export class MemorySessionStore implements SessionStore {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  /** `now` (milliseconds) is injectable so expiry can be tested without waiting. */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  get(sid: string): Promise<Session | undefined> {
    const entry = this.#entries.get(sid);
    if (entry === undefined) return Promise.resolve(undefined);
    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(sid);
      return Promise.resolve(undefined);
    }
    try {
      return Promise.resolve(parseSession(entry.data));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  set(sid: string, session: Session, ttlSeconds?: number): Promise<void> {
    checkTtl(ttlSeconds);
    const expiresAt = ttlSeconds === undefined ? Infinity : this.#now() + ttlSeconds * 1000;
    this.#entries.set(sid, { data: serializeSession(session), expiresAt });
    return Promise.resolve();
  }

  delete(sid: string): Promise<void> {
    this.#entries.delete(sid);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#entries.clear();
    return Promise.resolve();
  }
}
