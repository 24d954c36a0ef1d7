import type { IncomingHttpHeaders } from 'node:http';
import { withoutCookie } from './cookie-header.js';

// Connection-level headers describe the client's hop, not ours (RFC 9110 7.6.1). `expect` is
// answered by Node already; `upgrade` on a plain request is how h2c smuggling starts. The client's
// own credentials are replaced by the session's.
const NEVER_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'authorization',
  'proxy-authorization',
]);

// Framing and routing stay even when a client names them in `Connection`: dropping them would
// change how the body is delimited or where the request goes.
const ALWAYS_KEPT = new Set(['content-length', 'transfer-encoding', 'host']);

/**
 * The headers the backend receives: the client's, less hop-by-hop headers, less the auth cookie
 * (other cookies kept), with `authorization` set to the session's credentials. Pure: the caller
 * decides where the result goes.
 *
 * @example
 * upstreamHeaders({ cookie: 'a=1; Authorization=eyJ', authorization: 'Bearer x' }, 'Basic Zm9v', 'Authorization');
 * // { cookie: 'a=1', authorization: 'Basic Zm9v' }
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  authorization: string,
  cookieName: string,
): IncomingHttpHeaders {
  const named = connectionTokens(incoming.connection);
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (NEVER_FORWARDED.has(name) || (named.has(name) && !ALWAYS_KEPT.has(name))) continue;
    if (name === 'cookie' && typeof value === 'string') {
      const rest = withoutCookie(value, cookieName);
      if (rest !== undefined) out.cookie = rest;
    } else {
      out[name] = value;
    }
  }
  out.authorization = authorization;
  return out;
}

function connectionTokens(connection: string | undefined): Set<string> {
  if (connection === undefined) return new Set();
  return new Set(connection.split(',').map((token) => token.trim().toLowerCase()));
}
