import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { Agent, get as httpGet } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { untilListening } from '../helpers/cli-process.js';
import { startBackend } from '../helpers/backend.js';
import type { Backend, Seen } from '../helpers/backend.js';
import { request } from '../helpers/http.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';
import { closeOf, mustOpen, nextMessage, openWebSocket, startWsBackend } from '../helpers/ws.js';

const CLI = fileURLToPath(new URL('../../dist/server/cli.js', import.meta.url));
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
const CREDENTIALS = Buffer.from('foo:bar').toString('base64');

let redisServer: RedisServer;
let backend: Backend;
let dir: string;
let keyFile: string;
let release: () => void = () => undefined;
let heldRequestArrived: () => void = () => undefined;

before(async () => {
  redisServer = await startRedis();
  backend = await startBackend((req, res, seen) => {
    if (req.url === '/slow') {
      heldRequestArrived();
      release = () => res.end(JSON.stringify(seen));
    } else {
      res.end(JSON.stringify(seen));
    }
  });
  dir = mkdtempSync(join(tmpdir(), 'eap-cli-'));
  keyFile = join(dir, 'jwt.key');
  writeFileSync(keyFile, `${JWT_KEY}\n`);
  const redis = new Redis(redisServer.url);
  await redis.set('sid', JSON.stringify({ credentials: CREDENTIALS }));
  redis.disconnect();
});
after(async () => {
  await backend.close();
  await redisServer.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The flags of a server that proxies / to the test backend, plus `extra`. */
// A later flag wins over an earlier one (node:util parseArgs), so `extra` can override --port.
function serverArgs(...extra: string[]): string[] {
  return [
    '--target',
    backend.url,
    '--jwt-key-file',
    keyFile,
    '--redis',
    redisServer.url,
    '--port',
    '0',
    ...extra,
  ];
}

/** Resolves when the backend holds a request to /slow (answered by `release()`). */
function slowRequestArrives(): Promise<void> {
  return new Promise<void>((resolve) => {
    heldRequestArrived = resolve;
  });
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (for --help, --version, --check-config and refusals). */
function runCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface Server {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stdout: () => string;
  stderr: () => string;
}

/** Starts the CLI as a server and waits for its "listening on" line. */
async function serve(args: string[], env: Record<string, string> = {}): Promise<Server> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, ...env },
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const { url, stderr } = await untilListening(child);
  return { child, url, stdout: () => stdout, stderr };
}

async function stop(server: Server): Promise<number | null> {
  if (server.child.exitCode !== null) return server.child.exitCode;
  const exited = once(server.child, 'exit');
  server.child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

describe('express-auth-proxy CLI', () => {
  it('prints help and version', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    for (const flag of [
      '--route',
      '--jwt-key-file',
      '--redis',
      '--port',
      '--host',
      '--check-config',
    ]) {
      assert.ok(help.stdout.includes(flag), flag);
    }
    assert.match(help.stdout, /AUTH_PROXY_JWT_KEY_FILE/);
    const version = await runCli(['--version']);
    assert.deepEqual([version.code, version.stdout], [0, `${VERSION}\n`]);
  });

  it('lists every configuration problem and exits 2', async () => {
    const run = await runCli([
      '--route',
      'mail',
      '--route',
      '/dav=ftp://x',
      '--redis',
      'http://x',
      '--port',
      'abc',
    ]);
    assert.equal(run.code, 2);
    for (const expected of [
      '--route mail:',
      '--route /dav:',
      '--redis:',
      '--port:',
      '--jwt-key-file: required',
    ]) {
      assert.ok(run.stderr.includes(expected), `${expected} missing from:\n${run.stderr}`);
    }
  });

  it('refuses an unknown flag', async () => {
    const run = await runCli(['--jwt-keyfile', keyFile]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /jwt-keyfile/);
  });

  it('--check-config exits 0 when everything holds and Redis answers', async () => {
    const run = await runCli(serverArgs('--check-config'));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /configuration ok/);
  });

  it('--check-config exits 1 when Redis does not answer', async () => {
    const run = await runCli(
      serverArgs('--check-config', '--redis', 'redis://127.0.0.1:1', '--redis-timeout', '300'),
    );
    assert.equal(run.code, 1);
    assert.match(run.stderr, /--redis: no answer from Redis within 300 ms/);
  });

  it('--check-config lists an unreachable Redis together with the other problems', async () => {
    const run = await runCli([
      '--check-config',
      '--route',
      '/x=ftp://y',
      '--jwt-key-file',
      keyFile,
      '--redis',
      'redis://127.0.0.1:1',
      '--redis-timeout',
      '300',
    ]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--route \/x: must be an http: or https: URL/);
    assert.match(run.stderr, /--redis: no answer from Redis within 300 ms/);
  });

  it('--check-config reports a key file that cannot be read', async () => {
    const run = await runCli([
      '--check-config',
      '--target',
      backend.url,
      '--jwt-key-file',
      join(dir, 'missing.key'),
      '--redis',
      redisServer.url,
    ]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--jwt-key-file .*missing\.key: cannot be read \(ENOENT\)/);
  });

  it('runs from environment variables alone, with health endpoints and a clean access log', async () => {
    const server = await serve([], {
      AUTH_PROXY_ROUTES: `/mail=${backend.url}/m, /dav=${backend.url}/remote.php`,
      AUTH_PROXY_JWT_KEY_FILE: keyFile,
      AUTH_PROXY_REDIS: redisServer.url,
      AUTH_PROXY_PORT: '0',
    });
    try {
      assert.equal((await request(`${server.url}/healthz`)).status, 200);
      assert.equal((await request(`${server.url}/readyz`)).status, 200);
      const cookie = authCookie('sid');
      const mail = await request(`${server.url}/mail/inbox?token=s3cr3t`, { headers: { cookie } });
      assert.equal(mail.status, 200);
      const seen = JSON.parse(mail.body) as Seen;
      assert.equal(seen.url, '/m/inbox?token=s3cr3t');
      assert.equal(seen.headers.authorization, `Basic ${CREDENTIALS}`);
      const dav = await request(`${server.url}/dav/f`, { headers: { cookie } });
      assert.equal((JSON.parse(dav.body) as Seen).url, '/remote.php/f');
      assert.equal((await request(`${server.url}/mail/`)).status, 401);

      assert.match(server.stdout(), /"GET \/mail\/inbox HTTP\/1.1" 200/);
      const logs = server.stdout() + server.stderr();
      for (const secret of [
        's3cr3t',
        cookie.slice('Authorization='.length),
        CREDENTIALS,
        JWT_KEY,
      ]) {
        assert.ok(!logs.includes(secret), `logs leak ${secret}`);
      }
    } finally {
      assert.equal(await stop(server), 0);
    }
  });

  it('answers /readyz 503 while Redis is down', async () => {
    const down = await startRedis();
    const server = await serve([
      '--target',
      backend.url,
      '--jwt-key-file',
      keyFile,
      '--redis',
      down.url,
      '--port',
      '0',
      '--redis-timeout',
      '300',
    ]);
    try {
      assert.equal((await request(`${server.url}/readyz`)).status, 200);
      await down.stop();
      assert.equal((await request(`${server.url}/readyz`)).status, 503);
    } finally {
      assert.equal(await stop(server), 0);
    }
  });

  it('on SIGTERM stops accepting, lets the in-flight request finish, and exits 0', async () => {
    const server = await serve(serverArgs());
    const arrived = slowRequestArrives();
    const inFlight = request(`${server.url}/slow`, { headers: { cookie: authCookie('sid') } });
    await arrived;
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    await waitFor(server, 'finishing in-flight requests');
    await assert.rejects(request(`${server.url}/healthz`), { code: 'ECONNREFUSED' });
    release();
    const reply = await inFlight;
    assert.equal(reply.status, 200);
    assert.equal((JSON.parse(reply.body) as Seen).url, '/slow');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
  });

  it('on SIGTERM closes a keep-alive connection once its request is answered', async () => {
    const server = await serve(serverArgs('--shutdown-timeout', '20000'));
    const arrived = slowRequestArrives();
    const agent = new Agent({ keepAlive: true });
    try {
      const inFlight = new Promise<{ status: number; socketClosed: Promise<void> }>(
        (resolve, reject) => {
          const req = httpGet(
            `${server.url}/slow`,
            { agent, headers: { cookie: authCookie('sid') } },
            (res) => {
              const socketClosed = once(res.socket, 'close').then(() => undefined);
              res.resume();
              res.on('end', () => {
                resolve({ status: res.statusCode ?? 0, socketClosed });
              });
            },
          );
          req.on('error', reject);
        },
      );
      await arrived;
      const exited = once(server.child, 'exit');
      server.child.kill('SIGTERM');
      await waitFor(server, 'finishing in-flight requests');
      release();
      const { status, socketClosed } = await inFlight;
      assert.equal(status, 200);
      await socketClosed;
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0);
      assert.ok(!server.stderr().includes('shutdown timeout'), server.stderr());
    } finally {
      agent.destroy();
    }
  });

  it('proxies WebSockets through the same checks, and closes them with 1001 on SIGTERM', async () => {
    const ws = await startWsBackend();
    const server = await serve(serverArgs('--target', ws.url, '--ws-recheck-interval', '60000'));
    try {
      const refused = await openWebSocket(`${server.url}/live`);
      assert.equal(refused.kind === 'refused' && refused.status, 401);
      const client = await mustOpen(`${server.url}/live`, { cookie: authCookie('sid') });
      client.send('hello');
      assert.equal((await nextMessage(client)).data.toString(), 'hello');
      const closed = closeOf(client);
      const code = stop(server);
      assert.deepEqual(await closed, { code: 1001, reason: 'server shutting down' });
      assert.equal(await code, 0);
      assert.equal(ws.handshakes.length, 1);
    } finally {
      await stop(server);
      await ws.close();
    }
  });

  it('--session-cache on serves repeated requests from memory and hears of a logout', async () => {
    const redis = new Redis(redisServer.url);
    await redis.set('cached-sid', JSON.stringify({ credentials: CREDENTIALS }));
    const gets = async (): Promise<number> =>
      Number(/cmdstat_get:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    const server = await serve(serverArgs('--session-cache', 'on'));
    try {
      // Until tracking is on, the cache is bypassed.
      await waitFor(server, 'session cache tracking established');
      const cookie = authCookie('cached-sid');
      assert.equal((await request(`${server.url}/`, { headers: { cookie } })).status, 200);
      const before = await gets();
      assert.equal((await request(`${server.url}/`, { headers: { cookie } })).status, 200);
      assert.equal(await gets(), before, 'the second request read no session from Redis');
      await redis.del('cached-sid');
      // Redis tells the cache asynchronously; the refusal must follow within a few requests.
      let status = 200;
      for (let attempt = 0; attempt < 50 && status === 200; attempt++) {
        status = (await request(`${server.url}/`, { headers: { cookie } })).status;
      }
      assert.equal(status, 401);
    } finally {
      assert.equal(await stop(server), 0);
      redis.disconnect();
    }
  });

  it('--metrics on serves /metrics on the main port, counting by route', async () => {
    const server = await serve(serverArgs('--metrics', 'on', '--access-log', 'off'));
    try {
      const cookie = authCookie('sid');
      assert.equal((await request(`${server.url}/x`, { headers: { cookie } })).status, 200);
      assert.equal((await request(`${server.url}/x`)).status, 401);
      const metrics = await request(`${server.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.body, /^express_auth_proxy_requests_total\{mount="\/",code="OK"\} 1$/m);
      assert.match(
        metrics.body,
        /^express_auth_proxy_requests_total\{mount="\/",code="ERR_TOKEN_MISSING"\} 1$/m,
      );
    } finally {
      assert.equal(await stop(server), 0);
    }
  });

  it('--workers 2: a logout through one worker is refused by the other on its next request; SIGTERM stops both', async () => {
    const redis = new Redis(redisServer.url);
    await redis.set('worker-sid', JSON.stringify({ credentials: CREDENTIALS }));
    const server = await serve(serverArgs('--workers', '2', '--metrics-port', '0'));
    const agents: Agent[] = [];
    try {
      const pids = new Set([...server.stderr().matchAll(/worker (\d+) ready/g)].map((m) => m[1]));
      assert.equal(pids.size, 2);
      const cookie = authCookie('worker-sid');
      // Each keep-alive connection stays with the worker that accepted it, and each worker keeps
      // its own pooled connection to the backend: the backend's view of the source port tells
      // the workers apart. Connections are opened until two workers have answered.
      const byWorker = new Map<number, Agent>();
      for (let i = 0; i < 40 && byWorker.size < 2; i++) {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        agents.push(agent);
        const seen = JSON.parse(await getVia(agent, `${server.url}/who`, cookie)) as Seen;
        if (!byWorker.has(seen.remotePort)) byWorker.set(seen.remotePort, agent);
      }
      const [first, second] = [...byWorker.values()];
      assert.ok(first !== undefined && second !== undefined, 'two workers answered');
      assert.equal(await statusVia(second, `${server.url}/who`, cookie), 200);
      // The login site logs the user out while the request goes through the first worker.
      await redis.del('worker-sid');
      assert.equal(await statusVia(first, `${server.url}/who`, cookie), 401);
      assert.equal(await statusVia(second, `${server.url}/who`, cookie), 401);

      const metricsUrl = /metrics on (http:\/\/\S+)/.exec(server.stderr())?.[1];
      assert.ok(metricsUrl !== undefined);
      const metrics = await request(metricsUrl);
      // Both workers' counts, summed by the primary.
      const ok = /^express_auth_proxy_requests_total\{mount="\/",code="OK"\} (\d+)$/m.exec(
        metrics.body,
      );
      assert.ok(Number(ok?.[1]) >= 3, metrics.body);
    } finally {
      for (const agent of agents) agent.destroy();
      assert.equal(await stop(server), 0);
      redis.disconnect();
    }
    assert.match(
      server.stderr(),
      /worker \d+: SIGTERM: finishing in-flight requests[\s\S]*worker \d+: SIGTERM/,
    );
    assert.match(server.stderr(), /stopped\n$/);
  });

  it('exits with an error, instead of lingering, when the port is taken', async () => {
    const first = await serve(serverArgs());
    try {
      const port = new URL(first.url).port;
      const run = await runCli(serverArgs('--port', port));
      assert.equal(run.code, 1);
      assert.match(run.stderr, /EADDRINUSE/);
    } finally {
      assert.equal(await stop(first), 0);
    }
  });
});

/** GET through a given agent (its one keep-alive connection), resolving with the body. */
function getVia(agent: Agent, url: string, cookie: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent, headers: { cookie } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve(Buffer.concat(chunks).toString());
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

function statusVia(agent: Agent, url: string, cookie: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent, headers: { cookie } }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve(res.statusCode ?? 0);
      });
    }).on('error', reject);
  });
}

function waitFor(server: Server, text: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const check = (): void => {
      if (server.stderr().includes(text)) resolve();
    };
    server.child.stderr.on('data', check);
    check();
  });
}
