import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { escapeHtml, page } from './html.js';
import { checkPassword } from './users.js';

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

function startBasicAuthBackend(realm: string, render: Render): Promise<DemoBackend> {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const user = basicUser(req);
    if (user === undefined) {
      res.writeHead(401, {
        'www-authenticate': `Basic realm="${realm}"`,
        'content-type': 'text/plain',
      });
      res.end('401 Basic authentication required\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(render(user, req));
  });
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

/** "DAV": a file listing under /remote.php, like a Nextcloud WebDAV endpoint. */
export function startDavBackend(): Promise<DemoBackend> {
  return startBasicAuthBackend('Demo DAV', (user, req) =>
    page(
      `Files of ${user}`,
      `<h1>Demo DAV: files of <span id="user">${escapeHtml(user)}</span></h1>
<p class="note">Path seen by the backend: <code id="path">${escapeHtml(req.url ?? '')}</code></p>
<table><tr><th>Name</th><th>Size</th></tr>
<tr><td>notes.txt</td><td>1 KiB</td></tr>
<tr><td>photos/</td><td>-</td></tr>
<tr><td>report-${escapeHtml(user)}.pdf</td><td>84 KiB</td></tr>
</table>
<p><a href="/">Back to the portal</a></p>`,
    ),
  );
}
