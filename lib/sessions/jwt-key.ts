import { createSecretKey, KeyObject } from 'node:crypto';

/** An HMAC secret: a string (its UTF-8 bytes), bytes, or a secret KeyObject. */
export type JwtKey = string | Uint8Array | KeyObject;

/**
 * Turns a JWT secret into a KeyObject, once: given a string, jsonwebtoken would first try to parse
 * it as a public key on every verify. Returns `undefined` for anything that is not a usable secret.
 */
export function parseJwtKey(value: unknown): KeyObject | undefined {
  if (typeof value === 'string' && value !== '') return createSecretKey(Buffer.from(value, 'utf8'));
  if (value instanceof Uint8Array && value.length > 0) return createSecretKey(Buffer.from(value));
  if (value instanceof KeyObject && value.type === 'secret') return value;
  return undefined;
}
