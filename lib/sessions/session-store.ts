import { AuthProxyError } from '../errors.js';

/** What a login site stores for a session id: `{"credentials": "..."}`. */
export interface Session {
  credentials: string;
}

/**
 * Told that one session may have changed or ended (`sid`), or that every session may have
 * (`undefined`: a flush, or the store lost track of changes for a while). The store says "may":
 * read the session again to know.
 */
export type InvalidationListener = (sid: string | undefined) => void;

/**
 * Where sessions live. `get` resolves `undefined` for an unknown or expired sid; it rejects with
 * `AuthProxyError` `ERR_SESSION_MALFORMED` for unreadable data and `ERR_STORE_UNAVAILABLE` when
 * the backing service cannot answer (other rejections are treated as unavailability).
 *
 * @example
 * const store: SessionStore = new MemorySessionStore();
 * await store.set('sid-1', { credentials: 'YWxpY2U6d29uZGVybGFuZA==' }, 3600);
 */
export interface SessionStore {
  get(sid: string): Promise<Session | undefined>;
  set(sid: string, session: Session, ttlSeconds?: number): Promise<void>;
  delete(sid: string): Promise<void>;
  /** Releases connections the store opened itself. */
  close?(): Promise<void>;
  /**
   * Optional: resolves when the backing service answers, for readiness checks. Without it they
   * read a sid that does not exist.
   */
  ping?(): Promise<void>;
  /**
   * Optional: calls `listener` whenever a session read through this store may have changed, so
   * that long-lived users (WebSocket sessions) can react at once. Returns the unsubscribe.
   */
  onInvalidate?(listener: InvalidationListener): () => void;
}

/** Parses the stored JSON, refusing anything but an object with a string `credentials`. */
export function parseSession(raw: string): Session {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (cause) {
    throw new AuthProxyError('ERR_SESSION_MALFORMED', 'session is not valid JSON', { cause });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new AuthProxyError('ERR_SESSION_MALFORMED', 'session is not a JSON object');
  }
  const { credentials } = data as { credentials?: unknown };
  if (typeof credentials !== 'string') {
    throw new AuthProxyError('ERR_SESSION_MALFORMED', 'session has no string "credentials"');
  }
  return { credentials };
}

/** The stored form, shared by every store so that they all read each other's data. */
export function serializeSession(session: Session): string {
  return JSON.stringify({ credentials: session.credentials });
}

/**
 * Validates a TTL the same way everywhere. `required`: a session issued without a lifetime would
 * outlive every token issued for it.
 */
export function checkTtl(ttlSeconds: number | undefined, required = false): void {
  if (ttlSeconds === undefined && !required) return;
  if (!(Number.isInteger(ttlSeconds) && (ttlSeconds ?? 0) > 0)) {
    throw new TypeError('express-auth-proxy: ttlSeconds must be a positive integer');
  }
}
