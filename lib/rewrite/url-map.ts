import { pathProblem, targetPathOf } from '../chain/check-request.js';

/** Where a mount's requests go, fixed when the mount is created. */
export interface UpstreamBase {
  /** `scheme://host[:port]` of the target, as `URL#origin` spells it. */
  origin: string;
  /** Host and port of the target, lower-case, the scheme's default port left out. */
  host: string;
  /** The target's path as http-proxy sends it, without a trailing slash: `''` or `/remote.php`. */
  path: string;
  /** With changeOrigin the backend sees the target's host; without, the client's. */
  changeOrigin: boolean;
}

/** How the client addressed the mount, known per request. */
export interface PublicBase {
  /** The mount point as the client spelled it (Express's `req.baseUrl`): `''` or `/dav`. */
  prefix: string;
  /** `scheme://host[:port]` the client addressed, or undefined when it sent no Host. */
  origin: string | undefined;
  /** Host and port the client addressed, normalized like `UpstreamBase#host`. */
  host: string | undefined;
}

/** Why a URL sent by the client cannot be passed on. */
export interface UrlProblem {
  problem: string;
}

/**
 * The fixed half of the mapping, from the target URL.
 *
 * @example
 * upstreamBase('http://127.0.0.1:8081/remote.php', true);
 * // { origin: 'http://127.0.0.1:8081', host: '127.0.0.1:8081', path: '/remote.php', changeOrigin: true }
 */
export function upstreamBase(target: string, changeOrigin: boolean): UpstreamBase {
  const url = new URL(target);
  return {
    origin: url.origin,
    host: url.host,
    path: targetPathOf(target),
    changeOrigin,
  };
}

/**
 * The per-request half: the mount point and origin the client used. `protocol` is `http` or
 * `https`; `host` is the Host header.
 *
 * @example
 * publicBase('/dav', 'https', 'Example.org:443'); // { prefix: '/dav', origin: 'https://example.org', host: 'example.org' }
 */
export function publicBase(prefix: string, protocol: string, host: string | undefined): PublicBase {
  const normalized = host === undefined ? undefined : normalizeHost(protocol, host);
  return {
    prefix,
    origin: normalized === undefined ? undefined : `${protocol}://${normalized}`,
    host: normalized,
  };
}

/**
 * Translates a URL the client sent (a `Destination`, a resource tag of `If`) into the one the
 * backend must receive. Absolute URIs must name the host the client addressed and absolute paths
 * must lie below the mount point; the part below it must pass the same rule as request paths
 * (`pathProblem`). Percent-encoding is kept as sent.
 *
 * @example
 * const up = upstreamBase('http://10.0.0.5:8081/remote.php', true);
 * const pub = publicBase('/dav', 'https', 'example.org');
 * toUpstream('https://example.org/dav/a%20b.txt', up, pub); // 'http://10.0.0.5:8081/remote.php/a%20b.txt'
 * toUpstream('/mail/x', up, pub); // { problem: 'outside this mount' }
 */
export function toUpstream(url: string, up: UpstreamBase, pub: PublicBase): string | UrlProblem {
  const parts = splitUrl(url);
  if (parts === undefined) return { problem: 'is not an absolute URI or path' };
  const { scheme, authority, rest } = parts;
  if (authority !== undefined) {
    if (scheme !== 'http' && scheme !== 'https') return { problem: 'is not an http(s) URI' };
    if (authority.includes('@')) return { problem: 'carries user information' };
    const host = normalizeHost(scheme, authority);
    if (host === undefined || host !== pub.host) return { problem: 'names another host' };
  }
  const remainder = belowPrefix(rest.startsWith('/') ? rest : `/${rest}`, pub.prefix);
  if (remainder === undefined) return { problem: 'is outside this mount' };
  const unsafe = pathProblem(remainder.startsWith('/') ? remainder : `/${remainder}`);
  if (unsafe !== undefined) return { problem: `has an unsafe path (${unsafe})` };
  const path = joinPath(up.path, remainder);
  if (authority === undefined) return path;
  return `${up.changeOrigin ? up.origin : `${scheme}://${authority}`}${path}`;
}

/**
 * Translates an href of a client's request body (a `calendar-multiget` REPORT, PROPPATCH values,
 * a LOCK owner) into the one the backend must read. An absolute path, or a URL on the host the
 * client addressed, names a resource of this mount: it is translated as {@link toUpstream} does,
 * and refused outside the mount. A URL on another host (a LOCK owner's home page), a URN or a
 * `mailto:` names no resource of the backend and is kept; a relative reference is kept unless it
 * climbs with dot segments.
 *
 * @example
 * const up = upstreamBase('http://10.0.0.5:8081/remote.php', true);
 * const pub = publicBase('/dav', 'https', 'example.org');
 * bodyHrefToUpstream('/dav/cal/event.ics', up, pub); // '/remote.php/cal/event.ics'
 * bodyHrefToUpstream('mailto:alice@example.org', up, pub); // 'mailto:alice@example.org'
 * bodyHrefToUpstream('/mail/x', up, pub); // { problem: 'is outside this mount' }
 */
export function bodyHrefToUpstream(
  href: string,
  up: UpstreamBase,
  pub: PublicBase,
): string | UrlProblem {
  const parts = splitUrl(href);
  if (parts === undefined) {
    if (href.startsWith('//')) return { problem: 'is a network-path reference' };
    // A relative reference or a URI without an authority (mailto:, urn:).
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(href)) return href;
    const problem = pathProblem(`/${href}`);
    return problem === undefined ? href : { problem: `has an unsafe path (${problem})` };
  }
  if (parts.authority !== undefined) {
    const host = normalizeHost(parts.scheme ?? '', parts.authority);
    const http = parts.scheme === 'http' || parts.scheme === 'https';
    if (!http || host === undefined || host !== pub.host) return href;
  }
  return toUpstream(href, up, pub);
}

/**
 * Translates a URL the backend sent (`Location`, `Content-Location`, a multistatus `href`) into the
 * one the client must see: the target's origin becomes the client's, a path below the target's
 * path moves below the mount point. Anything else (relative references, other hosts, URNs) is
 * returned unchanged.
 *
 * @example
 * const up = upstreamBase('http://10.0.0.5:8081/remote.php', true);
 * const pub = publicBase('/dav', 'https', 'example.org');
 * toPublic('http://10.0.0.5:8081/remote.php/a%20b.txt', up, pub); // 'https://example.org/dav/a%20b.txt'
 * toPublic('/remote.php/', up, pub); // '/dav/'
 */
export function toPublic(url: string, up: UpstreamBase, pub: PublicBase): string {
  // The common case of a multistatus: an absolute path below the target's path.
  if (url.startsWith('/') && !url.startsWith('//')) return publicPath(url, up, pub);
  const parts = splitUrl(url);
  if (parts?.scheme === undefined || parts.authority === undefined) return url;
  const { scheme, authority, rest } = parts;
  const host = normalizeHost(scheme, authority);
  let origin: string;
  // The backend's own origin never reaches the client; the client's is kept.
  if (host === up.host) origin = pub.origin ?? '';
  else if (host !== undefined && host === pub.host) origin = url.slice(0, url.length - rest.length);
  else return url;
  const path = rest.startsWith('/') ? publicPath(rest, up, pub) : rest;
  return origin === '' && !path.startsWith('/') ? `/${path}` : `${origin}${path}`;
}

function publicPath(path: string, up: UpstreamBase, pub: PublicBase): string {
  if (up.path === pub.prefix) return path;
  const remainder = belowPrefix(path, up.path, false);
  if (remainder === undefined) return path;
  const mapped = `${pub.prefix}${remainder}`;
  return mapped === '' || mapped.startsWith('?') ? `/${mapped}` : mapped;
}

/**
 * What follows `prefix` in `path` (`''`, `/...` or `?...`), or undefined when `path` is not below
 * it. The mount point is compared without regard to case, as Express routes by default.
 */
function belowPrefix(path: string, prefix: string, ignoreCase = true): string | undefined {
  if (!path.startsWith('/')) return undefined;
  if (prefix === '') return path;
  const head = path.slice(0, prefix.length);
  if (ignoreCase ? head.toLowerCase() !== prefix.toLowerCase() : head !== prefix) return undefined;
  const next = path.charAt(prefix.length);
  return next === '' || next === '/' || next === '?' ? path.slice(prefix.length) : undefined;
}

/**
 * The upstream path of a path below the mount point, as http-proxy builds it for the request line:
 * the target's path, a slash, the rest, runs of slashes collapsed; the query string kept as is.
 */
function joinPath(base: string, remainder: string): string {
  const query = remainder.indexOf('?');
  const path = query < 0 ? remainder : remainder.slice(0, query);
  const search = query < 0 ? '' : remainder.slice(query);
  return `${base}/${path}`.replace(/\/{2,}/g, '/') + search;
}

interface UrlParts {
  /** Lower-case; undefined for an absolute path. */
  scheme: string | undefined;
  authority: string | undefined;
  /** Path, query and fragment, as sent: `''`, or starting with `/`, `?` or `#`. */
  rest: string;
}

// RFC 3986 absolute URIs with an authority. Network-path references (`//host/x`) are not WebDAV's.
const ABSOLUTE_URI = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/;

function splitUrl(url: string): UrlParts | undefined {
  if (url.startsWith('/')) {
    return url.startsWith('//')
      ? undefined
      : { scheme: undefined, authority: undefined, rest: url };
  }
  const match = ABSOLUTE_URI.exec(url);
  if (match === null) return undefined;
  return {
    scheme: match[1]?.toLowerCase(),
    authority: match[2] ?? '',
    rest: url.slice(match[0].length),
  };
}

/** Host and port as WHATWG URL normalizes them (case, default port, IPv6), or undefined. */
function normalizeHost(scheme: string, authority: string): string | undefined {
  if (authority === '') return undefined;
  try {
    return new URL(`${scheme}://${authority}`).host;
  } catch {
    return undefined;
  }
}
