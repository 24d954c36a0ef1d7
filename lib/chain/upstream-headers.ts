import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorCode } from '../errors.js';
import { withoutCookie } from './cookie-header.js';

// Connection-level headers describe the client's hop, not ours (RFC 9110 7.6.1). `expect` is
// answered by Node already; `upgrade` on a plain request is how h2c smuggling starts. The client's
// own credentials are replaced by the session's.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'];

// The handshake headers of RFC 6455 mean nothing without `Upgrade`; a WebSocket handshake keeps
// them (and gets `Connection`/`Upgrade` set by us), every other request loses them.
const WEBSOCKET_HANDSHAKE = [
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'sec-websocket-accept',
];

const NEVER_FORWARDED_ON_UPGRADE = new Set([
  ...HOP_BY_HOP,
  'expect',
  'authorization',
  'proxy-authorization',
]);
const NEVER_FORWARDED = new Set([...NEVER_FORWARDED_ON_UPGRADE, ...WEBSOCKET_HANDSHAKE]);

// What the client claims about earlier hops, replaced by what this proxy saw (xfwd).
const FORWARDED = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
]);

// Framing and routing stay even when a client names them in `Connection`: dropping them would
// change how the body is delimited or where the request goes.
const ALWAYS_KEPT = new Set(['content-length', 'transfer-encoding', 'host']);

export interface UpstreamHeaderOptions {
  /** The complete Authorization value to send. */
  authorization: string;
  /** The auth cookie, removed from Cookie. */
  cookieName: string;
  /** Drop the client's Forwarded / X-Forwarded-*: http-proxy's xfwd then sets its own. */
  replaceForwarded: boolean;
  /** A WebSocket handshake: keep its `Sec-WebSocket-*` headers and ask the backend to upgrade. */
  upgrade?: boolean;
}

/**
 * The headers the backend receives: the client's, less hop-by-hop headers, less the auth cookie
 * (other cookies kept), with `authorization` set to the session's credentials. A WebSocket
 * handshake also keeps `Sec-WebSocket-*` and carries `Connection: Upgrade`, `Upgrade: websocket`;
 * any other request loses all of them (an `Upgrade` on a plain request is how h2c smuggling
 * starts). Pure: the caller decides where the result goes.
 *
 * @example
 * upstreamHeaders({ cookie: 'a=1; Authorization=eyJ', authorization: 'Bearer x' },
 *   { authorization: 'Basic Zm9v', cookieName: 'Authorization', replaceForwarded: true });
 * // { cookie: 'a=1', authorization: 'Basic Zm9v' }
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  options: UpstreamHeaderOptions,
): IncomingHttpHeaders {
  const named = connectionTokens(incoming.connection);
  const never = options.upgrade === true ? NEVER_FORWARDED_ON_UPGRADE : NEVER_FORWARDED;
  const out: IncomingHttpHeaders = {};
  // Names only, rather than Object.entries: no array of pairs per request.
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (never.has(name) || (named.has(name) && !ALWAYS_KEPT.has(name))) continue;
    if (options.replaceForwarded && FORWARDED.has(name)) continue;
    if (name === 'cookie' && typeof value === 'string') {
      const rest = withoutCookie(value, options.cookieName);
      if (rest !== undefined) out.cookie = rest;
    } else {
      out[name] = value;
    }
  }
  out.authorization = options.authorization;
  if (options.upgrade === true) {
    out.connection = 'Upgrade';
    out.upgrade = 'websocket';
    // http-proxy's WebSocket path sets X-Forwarded-For/-Port/-Proto but not -Host, as HTTP has.
    if (options.replaceForwarded && incoming.host !== undefined) {
      out['x-forwarded-host'] = incoming.host;
    }
  }
  return out;
}

/**
 * Removes the backend's hop-by-hop response headers in place and states our own connection
 * decision, which http-proxy then copies instead of the backend's.
 */
export function dropResponseHopByHop(headers: IncomingHttpHeaders, keepAlive: boolean): void {
  // In place: http-proxy copies from this very object after the 'proxyRes' event. `connection`
  // itself is overwritten below rather than deleted: deleting a property that is not the last one
  // added turns the object into a slow dictionary, for http-proxy to copy.
  for (const name of connectionTokens(headers.connection)) {
    if (name !== 'connection' && !ALWAYS_KEPT.has(name)) deleteHeader(headers, name);
  }
  for (const name of HOP_BY_HOP) {
    if (name !== 'connection') deleteHeader(headers, name);
  }
  headers.connection = keepAlive ? 'keep-alive' : 'close';
}

function deleteHeader(headers: IncomingHttpHeaders, name: string): void {
  if (headers[name] !== undefined) Reflect.deleteProperty(headers, name);
}

// Most messages name nothing in Connection, or only `keep-alive` or `close`: share one set for
// each of these rather than allocate one per message.
const NO_TOKENS: ReadonlySet<string> = new Set();
const COMMON_TOKENS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  ['keep-alive', 'Keep-Alive', 'close', 'Close'].map((value) => [
    value,
    new Set([value.toLowerCase()]),
  ]),
);

function connectionTokens(connection: string | undefined): ReadonlySet<string> {
  if (connection === undefined) return NO_TOKENS;
  return (
    COMMON_TOKENS.get(connection) ??
    new Set(connection.split(',').map((token) => token.trim().toLowerCase()))
  );
}

// Schemes a browser answers with its own login box. The credentials are the session's to send:
// a box would have the user type a password into a page that never asked for one.
const LOGIN_BOX_SCHEME = /(?:^|,)\s*(?:basic|digest|ntlm|negotiate)(?=\s|,|$)/i;

/**
 * The refusal a backend response calls for instead of being passed on, or `undefined`: a 401
 * whose `WWW-Authenticate` names a scheme the browser would prompt for (Basic, Digest, NTLM,
 * Negotiate; any case, among other challenges, on any header line) means the backend refused
 * the session's credentials; a 407 asks this proxy for credentials of its own, which it does not
 * have. Cheap for every other status.
 *
 * @example
 * backendAuthRefusal(401, { 'www-authenticate': 'Bearer realm="a", Basic realm="b"' }); // 'ERR_CREDENTIALS_REJECTED'
 * backendAuthRefusal(200, {}); // undefined
 */
export function backendAuthRefusal(
  statusCode: number | undefined,
  headers: IncomingHttpHeaders,
): ErrorCode | undefined {
  if (statusCode === 407) return 'ERR_UPSTREAM_FAILED';
  if (statusCode !== 401) return undefined;
  const challenge = headers['www-authenticate'];
  return challenge !== undefined && LOGIN_BOX_SCHEME.test(challenge)
    ? 'ERR_CREDENTIALS_REJECTED'
    : undefined;
}

/**
 * Removes in place the backend's authentication challenges that are not the browser's business:
 * `Proxy-Authenticate` and `Proxy-Authentication-Info` (addressed to this proxy, RFC 9110
 * 11.7), and a `WWW-Authenticate` naming a login-box scheme on a status other than 401.
 */
export function dropChallenges(headers: IncomingHttpHeaders): void {
  Reflect.deleteProperty(headers, 'proxy-authenticate');
  Reflect.deleteProperty(headers, 'proxy-authentication-info');
  const challenge = headers['www-authenticate'];
  if (challenge !== undefined && LOGIN_BOX_SCHEME.test(challenge)) {
    Reflect.deleteProperty(headers, 'www-authenticate');
  }
}
