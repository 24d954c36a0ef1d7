import cookieParser from 'cookie-parser';
import type { Request, RequestHandler } from 'express';
import { expressjwt, UnauthorizedError } from 'express-jwt';
import { hasConflictingCookies } from './cookie-header.js';
import { tokenFromCookieValue } from './cookie-token.js';
import { AuthProxyError } from '../errors.js';
import type { Config } from '../options.js';
import { openScope } from './scope.js';
import { nowSeconds, VerifiedClaimsCache } from './verified-claims.js';
import type { Claims } from './verified-claims.js';

// A name of our own: an application's express-jwt elsewhere sets `req.auth` for another token,
// which must never be mistaken for ours (for example when ours skipped a CORS preflight).
const CLAIMS = 'authProxyClaims';
// In a /u pattern a valid surrogate pair is one code point, so only unpaired halves match.
const LONE_SURROGATE = /\p{Cs}/u;

type ClaimsRequest = Request & { [CLAIMS]?: unknown };

/**
 * The token stage: cookie-parser, then express-jwt reading the JWT from the auth cookie and
 * verifying it, then the claims checks (`takeSid`), which open the request's scope with the sid.
 * A Cookie header that passed all of that before is served from a cache of verified claims
 * (exp and nbf checked again, and the same claims checks run); anything else takes the full path,
 * so refusals are never cached and a cache hit is exactly as strict as a miss.
 */
export function verifyToken(config: Config): RequestHandler {
  const { cookieName } = config;
  const parseCookies = cookieParser();
  const verify = expressjwt({
    secret: config.jwtKey,
    algorithms: config.algorithms,
    clockTolerance: config.clockTolerance,
    credentialsRequired: true,
    requestProperty: CLAIMS,
    getToken(req: Request): string | undefined {
      // Node joins repeated Cookie lines with '; ', so one header holds them all.
      const header = req.headers.cookie;
      if (header !== undefined && hasConflictingCookies(header, cookieName)) {
        throw new AuthProxyError('ERR_COOKIE_DUPLICATE', 'auth cookies with different values');
      }
      const value = (req.cookies as Record<string, unknown> | undefined)?.[cookieName];
      if (value === undefined || value === '') return undefined;
      // cookie-parser turns "j:{...}" values into objects: never a token of ours.
      if (typeof value !== 'string') {
        throw new AuthProxyError('ERR_TOKEN_MALFORMED', 'auth cookie is not a string');
      }
      return tokenFromCookieValue(value);
    },
  }) as unknown as RequestHandler;
  const verified = new VerifiedClaimsCache(config.clockTolerance);

  const accept = (req: ClaimsRequest, claims: unknown): void => {
    const sid = takeSid(claims, config);
    // takeSid has checked exp: a live WebSocket of this request ends at it.
    openScope(req, sid, (claims as { exp: number }).exp);
  };

  return function verifyToken(req: ClaimsRequest, res, next): void {
    const header = req.headers.cookie;
    // Only where the Cookie header decides everything: not for a CORS preflight (express-jwt lets
    // it through unverified), nor when an earlier middleware already parsed the cookies.
    const key =
      header !== undefined && req.method !== 'OPTIONS' && !parsedBefore(req) ? header : undefined;
    const cached = key === undefined ? undefined : verified.get(key, nowSeconds());
    if (cached !== undefined) {
      accept(req, cached);
      next();
      return;
    }
    parseCookies(req, res, (parseError?: unknown) => {
      if (parseError !== undefined) {
        next(tokenError(parseError));
        return;
      }
      void verify(req, res, (verifyError?: unknown) => {
        if (verifyError !== undefined) {
          next(tokenError(verifyError));
          return;
        }
        const claims = req[CLAIMS];
        try {
          accept(req, claims);
        } catch (refusal) {
          next(refusal);
          return;
        }
        if (key !== undefined) verified.set(key, claims as Claims);
        next();
      });
    });
  };
}

// cookie-parser leaves cookies that an earlier middleware parsed as they are.
function parsedBefore(req: Request): boolean {
  return (req as { cookies?: unknown }).cookies !== undefined;
}

/** Maps what express-jwt (and jsonwebtoken beneath it) throws onto our codes. */
export function tokenError(err: unknown): AuthProxyError {
  if (err instanceof AuthProxyError) return err;
  if (!(err instanceof UnauthorizedError)) {
    return new AuthProxyError('ERR_INTERNAL', 'token verification failed unexpectedly', {
      cause: err,
    });
  }
  if (err.code === 'credentials_required') {
    return new AuthProxyError('ERR_TOKEN_MISSING', 'no auth cookie', { cause: err });
  }
  // Matched by name: jsonwebtoken is express-jwt's dependency, not ours to import.
  const inner: unknown = err.inner;
  const innerName = inner instanceof Error ? inner.name : '';
  if (innerName === 'TokenExpiredError') {
    return new AuthProxyError('ERR_TOKEN_EXPIRED', 'token expired', { cause: err });
  }
  if (innerName === 'NotBeforeError') {
    return new AuthProxyError('ERR_TOKEN_NOT_YET_VALID', 'token not yet valid', { cause: err });
  }
  // jsonwebtoken's own messages are fixed phrases ("invalid signature"); a JSON parse error
  // quotes the token itself, so anything else is replaced rather than logged.
  const message = inner instanceof Error ? inner.message : err.message;
  const reason = /^[a-z ]{1,60}$/i.test(message) ? message : 'unreadable token';
  return new AuthProxyError('ERR_TOKEN_INVALID', `token rejected: ${reason}`, { cause: err });
}

/** What the claims are held to beyond their signature; `Config` fits. */
export interface ClaimLimits {
  /** Seconds of clock skew, as given to express-jwt. */
  clockTolerance: number;
  /** Seconds a token may live (`exp - iat`); undefined for no limit. */
  maxTokenLifetime: number | undefined;
}

/**
 * The claims checks, run on every request whether its claims come from express-jwt or from the
 * cache; returns the session id. Our policy is stricter than jsonwebtoken's: `exp` is required (a
 * token without it would never expire); `exp`, `nbf` and `iat`, when present, must be finite
 * numbers (JSON's `1e400` reads as Infinity, which jsonwebtoken compares happily: a token that
 * never expires); `sid` must be a non-empty, well-formed string; with `maxTokenLifetime`, `iat` is
 * required, not in the future, and at most that many seconds before `exp`.
 *
 * @example
 * const sid = takeSid(req.authProxyClaims, { clockTolerance: 0, maxTokenLifetime: 3600 });
 */
export function takeSid(claims: unknown, limits: ClaimLimits): string {
  // Absent when express-jwt let a CORS preflight through unverified: fail closed.
  if (typeof claims !== 'object' || claims === null) {
    throw new AuthProxyError('ERR_TOKEN_MISSING', 'request carries no verified token');
  }
  const { sid, exp, nbf, iat } = claims as {
    sid?: unknown;
    exp?: unknown;
    nbf?: unknown;
    iat?: unknown;
  };
  if (typeof exp !== 'number') {
    throw new AuthProxyError('ERR_TOKEN_CLAIM_MISSING', 'token has no exp claim');
  }
  if (!Number.isFinite(exp) || !finiteOrAbsent(nbf) || !finiteOrAbsent(iat)) {
    throw new AuthProxyError('ERR_TOKEN_INVALID', 'token time claim is not a finite number');
  }
  if (limits.maxTokenLifetime !== undefined) {
    checkLifetime(exp, iat, limits.maxTokenLifetime, limits.clockTolerance);
  }
  if (typeof sid !== 'string' || sid === '') {
    throw new AuthProxyError('ERR_TOKEN_CLAIM_MISSING', 'token has no string sid claim');
  }
  // A lone surrogate has no UTF-8 form: Redis would be asked for U+FFFD in its place, which is
  // another sid's key.
  if (LONE_SURROGATE.test(sid)) {
    throw new AuthProxyError('ERR_TOKEN_CLAIM_MISSING', 'token sid is not well-formed Unicode');
  }
  return sid;
}

function finiteOrAbsent(value: unknown): boolean {
  return value === undefined || (typeof value === 'number' && Number.isFinite(value));
}

// Only with maxTokenLifetime: a token must say when it was issued, not claim a later date (which
// would stretch its life past the limit), and live no longer than the limit.
function checkLifetime(
  exp: number,
  iat: unknown,
  maxLifetime: number,
  clockTolerance: number,
): void {
  if (typeof iat !== 'number') {
    throw new AuthProxyError(
      'ERR_TOKEN_CLAIM_MISSING',
      'token has no iat claim, which maxTokenLifetime requires',
    );
  }
  if (iat > Date.now() / 1000 + clockTolerance) {
    throw new AuthProxyError('ERR_TOKEN_INVALID', 'token issued in the future');
  }
  if (exp - iat > maxLifetime) {
    throw new AuthProxyError('ERR_TOKEN_INVALID', 'token lifetime exceeds maxTokenLifetime');
  }
}
