import { statusForCode } from './status.js';

/**
 * Stable codes of the failures a proxied request can meet. They are part of the public contract:
 * logs, `onError` hooks and tests match on them, never on message text.
 */
export const ERROR_CODES = [
  'ERR_PATH_INVALID',
  'ERR_LENGTH_REQUIRED',
  'ERR_DESTINATION_INVALID',
  'ERR_IF_HEADER_INVALID',
  'ERR_BODY_HREF_INVALID',
  'ERR_BODY_TOO_LARGE',
  'ERR_WEBSOCKET_DISABLED',
  'ERR_TOKEN_MISSING',
  'ERR_COOKIE_DUPLICATE',
  'ERR_TOKEN_MALFORMED',
  'ERR_TOKEN_INVALID',
  'ERR_TOKEN_EXPIRED',
  'ERR_TOKEN_NOT_YET_VALID',
  'ERR_TOKEN_CLAIM_MISSING',
  'ERR_SESSION_NOT_FOUND',
  'ERR_SESSION_MALFORMED',
  'ERR_CREDENTIALS_INVALID',
  'ERR_CREDENTIALS_REJECTED',
  'ERR_STORE_UNAVAILABLE',
  'ERR_UPSTREAM_UNREACHABLE',
  'ERR_UPSTREAM_TIMEOUT',
  'ERR_UPSTREAM_FAILED',
  'ERR_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * A runtime failure of the proxy chain. Its message is safe to log: it never holds a token, a
 * cookie, a session id or a credentials value.
 *
 * @example
 * if (err instanceof AuthProxyError && err.code === 'ERR_TOKEN_EXPIRED') redirectToLogin(res);
 */
export class AuthProxyError extends Error {
  override readonly name = 'AuthProxyError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** The HTTP status this failure is answered with. */
  get status(): number {
    return statusForCode(this.code);
  }
}

/**
 * Thrown at construction when options are missing or malformed. `problems` lists every problem
 * found, each naming its option, so a bad deployment is fixed in one round.
 *
 * @example
 * try { authProxy(opts) } catch (e) { if (e instanceof AuthProxyConfigError) console.error(e.problems) }
 */
export class AuthProxyConfigError extends TypeError {
  override readonly name = 'AuthProxyConfigError';
  readonly code = 'ERR_INVALID_OPTIONS';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`express-auth-proxy: invalid options:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** Wraps anything thrown into an AuthProxyError, keeping the original as `cause`. */
export function toAuthProxyError(
  err: unknown,
  fallback: ErrorCode = 'ERR_INTERNAL',
  message = 'unexpected failure',
): AuthProxyError {
  return err instanceof AuthProxyError
    ? err
    : new AuthProxyError(fallback, message, { cause: err });
}
