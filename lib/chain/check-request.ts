import type { RequestHandler } from 'express';
import { AuthProxyError } from '../errors.js';

// Backends decode once, sometimes twice; three rounds cover what either would see.
const DECODE_ROUNDS = 3;

/**
 * Whether a path (below the mount point) would leave the target's path once the backend
 * normalizes it: a `.` or `..` segment, raw or percent-encoded, with `/` or `\` as separator.
 * Without this, `/dav/../admin` would carry the user's credentials outside `/remote.php`.
 *
 * @example
 * escapesPrefix('/files/a.txt');   // false
 * escapesPrefix('/%2e%2e/admin');  // true
 */
export function escapesPrefix(url: string): boolean {
  const query = url.indexOf('?');
  let path = query < 0 ? url : url.slice(0, query);
  // The common case has no dot, percent sign or backslash at all.
  if (!/[.%\\]/.test(path)) return false;
  for (let round = 0; round <= DECODE_ROUNDS; round++) {
    if (path.split(/[/\\]/).some(isDotSegment)) return true;
    const decoded = decodeEscapes(path);
    if (decoded === path) return false;
    path = decoded;
  }
  return false;
}

// `..;x` counts too: Tomcat and others strip `;` parameters from a segment before resolving it.
function isDotSegment(segment: string): boolean {
  const name = segment.split(';', 1)[0];
  return name === '.' || name === '..';
}

// Lenient on purpose: a malformed escape elsewhere in the path must not hide a valid %2e%2e,
// since lenient backends decode what they can.
function decodeEscapes(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

// http-proxy rewrites these methods' length headers as if they had no body (content-length: 0,
// transfer-encoding dropped) yet still streams what the client sends: a chunked body would reach
// the backend as a second request on a connection other users share.
const BODILESS_FOR_HTTP_PROXY = new Set(['DELETE', 'OPTIONS']);

/**
 * The first stage: refuses, before anything else runs, requests the proxy cannot pass on safely:
 * a path that is not origin-form or leaves the target's path (400), and a chunked DELETE or
 * OPTIONS body (411).
 */
export const checkRequest: RequestHandler = function checkRequest(req, _res, next): void {
  if (!req.url.startsWith('/') || escapesPrefix(req.url)) {
    next(new AuthProxyError('ERR_PATH_INVALID', 'path is not below the mount point'));
  } else if (
    BODILESS_FOR_HTTP_PROXY.has(req.method) &&
    req.headers['transfer-encoding'] !== undefined
  ) {
    next(new AuthProxyError('ERR_LENGTH_REQUIRED', `chunked ${req.method} body`));
  } else {
    next();
  }
};
