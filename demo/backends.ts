import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { v2 as webdav } from 'webdav-server';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { filesPage } from './dav-page.js';
import { escapeHtml, page } from './html.js';
import { livePage } from './live-page.js';
import { checkPassword, DEMO_USERS } from './users.js';

/** A backend that speaks only HTTP Basic auth and knows nothing of JWTs or cookies. */
export interface DemoBackend {
  url: string;
  close(): Promise<void>;
}

/** Returns the user name of valid Basic credentials, or undefined. */
function basicUser(req: IncomingMessage): string | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '');
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const user = decoded.slice(0, colon);
  return checkPassword(user, decoded.slice(colon + 1)) ? user : undefined;
}

function challenge(res: ServerResponse, realm: string): void {
  res.writeHead(401, {
    'www-authenticate': `Basic realm="${realm}"`,
    'content-type': 'text/plain',
  });
  res.end('401 Basic authentication required\n');
}

/** `beforeClose` ends what Node's connection tracking does not see: upgraded sockets. */
function listenOnLoopback(server: Server, beforeClose?: () => void): Promise<DemoBackend> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((done) => {
            server.close(() => {
              done();
            });
            server.closeAllConnections();
            beforeClose?.();
          }),
      });
    });
  });
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '').split('?', 1)[0] ?? '';
}

const MESSAGES = [
  ['The Mad Hatter', 'Tea at six, as always'],
  ['White Rabbit', 'Late, late, late!'],
  ['Bob', 'Can we fix it?'],
];

/** Names (never values) of the cookies the backend received: the auth cookie must not be one. */
function cookieNames(req: IncomingMessage): string {
  const names = (req.headers.cookie ?? '')
    .split(';')
    .map((pair) => pair.split('=', 1)[0]?.trim() ?? '')
    .filter((name) => name !== '');
  return names.length === 0 ? 'no cookie' : `cookies: ${escapeHtml(names.join(', '))}`;
}

function inboxPage(user: string, req: IncomingMessage): string {
  return page(
    `Inbox of ${user}`,
    `<h1>Demo Mail: inbox of <span id="user">${escapeHtml(user)}</span></h1>
<p class="note">This backend only speaks HTTP Basic auth. It received
<code>Authorization: Basic …</code> for <strong>${escapeHtml(user)}</strong> from the proxy, and
<span id="cookies">${cookieNames(req)}</span>.</p>
<table><tr><th>From</th><th>Subject</th></tr>
${MESSAGES.map(([from = '', subject = '']) => `<tr><td>${escapeHtml(from)}</td><td>${escapeHtml(subject)}</td></tr>`).join('\n')}
</table>
<p><a id="live" href="live">Live clock</a> (a WebSocket through the proxy) · <a href="/">Back to the portal</a></p>`,
  );
}

/** A refusal on a socket that has not become a WebSocket: the HTTP answer, then the end. */
function refuseUpgrade(socket: Duplex, status: '401 Unauthorized' | '404 Not Found'): void {
  socket.on('error', () => undefined);
  const challenge = status.startsWith('401') ? 'WWW-Authenticate: Basic realm="Demo Mail"\r\n' : '';
  socket.end(`HTTP/1.1 ${status}\r\n${challenge}Connection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** The live page's socket: whose it is, then the time every second, and an echo of each message. */
function serveClock(ws: WebSocket, user: string): void {
  const send = (message: Record<string, string>): void => {
    ws.send(JSON.stringify(message));
  };
  const tick = (): void => {
    send({ type: 'tick', time: new Date().toISOString() });
  };
  send({ type: 'hello', user });
  tick();
  const timer = setInterval(tick, 1000);
  ws.on('message', (data, isBinary) => {
    // With ws's default binaryType, every message arrives as one Buffer.
    if (!isBinary) send({ type: 'echo', text: (data as Buffer).toString().slice(0, 200) });
  });
  ws.once('close', () => {
    clearInterval(timer);
  });
}

/**
 * "Mail": an inbox for whoever the Basic credentials say, and at /live a page whose WebSocket
 * (same address, same Basic credentials) carries a clock and an echo. `recheckSeconds` is the
 * proxy's, for the page's explanation.
 */
export function startMailBackend(recheckSeconds: number): Promise<DemoBackend> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const user = basicUser(req);
    if (user === undefined) {
      challenge(res, 'Demo Mail');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(pathOf(req) === '/live' ? livePage(user, recheckSeconds) : inboxPage(user, req));
  });
  // A backend checks the handshake's credentials as it checks any request's.
  const sockets = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const user = basicUser(req);
    if (user === undefined) refuseUpgrade(socket, '401 Unauthorized');
    else if (pathOf(req) !== '/live') refuseUpgrade(socket, '404 Not Found');
    else {
      sockets.handleUpgrade(req, socket, head, (ws) => {
        serveClock(ws, user);
      });
    }
  });
  return listenOnLoopback(server, () => {
    for (const ws of sockets.clients) ws.terminate();
  });
}

const DAV_PREFIX = '/remote.php';

type Execute = (req: IncomingMessage, res: ServerResponse, rootPath: string) => void;

/** One user's WebDAV store, in memory, with a file and a folder to start with. */
async function davStore(user: string, password: string): Promise<Execute> {
  const users = new webdav.SimpleUserManager();
  const account = users.addUser(user, password, false);
  const privileges = new webdav.SimplePathPrivilegeManager();
  privileges.setRights(account, '/', ['all']);
  const dav = new webdav.WebDAVServer(
    Object.assign(new webdav.WebDAVServerOptions(), {
      httpAuthentication: new webdav.HTTPBasicAuthentication(users, 'Demo DAV'),
      privilegeManager: privileges,
    }),
  );
  await dav.rootFileSystem().addSubTreeAsync(dav.createExternalContext(), {
    'notes.txt': `Notes of ${user}\n`,
    photos: webdav.ResourceType.Directory,
  });
  // Typed `any` by the library.
  return dav.executeRequest as Execute;
}

/**
 * "DAV": a real WebDAV store for each user under /remote.php, like a Nextcloud endpoint
 * (webdav-server, in memory). A browser opening a folder gets the file manager page; every other
 * request is WebDAV.
 */
export async function startDavBackend(): Promise<DemoBackend> {
  const stores = new Map<string, Execute>();
  for (const [user, password] of Object.entries(DEMO_USERS)) {
    stores.set(user, await davStore(user, password));
  }
  const server = createServer((req, res) => {
    const user = basicUser(req);
    const execute = user === undefined ? undefined : stores.get(user);
    if (user === undefined || execute === undefined) {
      challenge(res, 'Demo DAV');
      return;
    }
    const url = req.url ?? '';
    if (url !== DAV_PREFIX && !url.startsWith(`${DAV_PREFIX}/`)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 Not Found\n');
      return;
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && url.split('?', 1)[0]?.endsWith('/')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : filesPage(user, url));
      return;
    }
    req.url = url.slice(DAV_PREFIX.length) || '/';
    execute(req, res, DAV_PREFIX);
  });
  return listenOnLoopback(server);
}
