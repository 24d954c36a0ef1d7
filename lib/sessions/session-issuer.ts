import { randomBytes } from 'node:crypto';
import jsonwebtoken from 'jsonwebtoken';
import { sealCredentials } from './credentials.js';
import type { CredentialsKey } from './credentials.js';
import { parseJwtKey } from './jwt-key.js';
import type { JwtKey } from './jwt-key.js';
import { HMAC_ALGORITHMS } from '../options.js';
import type { HmacAlgorithm } from '../options.js';
import { checkTtl } from './session-store.js';
import type { SessionStore } from './session-store.js';

/** Who the session is for: a user name and password, or ready-made Basic credentials. */
export type SessionSubject =
  { sub: string; username: string; password: string } | { sub: string; credentials: string };

export interface CreateSessionOptions {
  /** The same secret `authProxy` verifies with. */
  jwtKey: JwtKey;
  /** Seals the credentials at rest; give `authProxy` the same key. */
  credentialsKey?: CredentialsKey;
  /** Lifetime of the token and of the stored session. */
  ttlSeconds: number;
  /** Default `'HS512'`. */
  algorithm?: HmacAlgorithm;
}

export interface IssuedSession {
  /** The random session id (256 bits, base64url); keep it server-side for logout. */
  sid: string;
  /** The signed JWT: `{ sub, sid, iat, exp }`. */
  token: string;
  /** What the `Authorization` cookie holds: base64 of the token, the seed's format. */
  cookieValue: string;
  /** Seconds the token and the session live, for the cookie's Max-Age. */
  ttlSeconds: number;
}

/**
 * Issues a session after the login site has checked the user's password: stores
 * `{"credentials": base64("user:password")}` (sealed when `credentialsKey` is given) under a fresh
 * unguessable sid with a TTL, and signs the JWT that `authProxy` reads.
 *
 * @example
 * const session = await createSession(store, { sub: 'alice', username: 'alice', password }, { jwtKey, ttlSeconds: 3600 });
 * res.setHeader('set-cookie', sessionCookie(session));
 */
export async function createSession(
  store: SessionStore,
  subject: SessionSubject,
  options: CreateSessionOptions,
): Promise<IssuedSession> {
  const key = parseJwtKey(options.jwtKey);
  if (key === undefined) {
    throw new TypeError('express-auth-proxy: jwtKey must be a non-empty secret');
  }
  const { ttlSeconds } = options;
  checkTtl(ttlSeconds, true);
  const algorithm = options.algorithm ?? 'HS512';
  if (!HMAC_ALGORITHMS.has(algorithm)) {
    throw new TypeError('express-auth-proxy: algorithm must be HS256, HS384 or HS512');
  }
  const { sub } = subject;
  if (typeof sub !== 'string' || sub === '') {
    throw new TypeError('express-auth-proxy: sub must be a non-empty string');
  }
  const plain = basicCredentials(subject);
  const credentials =
    options.credentialsKey === undefined ? plain : sealCredentials(plain, options.credentialsKey);
  const sid = randomBytes(32).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const claims: jsonwebtoken.JwtPayload = { sub, sid, iat, exp: iat + ttlSeconds };
  // Signed before anything is stored, so that a failure leaves no orphan session behind.
  const token = jsonwebtoken.sign(claims, key, { algorithm });
  await store.set(sid, { credentials }, ttlSeconds);
  return { sid, token, cookieValue: Buffer.from(token).toString('base64'), ttlSeconds };
}

/**
 * Logs a session out: the next proxied request carrying its cookie gets 401.
 *
 * @example
 * await destroySession(store, sid);
 */
export function destroySession(store: SessionStore, sid: string): Promise<void> {
  return store.delete(sid);
}

function basicCredentials(subject: SessionSubject): string {
  if ('credentials' in subject) return subject.credentials;
  // RFC 7617: the user-id cannot contain a colon, or the backend would split it wrongly.
  if (subject.username.includes(':')) {
    throw new TypeError('express-auth-proxy: username must not contain ":"');
  }
  return Buffer.from(`${subject.username}:${subject.password}`, 'utf8').toString('base64');
}
