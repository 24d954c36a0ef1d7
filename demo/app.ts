import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import cookieParser from 'cookie-parser';
import express from 'express';
import type { ErrorRequestHandler, Request } from 'express';
import jwt from 'jsonwebtoken';
import morgan from 'morgan';
import {
  authProxy,
  AuthProxyError,
  clearSessionCookie,
  createSession,
  destroySession,
  MemorySessionStore,
  RedisSessionStore,
  sessionCookie,
  upgradeHandler,
} from '../lib/index.js';
import type { ErrorHandler, SessionStore } from '../lib/index.js';
import { startDavBackend, startMailBackend } from './backends.js';
import { escapeHtml, page } from './html.js';
import { checkPassword, DEMO_USERS } from './users.js';

export interface DemoOptions {
  port?: number;
  host?: string;
  /** Redis URL; without it the demo keeps sessions in memory. */
  redisUrl?: string;
  /** Where morgan writes the access log. Default: stdout. */
  accessLog?: Writable;
}

export interface Demo {
  url: string;
  storeKind: 'memory' | 'redis';
  /** Set when Redis did not answer at start-up: one line for the operator. */
  storeProblem: string | undefined;
  close(): Promise<void>;
}

const COOKIE = 'Authorization';
const TTL_SECONDS = 3600;
// The in-memory store reports a logout at once; Redis alone does not, so open WebSockets are
// rechecked this often (the library's default is 30 s).
const WS_RECHECK_MS = 2000;

/**
 * The whole flow on one machine: a login portal that issues sessions, and two Basic-auth-only
 * backends reached through `authProxy` mounts at /mail and /dav.
 */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  // A fresh key each start: the demo's sessions do not outlive it anyway.
  const jwtKey = randomBytes(64);
  const store: SessionStore =
    options.redisUrl === undefined
      ? new MemorySessionStore()
      : new RedisSessionStore(options.redisUrl, { keyPrefix: 'demo:' });
  const storeProblem =
    store instanceof RedisSessionStore
      ? await store.ping().then(
          () => undefined,
          () =>
            // The host only: a Redis URL may carry a password.
            `Redis at ${new URL(options.redisUrl ?? '').host} does not answer: pages that need a session answer 503 until it does (leave REDIS_URL empty to keep sessions in memory)`,
        )
      : undefined;
  const [mail, dav] = await Promise.all([
    startMailBackend(WS_RECHECK_MS / 1000),
    startDavBackend(),
  ]);

  const app = express();
  app.disable('x-powered-by');
  // Stock fields only: neither the cookie nor any Authorization header is ever logged.
  app.use(
    morgan(':method :url :status :res[content-length] - :response-time ms', {
      stream: options.accessLog ?? process.stdout,
    }),
  );

  const onError: ErrorHandler = (err, _req, res) => {
    res.status(err.status).type('html').send(errorPage(err.status, err.code));
  };
  const mailProxy = authProxy({
    target: mail.url,
    jwtKey,
    redis: store,
    onError,
    wsRecheckInterval: WS_RECHECK_MS,
  });
  const davProxy = authProxy({ target: `${dav.url}/remote.php`, jwtKey, redis: store, onError });
  app.use('/mail', mailProxy);
  app.use('/dav', davProxy);

  app.get('/', cookieParser(), async (req, res) => {
    res.type('html').send(portalPage(await currentUser(req, jwtKey, store)));
  });
  app.post('/login', express.urlencoded({ extended: false }), async (req, res) => {
    const { username, password } = req.body as Record<string, unknown>;
    if (
      typeof username !== 'string' ||
      typeof password !== 'string' ||
      !checkPassword(username, password)
    ) {
      res.status(401).type('html').send(loginPage('Unknown user or wrong password.'));
      return;
    }
    const session = await createSession(
      store,
      { sub: username, username, password },
      { jwtKey, ttlSeconds: TTL_SECONDS },
    );
    // The demo is served over plain http on localhost; a real site keeps Secure on.
    res.setHeader('set-cookie', sessionCookie(session, { secure: false }));
    res.redirect(303, '/');
  });
  app.post('/logout', cookieParser(), async (req, res) => {
    const claims = verifiedClaims(req, jwtKey);
    if (claims !== undefined) await destroySession(store, claims.sid);
    res.setHeader('set-cookie', clearSessionCookie({ secure: false }));
    res.redirect(303, '/');
  });

  // The portal's own failures (a session store that does not answer...) get the demo's page:
  // Express's default one shows a stack trace outside production.
  const failure: ErrorRequestHandler = function demoFailure(err: unknown, _req, res, _next) {
    const known = err instanceof AuthProxyError;
    if (!known) console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = known ? err.status : 500;
    res
      .status(status)
      .type('html')
      .send(errorPage(status, known ? err.code : 'ERR_INTERNAL'));
  };
  app.use(failure);

  const server = createServer(app);
  // WebSocket handshakes (the mail backend's live page) go through the same mounts and checks.
  server.on('upgrade', upgradeHandler(app));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, options.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    storeKind: options.redisUrl === undefined ? 'memory' : 'redis',
    storeProblem,
    async close() {
      const stopped = new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      server.closeAllConnections();
      // The server counts upgraded sockets too: the mounts close their WebSockets (1001) first.
      await Promise.all([mailProxy.close(), davProxy.close()]);
      await stopped;
      await Promise.all([mail.close(), dav.close()]);
      await store.close?.();
    },
  };
}

/** The claims of a valid session cookie, checked the way authProxy checks them. */
function verifiedClaims(req: Request, jwtKey: Buffer): { sid: string; sub: string } | undefined {
  const value = (req.cookies as Record<string, unknown>)[COOKIE];
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    const token = Buffer.from(value, 'base64').toString();
    const claims = jwt.verify(token, jwtKey, { algorithms: ['HS512'] }) as jwt.JwtPayload;
    const { sid, sub } = claims;
    return typeof sid === 'string' && typeof sub === 'string' ? { sid, sub } : undefined;
  } catch {
    return undefined;
  }
}

/** Who is logged in: a valid cookie whose session still exists. */
async function currentUser(
  req: Request,
  jwtKey: Buffer,
  store: SessionStore,
): Promise<string | undefined> {
  const claims = verifiedClaims(req, jwtKey);
  if (claims === undefined || (await store.get(claims.sid)) === undefined) return undefined;
  return claims.sub;
}

function portalPage(user: string | undefined): string {
  if (user === undefined) return loginPage();
  return page(
    'Demo portal',
    `<h1>Logged in as <span id="user">${escapeHtml(user)}</span></h1>
<p>Your browser now holds an <code>Authorization</code> cookie: a signed JWT naming a session.
Your password is in the session store, not in the cookie. Open a backend; the proxy turns the cookie
into <code>Authorization: Basic …</code> for it:</p>
<ul>
  <li><a id="mail" href="/mail/">Mail</a> (proxied to the mail backend)</li>
  <li><a id="dav" href="/dav/">Files</a> (proxied to the DAV backend's <code>/remote.php</code>)</li>
  <li><a id="live" href="/mail/live">Live clock</a> (a WebSocket to the mail backend, closed when you log out)</li>
</ul>
<form class="inline" method="post" action="/logout"><button id="logout" type="submit">Log out</button></form>`,
  );
}

function loginPage(error?: string): string {
  const rows = Object.entries(DEMO_USERS)
    .map(
      ([u, p]) =>
        `<tr><td><code>${escapeHtml(u)}</code></td><td><code>${escapeHtml(p)}</code></td></tr>`,
    )
    .join('\n');
  return page(
    'Log in',
    `<h1>express-auth-proxy demo</h1>
<p>Log in, then open the mail and file backends. They only understand HTTP Basic auth; the proxy
injects your credentials from the session.</p>
${error === undefined ? '' : `<p class="error" id="error">${escapeHtml(error)}</p>`}
<form method="post" action="/login">
  <label>User <input id="username" name="username" autocomplete="username" required></label>
  <label>Password <input id="password" name="password" type="password" autocomplete="current-password" required></label>
  <button id="login" type="submit">Log in</button>
</form>
<h2>Demo users</h2>
<table><tr><th>User</th><th>Password</th></tr>
${rows}
</table>`,
  );
}

function errorPage(status: number, code: string): string {
  const title =
    status === 401
      ? 'Not logged in'
      : code === 'ERR_STORE_UNAVAILABLE'
        ? 'The session store cannot be reached'
        : code.startsWith('ERR_UPSTREAM_')
          ? 'The backend cannot be reached'
          : 'Something went wrong';
  return page(
    title,
    `<h1 id="status">${status} ${escapeHtml(title)}</h1>
<p>${status === 401 ? 'This page needs a session.' : 'Try again in a moment.'} <span class="note">(${escapeHtml(code)})</span></p>
<p><a id="login-link" href="/">Log in</a></p>`,
  );
}
