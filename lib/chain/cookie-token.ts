import { AuthProxyError } from '../errors.js';

// A compact JWS: three base64url segments. An empty signature (alg "none") never matches.
const COMPACT_JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;
// Standard and url-safe alphabets both occur in deployed login sites.
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
// Browsers cap a cookie at about 4 KiB; anything far longer is hostile.
const MAX_COOKIE_LENGTH = 8192;
// RFC 7519: the claims are a JSON object. jsonwebtoken parses the claims a second time when the
// header says typ JWT, so a JSON string holding an object passed as that object: a token that no
// strict verifier accepts.
const CLAIMS_OBJECT = /^[\t\n\r ]*\{/;

function malformed(reason: string): AuthProxyError {
  return new AuthProxyError('ERR_TOKEN_MALFORMED', `auth cookie ${reason}`);
}

/**
 * Extracts the compact JWT from the auth cookie value: base64 (standard or url-safe) of the JWT,
 * optionally wrapped in double quotes, or the raw JWT itself. Its claims segment must hold a JSON
 * object.
 *
 * @example
 * tokenFromCookieValue(Buffer.from('"eyJ...x.y.z"').toString('base64')); // 'eyJ...x.y.z'
 */
export function tokenFromCookieValue(value: string): string {
  if (value.length > MAX_COOKIE_LENGTH) throw malformed('is too long');
  let text = value;
  // '.' is outside both base64 alphabets, so a dot means the cookie holds the JWT itself.
  if (!text.includes('.')) {
    if (!BASE64.test(text)) throw malformed('is neither base64 nor a JWT');
    text = Buffer.from(text, 'base64').toString('latin1');
  }
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1);
  if (!COMPACT_JWT.test(text)) throw malformed('does not hold a compact JWT');
  const claims = text.slice(text.indexOf('.') + 1, text.lastIndexOf('.'));
  if (!CLAIMS_OBJECT.test(Buffer.from(claims, 'base64url').toString('latin1'))) {
    throw malformed('holds claims that are not a JSON object');
  }
  return text;
}
