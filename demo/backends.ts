import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { v2 as webdav } from 'webdav-server';
import { filesPage } from './dav-page.js';
import { escapeHtml, page } from './html.js';
import { checkPassword, DEMO_USERS } from './users.js';

/** A backend that speaks only HTTP Basic auth and knows nothing of JWTs or cookies. */
export interface DemoBackend {
  url: string;
  close(): Promise<void>;
}

type Render = (user: string, req: IncomingMessage) => string;

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

function listenOnLoopback(server: Server): Promise<DemoBackend> {
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
          }),
      });
    });
  });
}

function startBasicAuthBackend(realm: string, render: Render): Promise<DemoBackend> {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const user = basicUser(req);
    if (user === undefined) {
      challenge(res, realm);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(render(user, req));
  });
  return listenOnLoopback(server);
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

/** "Mail": an inbox for whoever the Basic credentials say. */
export function startMailBackend(): Promise<DemoBackend> {
  return startBasicAuthBackend('Demo Mail', (user, req) =>
    page(
      `Inbox of ${user}`,
      `<h1>Demo Mail: inbox of <span id="user">${escapeHtml(user)}</span></h1>
<p class="note">This backend only speaks HTTP Basic auth. It received
<code>Authorization: Basic …</code> for <strong>${escapeHtml(user)}</strong> from the proxy, and
<span id="cookies">${cookieNames(req)}</span>.</p>
<table><tr><th>From</th><th>Subject</th></tr>
${MESSAGES.map(([from = '', subject = '']) => `<tr><td>${escapeHtml(from)}</td><td>${escapeHtml(subject)}</td></tr>`).join('\n')}
</table>
<p><a href="/">Back to the portal</a></p>`,
    ),
  );
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
