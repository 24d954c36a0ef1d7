import type { RequestHandler } from 'express';
import { AuthProxyError } from '../errors.js';
import { upgradeOf } from './scope.js';

// Backends decode once, sometimes twice; three rounds cover what either would see.
const DECODE_ROUNDS = 3;

// Anything but visible ASCII, and '#'. http-proxy parses the target with Node's legacy
// url.parse, which drops a '#' and everything after it (the query included), trims whitespace,
// control characters and U+00A0 at either end, and escapes some of the rest: what reaches the
// backend would not be what was checked. Node's HTTP parser already refuses most of these, but
// not '#', and none of them with `insecureHTTPParser`.
const ALTERED_CHARACTER = /[^!"$-~]/;
const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;

/**
 * Why a request target (below the mount point) cannot be proxied as it is, or `undefined` when
 * it can. Judges the target as http-proxy will forward it: it must be origin-form, hold nothing
 * that http-proxy would drop or rewrite (a fragment, whitespace, control or non-ASCII characters,
 * a `\` in the path, a leading `//user@host`), and stay below the target's path
 * ({@link escapesPrefix}). The proxy hook applies the same judgement to the path that leaves,
 * from the end of the target's path (`from`), so that nothing is copied in the common case.
 *
 * @example
 * pathProblem('/files/a.txt?x=1'); // undefined
 * pathProblem('/..#');             // 'request target holds a fragment or a character outside visible ASCII'
 */
export function pathProblem(url: string, from = 0): string | undefined {
  if (url.charCodeAt(from) !== SLASH) return 'request target is not origin-form';
  if (ALTERED_CHARACTER.test(url)) {
    return 'request target holds a fragment or a character outside visible ASCII';
  }
  const query = url.indexOf('?', from);
  const end = query < 0 ? url.length : query;
  // http-proxy turns it into '/', where the client may have meant a character of a name.
  const backslash = url.indexOf('\\', from);
  if (backslash >= 0 && backslash < end) return 'path holds a backslash';
  // url.parse reads `//user@host/rest` as an authority and forwards only `/rest`.
  if (url.charCodeAt(from + 1) === SLASH) {
    const at = url.indexOf('@', from + 2);
    const slash = url.indexOf('/', from + 2);
    if (at >= 0 && at < end && (slash < 0 || at < slash)) {
      return 'path would be read as an authority';
    }
  }
  if (mayClimb(url, from, end) && climbs(url.slice(from, end))) {
    return 'path is not below the mount point';
  }
  return undefined;
}

/**
 * Why the path of an upstream request is not under the target's path, or `undefined` when it
 * is: the last check, on the path that actually leaves, with the same rules as
 * {@link pathProblem}. `targetPath` is the target's path without a trailing slash (`''` for a
 * target at the root).
 *
 * @example
 * upstreamPathProblem('/remote.php/files/a.txt', '/remote.php'); // undefined
 * upstreamPathProblem('/remote.php/..', '/remote.php');          // 'path is not below the mount point'
 */
export function upstreamPathProblem(path: string, targetPath: string): string | undefined {
  if (!path.startsWith(targetPath)) return 'path is not below the target path';
  const next = path.charCodeAt(targetPath.length);
  // The target's path itself (what a pathRewrite to '' produces), with or without a query.
  if (Number.isNaN(next) || next === 0x3f) return pathProblem(`/${path.slice(targetPath.length)}`);
  return pathProblem(path, targetPath.length);
}

/**
 * The target's path as http-proxy prefixes it to every upstream path, without a trailing slash.
 * `target` is a normalized URL (as options produce it); url.parse escapes three characters that
 * the WHATWG parser leaves as they are.
 */
export function targetPathOf(target: string): string {
  return new URL(target).pathname
    .replace(/\/$/, '')
    .replace(/['^|]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

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
  return climbs(query < 0 ? url : url.slice(0, query));
}

// Dot segments need a '.' or an escape of one (backslashes are refused before this runs).
function mayClimb(url: string, from: number, end: number): boolean {
  for (let i = from; i < end; i++) {
    const c = url.charCodeAt(i);
    if (c === DOT || c === PERCENT) return true;
  }
  return false;
}

function climbs(path: string): boolean {
  // The common case has no dot, percent sign or backslash at all.
  if (!/[.%\\]/.test(path)) return false;
  let current = path;
  for (let round = 0; round <= DECODE_ROUNDS; round++) {
    if (current.split(/[/\\]/).some(isDotSegment)) return true;
    const decoded = decodeEscapes(current);
    if (decoded === current) return false;
    current = decoded;
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
 * a request target that http-proxy would alter or that leaves the target's path
 * ({@link pathProblem}, 400), and a chunked DELETE or OPTIONS body (411).
 */
export const checkRequest: RequestHandler = function checkRequest(req, _res, next): void {
  const problem = pathProblem(req.url);
  if (problem !== undefined) {
    next(new AuthProxyError('ERR_PATH_INVALID', problem));
  } else if (
    BODILESS_FOR_HTTP_PROXY.has(req.method) &&
    req.headers['transfer-encoding'] !== undefined
  ) {
    next(new AuthProxyError('ERR_LENGTH_REQUIRED', `chunked ${req.method} body`));
  } else {
    next();
  }
};

/**
 * Placed first on a mount created with `ws: false`: refuses WebSocket handshakes (403) before
 * any lookup is spent on them.
 */
export const refuseWebSockets: RequestHandler = function refuseWebSockets(req, _res, next): void {
  if (upgradeOf(req) === undefined) next();
  else next(new AuthProxyError('ERR_WEBSOCKET_DISABLED', 'WebSockets are disabled on this mount'));
};
