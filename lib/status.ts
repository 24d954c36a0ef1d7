import type { ErrorCode } from './errors.js';

const STATUS: Readonly<Record<ErrorCode, number>> = {
  ERR_PATH_INVALID: 400,
  ERR_LENGTH_REQUIRED: 411,
  ERR_DESTINATION_INVALID: 400,
  ERR_IF_HEADER_INVALID: 400,
  ERR_BODY_HREF_INVALID: 400,
  ERR_BODY_TOO_LARGE: 413,
  ERR_WEBSOCKET_DISABLED: 403,
  ERR_TOKEN_MISSING: 401,
  ERR_COOKIE_DUPLICATE: 401,
  ERR_TOKEN_MALFORMED: 401,
  ERR_TOKEN_INVALID: 401,
  ERR_TOKEN_EXPIRED: 401,
  ERR_TOKEN_NOT_YET_VALID: 401,
  ERR_TOKEN_CLAIM_MISSING: 401,
  ERR_SESSION_NOT_FOUND: 401,
  ERR_SESSION_MALFORMED: 500,
  ERR_CREDENTIALS_INVALID: 500,
  ERR_CREDENTIALS_REJECTED: 401,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_UPSTREAM_UNREACHABLE: 502,
  ERR_UPSTREAM_FAILED: 502,
  ERR_UPSTREAM_TIMEOUT: 504,
  ERR_INTERNAL: 500,
};

/**
 * The HTTP status answered for a failure code. Pure, so the whole table is tested at once.
 *
 * @example
 * statusForCode('ERR_TOKEN_EXPIRED'); // 401
 */
export function statusForCode(code: ErrorCode): number {
  // An unknown code can only come from a cast; failing closed means 500, never a pass.
  return Object.hasOwn(STATUS, code) ? STATUS[code] : 500;
}
