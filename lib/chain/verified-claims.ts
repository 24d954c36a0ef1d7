import { LRUCache } from 'lru-cache';

/** Claims of a token that passed every check, as the token stage hands them on. */
export type Claims = Readonly<Record<string, unknown>>;

interface Entry {
  claims: Claims;
  /** Seconds (as jsonwebtoken counts them) from which the token is valid, tolerance included. */
  notBefore: number;
  /** Seconds from which it is expired, tolerance included. */
  expiresAt: number;
}

export interface ClaimsCacheLimits {
  maxEntries: number;
  /** Approximate bytes of keys and claims together. */
  maxBytes: number;
}

const DEFAULT_LIMITS: ClaimsCacheLimits = { maxEntries: 10_000, maxBytes: 8 * 2 ** 20 };
// The claims were decoded from the token inside the key, so they are smaller than it; the rest is
// the entry and the cache's own bookkeeping.
const ENTRY_OVERHEAD = 512;

/** The clock jsonwebtoken uses for exp and nbf: whole seconds. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Verified claims by the exact request value they came from (the whole Cookie header), so that a
 * repeat request skips cookie parsing and signature verification. Only the outcome of a complete
 * verification is stored; `exp` and `nbf` are checked again on every use with jsonwebtoken's own
 * rule, and an entry outside its window is dropped so that the full path answers for it. Bounded in
 * entries and bytes, least recently used first out.
 *
 * @example
 * const cache = new VerifiedClaimsCache(0);
 * cache.set(req.headers.cookie, claims);
 * cache.get(req.headers.cookie, nowSeconds()); // claims, until exp
 */
export class VerifiedClaimsCache {
  readonly #entries: LRUCache<string, Entry>;
  readonly #tolerance: number;

  constructor(clockTolerance: number, limits: ClaimsCacheLimits = DEFAULT_LIMITS) {
    this.#tolerance = clockTolerance;
    this.#entries = new LRUCache<string, Entry>({
      max: limits.maxEntries,
      maxSize: limits.maxBytes,
      sizeCalculation: (_entry, key) => 2 * key.length + ENTRY_OVERHEAD,
    });
  }

  /** The claims stored under exactly `key`, if they are valid at `now` (seconds). */
  get(key: string, now: number): Claims | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (now < entry.notBefore || now >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.claims;
  }

  /** Stores claims that passed verification and every claims check. */
  set(key: string, claims: Claims): void {
    const { exp, nbf } = claims;
    // Same rule as jsonwebtoken: valid while nbf <= now + tolerance and now < exp + tolerance.
    // Without a finite exp the entry is never valid (the claims checks refuse such a token first).
    const expiresAt = Number.isFinite(exp) ? (exp as number) + this.#tolerance : -Infinity;
    const notBefore = typeof nbf === 'number' ? nbf - this.#tolerance : -Infinity;
    this.#entries.set(key, { claims: Object.freeze({ ...claims }), notBefore, expiresAt });
  }

  get size(): number {
    return this.#entries.size;
  }
}
