import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Request } from 'express';
import { toAuthProxyError } from '../errors.js';
import type { AuthProxyError } from '../errors.js';
import { sidHash } from '../logger.js';
import type { Logger } from '../logger.js';
import { authorizationFor } from '../chain/resolve-session.js';
import type { Decoder } from '../chain/resolve-session.js';
import { scopeOf } from '../chain/scope.js';
import type { SessionStore } from '../sessions/session-store.js';
import type { StoreDeadline } from '../sessions/store-deadline.js';
import { CLOSE_CODES, LiveSocket } from './live-socket.js';

// Node's timers take at most a signed 32-bit number of milliseconds.
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LiveSocketsOptions {
  store: SessionStore;
  decode: Decoder;
  /** The deadline the chain puts on store lookups. */
  within: StoreDeadline;
  recheckInterval: number;
  /** Seconds a token stays accepted after its `exp`, as for HTTP requests. */
  clockTolerance: number;
  logger: Logger;
}

interface Entry {
  socket: LiveSocket;
  path: string;
  expiry: NodeJS.Timeout;
  ended: boolean;
}

/**
 * The open WebSockets of one mount, by session. Each is closed when its session ends: at its
 * token's `exp`, when a periodic recheck (every `recheckInterval`) finds the session gone, and at
 * once when the store reports an invalidation (`onInvalidate`). The recheck asks the very
 * function the chain uses for HTTP requests, so both always agree.
 */
export class LiveSockets {
  readonly #options: LiveSocketsOptions;
  readonly #bySid = new Map<string, Set<Entry>>();
  // A check in progress per sid; `again` when something asked for a fresh one meanwhile.
  readonly #checking = new Map<string, { again: boolean }>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #closing = false;

  constructor(options: LiveSocketsOptions) {
    this.#options = options;
  }

  /** Number of open WebSockets. */
  get size(): number {
    let count = 0;
    for (const entries of this.#bySid.values()) count += entries.size;
    return count;
  }

  /** Registers the WebSocket whose 101 has just been relayed (the request's scope names its session). */
  open(req: IncomingMessage, client: Duplex, upstream: Duplex): void {
    const scope = scopeOf(req);
    const socket = new LiveSocket(client, upstream);
    if (scope === undefined || this.#closing) {
      socket.close(CLOSE_CODES.goingAway, 'server shutting down');
      return;
    }
    const { sid, exp } = scope;
    const url = (req as Partial<Request>).originalUrl ?? req.url ?? '';
    const expiresIn = (exp + this.#options.clockTolerance) * 1000 - Date.now();
    const entry: Entry = {
      socket,
      path: `${req.method ?? ''} ${url.split('?', 1)[0] ?? ''}`,
      expiry: setTimeout(
        () => {
          this.#end(entry, sid, CLOSE_CODES.sessionEnded, 'ERR_TOKEN_EXPIRED', 'token expired');
        },
        Math.min(Math.max(expiresIn, 0), MAX_TIMER_MS),
      ),
      ended: false,
    };
    entry.expiry.unref();
    let entries = this.#bySid.get(sid);
    if (entries === undefined) {
      entries = new Set();
      this.#bySid.set(sid, entries);
    }
    entries.add(entry);
    this.#watch();
    void socket.closed.then(() => {
      clearTimeout(entry.expiry);
      this.#forget(sid, entry);
    });
  }

  /** Closes every WebSocket with 1001 and resolves once they are all gone. */
  async close(): Promise<void> {
    this.#closing = true;
    const all = [...this.#bySid.values()].flatMap((entries) => [...entries]);
    if (all.length > 0) {
      this.#options.logger.info(
        `express-auth-proxy: closing ${all.length} WebSocket(s) with ${CLOSE_CODES.goingAway}`,
      );
    }
    for (const entry of all) {
      entry.ended = true;
      entry.socket.close(CLOSE_CODES.goingAway, 'server shutting down');
    }
    await Promise.all(all.map((entry) => entry.socket.closed));
    this.#unwatch();
  }

  // The periodic recheck and the store's invalidations run only while sockets are open.
  #watch(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      for (const sid of this.#bySid.keys()) this.#check(sid);
    }, this.#options.recheckInterval);
    this.#timer.unref();
    this.#unsubscribe = this.#options.store.onInvalidate?.((sid) => {
      if (sid === undefined) for (const known of this.#bySid.keys()) this.#check(known);
      else if (this.#bySid.has(sid)) this.#check(sid);
    });
  }

  #unwatch(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #forget(sid: string, entry: Entry): void {
    const entries = this.#bySid.get(sid);
    if (entries === undefined) return;
    entries.delete(entry);
    if (entries.size > 0) return;
    this.#bySid.delete(sid);
    if (this.#bySid.size === 0) this.#unwatch();
  }

  // One lookup per session however many sockets share it. An invalidation that arrives while a
  // lookup is in flight gets a lookup of its own afterwards: the first may have read stale data.
  #check(sid: string): void {
    const running = this.#checking.get(sid);
    if (running !== undefined) {
      running.again = true;
      return;
    }
    const state = { again: false };
    this.#checking.set(sid, state);
    const { store, decode, within } = this.#options;
    authorizationFor(store, decode, within, undefined, sid)
      .then(
        () => undefined,
        (err: unknown) => {
          this.#refused(sid, toAuthProxyError(err));
        },
      )
      .finally(() => {
        this.#checking.delete(sid);
        if (state.again && this.#bySid.has(sid)) this.#check(sid);
      })
      .catch(() => undefined);
  }

  #refused(sid: string, error: AuthProxyError): void {
    // Fail closed: a session that cannot be checked is not kept open, but the client is told
    // to come back later rather than to log in again.
    const code =
      error.code === 'ERR_STORE_UNAVAILABLE' ? CLOSE_CODES.tryAgainLater : CLOSE_CODES.sessionEnded;
    for (const entry of this.#bySid.get(sid) ?? []) {
      this.#end(entry, sid, code, error.code, error.message);
    }
  }

  #end(entry: Entry, sid: string, code: number, why: string, message: string): void {
    if (entry.ended) return;
    entry.ended = true;
    const line = `express-auth-proxy: WebSocket closed ${code} ${why} ${entry.path} ${sidHash(sid)}: ${message}`;
    if (code === CLOSE_CODES.tryAgainLater) this.#options.logger.warn(line);
    else this.#options.logger.info(line);
    entry.socket.close(
      code,
      code === CLOSE_CODES.tryAgainLater ? 'try again later' : 'session ended',
    );
  }
}
