import type {
  ClientRequest,
  IncomingHttpHeaders,
  IncomingMessage,
  ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';

/**
 * What the chain learns about one request, in one place. Kept out of the request object itself,
 * so that it cannot collide with the application's own request properties or be set by anything
 * outside the chain.
 */
export interface Scope {
  sid: string;
  /** The token's `exp` claim, in seconds since the epoch: when a live WebSocket must end. */
  exp: number;
  /** The complete upstream Authorization value, set once credentials are resolved. */
  authorization: string | undefined;
  /** The client's own headers, set aside while http-proxy reads the rewritten ones. */
  clientHeaders?: IncomingHttpHeaders | undefined;
  /** The mount point as the client spelled it (`req.baseUrl`), to translate URLs back. */
  publicPrefix?: string | undefined;
  /**
   * Set once the backend's response arrived: http-proxy has then put its status and headers on
   * the response, so a later failure can only cut the connection.
   */
  upstreamResponded?: boolean;
  /** The request to the backend once it has a socket: abandoned if the client leaves first. */
  upstream?: ClientRequest | undefined;
}

/**
 * A WebSocket handshake taken from the server's 'upgrade' event: the raw socket, the bytes that
 * followed the request head, and the response object bound to that socket on which refusals are
 * written.
 */
export interface Upgrade {
  socket: Socket;
  head: Buffer;
  res: ServerResponse;
}

// Kept beside the request rather than on it. Express gives every request object a hidden class of
// its own (it swaps the prototype of each one), so a property added to a request makes V8 build a
// new class for that one object (about 1 KB and 2 µs, measured), and every later read of it misses
// the inline caches. A WeakMap entry costs neither and goes with the request.
const scopes = new WeakMap<IncomingMessage, Scope>();
const upgrades = new WeakMap<IncomingMessage, Upgrade>();

/**
 * Opens the request's scope once its token is verified. Every field exists from the start, so
 * that the later stages fill the object in place rather than grow it.
 */
export function openScope(req: IncomingMessage, sid: string, exp: number): Scope {
  const scope: Scope = {
    sid,
    exp,
    authorization: undefined,
    clientHeaders: undefined,
    publicPrefix: undefined,
    upstreamResponded: false,
    upstream: undefined,
  };
  scopes.set(req, scope);
  return scope;
}

export function scopeOf(req: IncomingMessage): Scope | undefined {
  return scopes.get(req);
}

/** Marks a request as a WebSocket handshake; only `upgradeHandler` does. */
export function setUpgrade(req: IncomingMessage, upgrade: Upgrade): void {
  upgrades.set(req, upgrade);
}

/** The handshake this request is, or undefined for every plain HTTP request. */
export function upgradeOf(req: IncomingMessage): Upgrade | undefined {
  return upgrades.get(req);
}
