import type { RequestHandler } from 'express';
import { AuthProxyError } from './errors.js';

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
    if (path.split(/[/\\]/).some((segment) => segment === '.' || segment === '..')) return true;
    const decoded = decodeEscapes(path);
    if (decoded === path) return false;
    path = decoded;
  }
  return false;
}

// Lenient on purpose: a malformed escape elsewhere in the path must not hide a valid %2e%2e,
// since lenient backends decode what they can.
function decodeEscapes(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/** The path stage: refuses paths that escape the target's prefix before anything else runs. */
export const checkPath: RequestHandler = function checkPath(req, _res, next): void {
  if (escapesPrefix(req.url)) {
    next(new AuthProxyError('ERR_PATH_INVALID', 'path leaves the mount point'));
  } else {
    next();
  }
};
