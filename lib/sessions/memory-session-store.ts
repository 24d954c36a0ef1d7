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
  readonly #listeners = new Set<(sid: string | undefined) => void>();
  readonly #now: () => number;
  // Sessions nobody reads again would stay forever: sweep whenever the map has doubled.
  #sweepAt = 1024;

  /** `now` (milliseconds) is injectable so expiry can be tested without waiting. */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  // Promise executors turn a throw into a rejection, as an async store would report it.
  get(sid: string): Promise<Session | undefined> {
    return new Promise((resolve) => {
      const entry = this.#entries.get(sid);
      if (entry === undefined || entry.expiresAt <= this.#now()) {
        this.#entries.delete(sid);
        resolve(undefined);
      } else {
        resolve(parseSession(entry.data));
      }
    });
  }

  set(sid: string, session: Session, ttlSeconds?: number): Promise<void> {
    return new Promise((resolve) => {
      checkTtl(ttlSeconds);
      const expiresAt = ttlSeconds === undefined ? Infinity : this.#now() + ttlSeconds * 1000;
      this.#entries.set(sid, { data: serializeSession(session), expiresAt });
      if (this.#entries.size >= this.#sweepAt) this.#sweep();
      this.#invalidate(sid);
      resolve();
    });
  }

  #sweep(): void {
    const now = this.#now();
    for (const [sid, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(sid);
    }
    this.#sweepAt = Math.max(1024, this.#entries.size * 2);
  }

  delete(sid: string): Promise<void> {
    this.#entries.delete(sid);
    this.#invalidate(sid);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#entries.clear();
    this.#invalidate(undefined);
    return Promise.resolve();
  }

  /** Reports every `set` and `delete` of a sid, and `close()` as `undefined` (all sessions). */
  onInvalidate(listener: (sid: string | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #invalidate(sid: string | undefined): void {
    for (const listener of this.#listeners) {
      try {
        listener(sid);
      } catch {
        // A listener's failure is its own; the write it reports has happened.
      }
    }
  }
}
