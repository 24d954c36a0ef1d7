import { serialize } from 'cookie';
import type { CookieOptions } from 'express';

export interface SessionCookieOptions {
  /** Default `'Authorization'`, what `authProxy` reads. */
  name?: string;
  /** Default `true`. Only a site served over plain http (a local demo) should turn it off. */
  secure?: boolean;
  /** Default `'/'`, so every mounted backend receives it. */
  path?: string;
  domain?: string;
}

/**
 * Express cookie options for the session cookie: HttpOnly, SameSite=Lax, Secure unless told
 * otherwise, Path=/, and a max age matching the token. A bad `ttlSeconds`, name, path or domain
 * throws a `TypeError` naming it.
 *
 * @example
 * res.cookie('Authorization', session.cookieValue, sessionCookieOptions(session.ttlSeconds));
 */
export function sessionCookieOptions(
  ttlSeconds: number,
  options: SessionCookieOptions = {},
): CookieOptions {
  checkTtl('sessionCookieOptions', ttlSeconds);
  // Express builds the header later, far from this call: the same checks run now instead.
  serializeCookie('sessionCookieOptions', '', ttlSeconds, options);
  return {
    httpOnly: true,
    sameSite: 'lax',
    secure: options.secure ?? true,
    path: options.path ?? '/',
    maxAge: ttlSeconds * 1000,
    ...(options.domain === undefined ? {} : { domain: options.domain }),
  };
}

/**
 * The `Set-Cookie` header value for an issued session (works without Express). A bad
 * `ttlSeconds`, cookie value, name, path or domain throws a `TypeError` naming it.
 *
 * @example
 * res.setHeader('set-cookie', sessionCookie(session, { secure: false }));
 */
export function sessionCookie(
  session: { cookieValue: string; ttlSeconds: number },
  options: SessionCookieOptions = {},
): string {
  checkTtl('sessionCookie', session.ttlSeconds);
  return serializeCookie('sessionCookie', session.cookieValue, session.ttlSeconds, options);
}

/**
 * The `Set-Cookie` header value that removes the session cookie on logout: give it the name, path
 * and domain the cookie was set with.
 *
 * @example
 * res.setHeader('set-cookie', clearSessionCookie());
 */
export function clearSessionCookie(options: SessionCookieOptions = {}): string {
  return serializeCookie('clearSessionCookie', '', 0, options);
}

function checkTtl(caller: string, ttlSeconds: unknown): void {
  if (typeof ttlSeconds !== 'number' || !Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new TypeError(`${caller}: ttlSeconds must be a whole number of seconds > 0`);
  }
}

// The cookie package's errors name what they refuse (`option path is invalid`); ours say why.
const PROBLEMS: Readonly<Record<string, string>> = {
  name: 'name must be a cookie name (RFC 6265 token characters)',
  val: 'cookieValue must be a cookie value (no space, comma, semicolon, backslash or double quote)',
  path: 'path must start with / and hold no control character or semicolon',
  domain: 'domain must be a host name such as example.com',
  secure: 'secure must be true or false',
};

/** What the cookie package lets through but the session cookie must not have. */
function optionProblem(value: unknown, options: SessionCookieOptions): string | undefined {
  const { name, path, domain, secure } = options as Record<keyof SessionCookieOptions, unknown>;
  if (typeof value !== 'string') return PROBLEMS.val;
  if (name !== undefined && typeof name !== 'string') return PROBLEMS.name;
  // Without a leading slash, browsers ignore the attribute and use the page's directory.
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) {
    return PROBLEMS.path;
  }
  // The serializer skips an empty domain: a cookie scoped wider or narrower than asked.
  if (domain !== undefined && (typeof domain !== 'string' || domain === '')) {
    return PROBLEMS.domain;
  }
  if (secure !== undefined && typeof secure !== 'boolean') return PROBLEMS.secure;
  return undefined;
}

/**
 * The one place the header is built, by the cookie package's serializer: it checks the name, the
 * value, the path and the domain, so an injected `;` cannot add attributes. Errors name our field
 * and never quote the value (a session token).
 */
function serializeCookie(
  caller: string,
  value: string,
  maxAge: number,
  options: SessionCookieOptions,
): string {
  const problem = optionProblem(value, options);
  if (problem !== undefined) throw new TypeError(`${caller}: ${problem}`);
  const { name = 'Authorization', path = '/', domain, secure = true } = options;
  try {
    return serialize(name, value, {
      // The value is base64 already: sent as is, as login sites always have.
      encode: (raw) => raw,
      maxAge,
      ...(domain === undefined ? {} : { domain }),
      path,
      httpOnly: true,
      secure,
      sameSite: 'lax',
    });
  } catch (err) {
    const field = /^(?:argument|option) (\w+) is invalid/.exec((err as Error).message)?.[1];
    const reworded = field === undefined ? undefined : PROBLEMS[field];
    if (reworded === undefined) throw err;
    throw new TypeError(`${caller}: ${reworded}`, { cause: err });
  }
}
