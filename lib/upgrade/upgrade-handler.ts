import { ServerResponse, STATUS_CODES } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { AuthProxyConfigError } from '../errors.js';
import { setUpgrade } from '../chain/scope.js';

/** An Express application, or any `(req, res, next)` handler that routes like one. */
export type UpgradeApp = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => unknown;

/** A listener for the HTTP server's `'upgrade'` event. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface UpgradeHandlerOptions {
  /**
   * Which upgrade requests this handler takes. Those it returns false for are left untouched for
   * the server's other `'upgrade'` listeners (a socket.io server on its own path, say).
   * Default: every upgrade request.
   */
  filter?: (req: IncomingMessage) => boolean;
}

// RFC 6455 4.1: a GET whose Upgrade names websocket (Node has already checked Connection).
const WEBSOCKET = /(?:^|,)\s*websocket\s*(?:,|$)/i;

/**
 * Returns the listener for the HTTP server's `'upgrade'` event that passes WebSocket handshakes
 * through the app itself: each `authProxy` mount receives the upgrades under its path (prefix
 * stripped, target path prefixed) and runs the same chain as for HTTP requests (path rules,
 * cookie, JWT, session, credentials) before the backend sees anything. A refusal is a complete
 * HTTP answer on the socket, then the socket is closed. An upgrade that no route takes gets 404.
 *
 * @example
 * const app = express();
 * app.use('/mail', authProxy({ target, jwtKey, redis }));
 * const server = app.listen(3000);
 * server.on('upgrade', upgradeHandler(app));
 *
 * @example
 * // Leave socket.io's upgrades to socket.io.
 * server.on('upgrade', upgradeHandler(app, { filter: (req) => !req.url?.startsWith('/socket.io/') }));
 */
export function upgradeHandler(
  app: UpgradeApp,
  options: UpgradeHandlerOptions = {},
): UpgradeListener {
  const filter = checkOptions(app, options);
  return function handleUpgrade(req, socket, head): void {
    if (filter !== undefined && !takes(filter, req, socket)) return;
    // Node hands over the connection's own socket (TCP or TLS); nothing else can carry a response.
    if (!(socket instanceof Socket)) {
      socket.destroy();
      return;
    }
    // Node removed its own listener before handing the socket over: without one, a reset
    // connection would throw from the socket and take the process down.
    socket.on('error', ignoreSocketError);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => {
      socket.end(() => socket.destroy());
    });
    // Node's parser stops at the head of an upgrade request: a body would be in `head`, out of
    // reach of the app, which would read an empty one.
    if (
      req.headers['transfer-encoding'] !== undefined ||
      hasContent(req.headers['content-length'])
    ) {
      answer(res, 400);
      return;
    }
    // Any other upgrade (h2c...) runs as the plain request it also is; the chain drops `Upgrade`.
    if (req.method === 'GET' && WEBSOCKET.test(req.headers.upgrade ?? '')) {
      setUpgrade(req, { socket, head, res });
    }
    app(req, res, (err?: unknown) => {
      answer(res, err === undefined ? 404 : errorStatus(err));
    });
  };
}

function checkOptions(app: unknown, options: unknown): UpgradeHandlerOptions['filter'] {
  const problems: string[] = [];
  if (typeof app !== 'function') {
    problems.push('app: must be an Express application, upgradeHandler(app)');
  }
  if (typeof options !== 'object' || options === null) {
    problems.push('options: must be an object');
    throw new AuthProxyConfigError(problems);
  }
  for (const name of Object.keys(options)) {
    if (name !== 'filter' && (options as Record<string, unknown>)[name] !== undefined) {
      problems.push(`${name}: unknown option`);
    }
  }
  const { filter } = options as { filter?: unknown };
  if (filter !== undefined && typeof filter !== 'function') {
    problems.push('filter: must be a function (req) => boolean');
  }
  if (problems.length > 0) throw new AuthProxyConfigError(problems);
  return filter as UpgradeHandlerOptions['filter'];
}

// A throwing filter is a bug in the application; the socket is closed rather than left hanging.
function takes(
  filter: NonNullable<UpgradeHandlerOptions['filter']>,
  req: IncomingMessage,
  socket: Duplex,
): boolean {
  try {
    return filter(req);
  } catch {
    socket.destroy();
    return false;
  }
}

function hasContent(length: string | undefined): boolean {
  return length !== undefined && length !== '0';
}

function ignoreSocketError(): void {
  // The socket is being destroyed; its owner learns of it through 'close'.
}

function errorStatus(err: unknown): number {
  const status =
    (err as { status?: unknown; statusCode?: unknown } | null)?.status ??
    (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : 500;
}

// The handler's own answers: a route-less upgrade, an app error, a body we cannot pass on.
function answer(res: ServerResponse, status: number): void {
  if (res.writableEnded) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(`${status} ${STATUS_CODES[status] ?? 'Error'}\n`);
}
