import jwt from 'jsonwebtoken';

export const JWT_KEY = 'testsecretpourlestests';

export interface TokenOptions {
  key?: string;
  algorithm?: jwt.Algorithm;
  /** Seconds from now; `null` leaves the claim out. */
  expiresIn?: number | null;
  notBefore?: number;
  claims?: Record<string, unknown>;
}

/** Signs a session JWT the way the seed's login site does (HS512, sub/sid/iat/exp). */
export function sign(sid: string | undefined, options: TokenOptions = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { sub: 'someone', iat: now, ...options.claims };
  if (sid !== undefined) payload.sid = sid;
  const expiresIn = options.expiresIn === undefined ? 60 : options.expiresIn;
  if (expiresIn !== null) payload.exp = now + expiresIn;
  if (options.notBefore !== undefined) payload.nbf = now + options.notBefore;
  return jwt.sign(payload, options.key ?? JWT_KEY, {
    algorithm: options.algorithm ?? 'HS512',
  });
}

/** The cookie value the seed's login site sets: base64 of the JWT, optionally quoted. */
export function cookieValue(token: string, quoted = false): string {
  return Buffer.from(quoted ? `"${token}"` : token).toString('base64');
}

export function authCookie(sid: string, options?: TokenOptions): string {
  return `Authorization=${cookieValue(sign(sid, options))}`;
}
