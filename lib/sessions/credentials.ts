import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  KeyObject,
  randomBytes,
} from 'node:crypto';
import { AuthProxyError } from '../errors.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

/** A 32-byte AES-256 key: 64 hex characters, base64 (standard or url-safe), or raw bytes. */
export type CredentialsKey = string | Uint8Array | KeyObject;

/**
 * Parses a credentials key into a KeyObject, or explains why it is not one. Kept apart from the
 * options code so the sealing helpers accept exactly the same forms.
 */
export function parseCredentialsKey(key: unknown): KeyObject | string {
  if (key instanceof KeyObject) {
    return key.type === 'secret' && key.symmetricKeySize === KEY_BYTES
      ? key
      : 'must be a 32-byte secret key';
  }
  let bytes: Buffer;
  if (key instanceof Uint8Array) bytes = Buffer.from(key);
  else if (typeof key === 'string' && HEX_KEY.test(key)) bytes = Buffer.from(key, 'hex');
  else if (typeof key === 'string' && BASE64_KEY.test(key)) bytes = Buffer.from(key, 'base64');
  else return 'must be 32 bytes: 64 hex characters, base64 of 32 bytes, or a Buffer';
  if (bytes.length !== KEY_BYTES) return `must be 32 bytes, got ${bytes.length}`;
  return createSecretKey(bytes);
}

function keyObject(key: CredentialsKey): KeyObject {
  const parsed = parseCredentialsKey(key);
  if (typeof parsed === 'string')
    throw new TypeError(`express-auth-proxy: credentialsKey ${parsed}`);
  return parsed;
}

/**
 * Seals credentials for storage: `base64(iv[12] || AES-256-GCM ciphertext || tag[16])`, a fresh
 * random IV each call. What `authProxy({ credentialsKey })` opens.
 *
 * @example
 * const sealed = sealCredentials(Buffer.from('alice:wonderland').toString('base64'), key);
 * await redis.set(sid, JSON.stringify({ credentials: sealed }), 'EX', 3600);
 */
export function sealCredentials(plain: string, key: CredentialsKey): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyObject(key), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
}

/**
 * Opens what `sealCredentials` produced. Throws `AuthProxyError` `ERR_CREDENTIALS_INVALID` when
 * the value is not well formed, was sealed with another key, or was tampered with.
 *
 * @example
 * openCredentials(sealCredentials('YWxpY2U6d29uZGVybGFuZA==', key), key); // 'YWxpY2U6d29uZGVybGFuZA=='
 */
export function openCredentials(sealed: string, key: CredentialsKey): string {
  return openWith(sealed, keyObject(key));
}

/** `openCredentials` with a key parsed once, for the request path. */
export function openWith(sealed: string, key: KeyObject): string {
  const data = Buffer.from(sealed, 'base64');
  if (data.length <= IV_BYTES + TAG_BYTES) {
    throw new AuthProxyError('ERR_CREDENTIALS_INVALID', 'sealed credentials are too short');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return plain.toString('utf8');
  } catch (cause) {
    throw new AuthProxyError(
      'ERR_CREDENTIALS_INVALID',
      'sealed credentials failed to authenticate',
      {
        cause,
      },
    );
  }
}

// Printable ASCII only: anything else would be mangled (latin1) or rejected by Node's header
// checks, and CR/LF would split the header. No space at either end: parsers trim a header value,
// so the backend would receive other credentials than those stored.
const HEADER_SAFE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/**
 * The longest credentials value placed after `Basic ` (base64 of about 3 KiB of user:password).
 * Anything longer is a broken login site or a planted value: forwarded, it would make the backend
 * answer 431 and blame the client.
 */
export const MAX_CREDENTIALS_LENGTH = 4096;

/**
 * Builds the upstream Authorization value from decoded credentials, placed verbatim after
 * `Basic ` as the seed did, one trailing newline removed. Refuses (`ERR_CREDENTIALS_INVALID`) a
 * value that is empty, longer than {@link MAX_CREDENTIALS_LENGTH}, not printable ASCII, or starts
 * or ends with a space.
 *
 * @example
 * basicAuthorization('YWxpY2U6d29uZGVybGFuZA==\n'); // 'Basic YWxpY2U6d29uZGVybGFuZA=='
 */
export function basicAuthorization(credentials: string): string {
  const value = credentials.endsWith('\n') ? credentials.slice(0, -1) : credentials;
  if (value.length > MAX_CREDENTIALS_LENGTH) {
    throw new AuthProxyError(
      'ERR_CREDENTIALS_INVALID',
      `credentials are longer than ${MAX_CREDENTIALS_LENGTH} characters`,
    );
  }
  if (!HEADER_SAFE.test(value)) {
    throw new AuthProxyError(
      'ERR_CREDENTIALS_INVALID',
      'credentials are empty, contain characters that are not printable ASCII, or end in a space',
    );
  }
  return `Basic ${value}`;
}
