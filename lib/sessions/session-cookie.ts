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
 * otherwise, Path=/, and a max age matching the token.
 *
 * @example
 * res.cookie('Authorization', session.cookieValue, sessionCookieOptions(session.ttlSeconds));
 */
export function sessionCookieOptions(
  ttlSeconds: number,
  options: SessionCookieOptions = {},
): CookieOptions {
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
 * The `Set-Cookie` header value for an issued session (works without Express).
 *
 * @example
 * res.setHeader('set-cookie', sessionCookie(session, { secure: false }));
 */
export function sessionCookie(
  session: { cookieValue: string; ttlSeconds: number },
  options: SessionCookieOptions = {},
): string {
  return serialize(options, session.cookieValue, session.ttlSeconds);
}

/**
 * The `Set-Cookie` header value that removes the session cookie on logout.
 *
 * @example
 * res.setHeader('set-cookie', clearSessionCookie());
 */
export function clearSessionCookie(options: SessionCookieOptions = {}): string {
  return serialize(options, '', 0);
}

function serialize(options: SessionCookieOptions, value: string, maxAge: number): string {
  const parts = [`${options.name ?? 'Authorization'}=${value}`, `Path=${options.path ?? '/'}`];
  if (options.domain !== undefined) parts.push(`Domain=${options.domain}`);
  parts.push(`Max-Age=${maxAge}`, 'HttpOnly', 'SameSite=Lax');
  if (options.secure ?? true) parts.push('Secure');
  return parts.join('; ');
}
