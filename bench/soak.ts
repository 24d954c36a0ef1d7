// Soak test: mixed valid, refused and aborted traffic against authProxy for SOAK_SECONDS, with a
// real redis-server and a real backend, printing the proxy process's RSS, heap and open handles
// at start, after warm-up, at the end of the traffic and once drained, and the growth after
// warm-up. Run: npm run soak   (SOAK_SECONDS=600, SOAK_CONNECTIONS=16, SOAK_WARMUP_SECONDS)
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Agent, createServer, request } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { Redis } from 'ioredis';
import { startRedis } from '../test/helpers/redis-server.js';
import type { Stats } from './soak-server.js';

function setting(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

const SECONDS = setting('SOAK_SECONDS', 600);
const CONNECTIONS = setting('SOAK_CONNECTIONS', 16);
const WARMUP = setting('SOAK_WARMUP_SECONDS', Math.min(60, SECONDS / 5));
const JWT_KEY = 'soak-secret';
const SERVER = fileURLToPath(new URL('./soak-server.ts', import.meta.url));
const STREAM_CHUNK = Buffer.alloc(64 * 1024, 's');

// ---------------------------------------------------------------------------------------------
// The backend: echoes small answers, streams 1 MiB on /stream, reads every body it is sent.

function backendHandler(req: IncomingMessage, res: ServerResponse): void {
  req.on('error', () => undefined);
  res.on('error', () => undefined);
  if (req.url?.endsWith('/stream') === true) {
    let left = 16;
    const next = (): void => {
      while (left > 0 && !res.destroyed) {
        left--;
        if (!res.write(STREAM_CHUNK)) {
          res.once('drain', next);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    next();
    req.resume();
    return;
  }
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, user: req.headers.authorization, bytes }));
  });
}

// ---------------------------------------------------------------------------------------------
// Traffic

const now = (): number => Math.floor(Date.now() / 1000);
const cookie = (claims: object): string =>
  `Authorization=${Buffer.from(jwt.sign(claims, JWT_KEY, { algorithm: 'HS512' })).toString('base64')}`;
const SIDS = ['soak-alice', 'soak-bob', 'soak-carol'];

type Scenario = (base: URL, agent: Agent) => Promise<string>;

let keepAliveRetries = 0;

function exchange(
  base: URL,
  agent: Agent,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
  retried = false,
): Promise<string> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        path,
        agent,
        method: body === undefined ? 'GET' : 'POST',
        headers,
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolve(String(res.statusCode));
        });
        res.on('error', () => {
          resolve('response error');
        });
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The keep-alive race Node's documentation describes: the server closed an idle connection
      // as the agent reused it, before any byte of this request was read. A client retries once.
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET') {
        keepAliveRetries++;
        resolve(exchange(base, agent, path, headers, body, true));
        return;
      }
      resolve(`error ${err.message}`);
    });
    req.end(body);
  });
}

// Browsers keep their cookie: each sid's token is reissued once a minute, as a login site
// refreshing sessions would, not minted anew for every request (which would only measure the
// cache of verified claims filling up to its bound).
const LOGIN_SECONDS = 60;
const issued = new Map<string, { cookie: string; at: number }>();
function loggedIn(sid: string): string {
  const current = issued.get(sid);
  if (current !== undefined && now() - current.at < LOGIN_SECONDS) return current.cookie;
  const fresh = { cookie: cookie({ sid, exp: now() + 600 }), at: now() };
  issued.set(sid, fresh);
  return fresh.cookie;
}
const anyOf = (list: readonly string[]): string =>
  list[Math.floor(Math.random() * list.length)] ?? (list[0] as string);
const validCookie = (): string => loggedIn(anyOf(SIDS));
// Logged out: signed tokens whose session is gone.
const GONE = Array.from({ length: 20 }, (_, i) => `soak-gone-${i}`);

/** Each scenario resolves with its outcome; `expected` says which outcomes are right. */
const scenarios: { name: string; weight: number; expected: string; run: Scenario }[] = [
  {
    name: 'valid GET',
    weight: 40,
    expected: '200',
    run: (base, agent) => exchange(base, agent, '/dav/inbox', { cookie: validCookie() }),
  },
  {
    name: 'valid POST 64 KiB',
    weight: 8,
    expected: '200',
    run: (base, agent) =>
      exchange(base, agent, '/dav/upload', { cookie: validCookie() }, Buffer.alloc(65_536, 'p')),
  },
  {
    name: 'bad signature',
    weight: 8,
    expected: '401',
    run: (base, agent) =>
      exchange(base, agent, '/dav/inbox', {
        cookie: `Authorization=${Buffer.from(jwt.sign({ sid: 'soak-alice', exp: now() + 60 }, 'wrong', { algorithm: 'HS512' })).toString('base64')}`,
      }),
  },
  {
    name: 'expired token',
    weight: 5,
    expected: '401',
    run: (base, agent) =>
      exchange(base, agent, '/dav/inbox', {
        cookie: cookie({ sid: 'soak-alice', exp: now() - 60 }),
      }),
  },
  {
    name: 'no cookie',
    weight: 5,
    expected: '401',
    run: (base, agent) => exchange(base, agent, '/dav/inbox', {}),
  },
  {
    name: 'unknown session',
    weight: 5,
    expected: '401',
    run: (base, agent) =>
      exchange(base, agent, '/dav/inbox', {
        cookie: loggedIn(anyOf(GONE)),
      }),
  },
  {
    name: 'path escape',
    weight: 5,
    expected: '400',
    run: (base, agent) => exchange(base, agent, '/dav/%2e%2e/admin', { cookie: validCookie() }),
  },
  {
    name: 'client aborts mid-request',
    weight: 12,
    expected: 'aborted',
    run: (base) =>
      new Promise((resolve) => {
        const socket = connect(Number(base.port), base.hostname);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          resolve('aborted');
        });
        socket.write(
          `POST /dav/upload HTTP/1.1\r\nHost: soak\r\nCookie: ${validCookie()}\r\n` +
            `Content-Length: 1000000\r\n\r\n${'u'.repeat(20_000)}`,
        );
        // Cut at varying points: during the session lookup, while the body streams upstream.
        setTimeout(() => socket.destroy(), Math.floor(Math.random() * 20));
      }),
  },
  {
    name: 'client aborts mid-response',
    weight: 12,
    expected: 'aborted',
    run: (base) =>
      new Promise((resolve) => {
        const req = request(new URL('/dav/stream', base), { headers: { cookie: validCookie() } });
        req.on('response', (res) => {
          res.once('data', () => {
            req.destroy();
            resolve(res.statusCode === 200 ? 'aborted' : String(res.statusCode));
          });
        });
        req.on('error', () => undefined);
        req.on('close', () => {
          resolve('closed before any data');
        });
        req.end();
      }),
  },
];
const totalWeight = scenarios.reduce((n, s) => n + s.weight, 0);

function pick(): (typeof scenarios)[number] {
  let r = Math.random() * totalWeight;
  for (const s of scenarios) {
    r -= s.weight;
    if (r < 0) return s;
  }
  return scenarios[0] as (typeof scenarios)[number];
}

// ---------------------------------------------------------------------------------------------

function stats(child: ChildProcess): Promise<Stats> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown): void => {
      const reply = message as { stats?: Stats };
      if (reply.stats !== undefined) {
        child.off('message', onMessage);
        resolve(reply.stats);
      }
    };
    child.on('message', onMessage);
    child.send('stats');
  });
}

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1).padStart(8);
const handleCount = (s: Stats): number => Object.values(s.handles).reduce((a, b) => a + b, 0);
function row(label: string, s: Stats): string {
  const detail = Object.entries(s.handles)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return `${label.padEnd(16)} ${mib(s.rss)} ${mib(s.heapUsed)} ${String(handleCount(s)).padStart(8)}  (${detail})`;
}
const percent = (from: number, to: number): number => ((to - from) / from) * 100;
const growth = (from: number, to: number): string =>
  `${to >= from ? '+' : ''}${percent(from, to).toFixed(1)}%`;

const redisServer = await startRedis();
const redis = new Redis(redisServer.url);
const backend = createServer(backendHandler);
backend.listen(0, '127.0.0.1');
await once(backend, 'listening');
const backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/remote.php`;
for (const sid of SIDS) {
  await redis.set(
    sid,
    JSON.stringify({ credentials: Buffer.from(`${sid}:pw`).toString('base64') }),
  );
}

const child = fork(SERVER, [backendUrl, redisServer.url, JWT_KEY], {
  execArgv: ['--import', 'tsx', '--expose-gc'],
});
const [ready] = (await once(child, 'message')) as [{ url: string }];
const base = new URL(ready.url);

const outcomes = new Map<string, Map<string, number>>();
const elapsedMs = new Map<string, number>();
let completed = 0;
let stopping = false;
const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });

async function worker(): Promise<void> {
  while (!stopping) {
    const scenario = pick();
    const began = performance.now();
    const outcome = await scenario.run(base, agent);
    elapsedMs.set(scenario.name, (elapsedMs.get(scenario.name) ?? 0) + performance.now() - began);
    const counts = outcomes.get(scenario.name) ?? new Map<string, number>();
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    outcomes.set(scenario.name, counts);
    completed++;
  }
}

console.log(
  `soak: ${SECONDS} s of traffic (warm-up ${WARMUP} s), ${CONNECTIONS} concurrent clients, Node ${process.version}`,
);
console.log(`${''.padEnd(16)}  rss MiB heap MiB  handles`);
const start = await stats(child);
console.log(row('start (idle)', start));
const startedAt = Date.now();
const workers = Array.from({ length: CONNECTIONS }, () => worker());

await new Promise((resolve) => setTimeout(resolve, WARMUP * 1000));
const warm = await stats(child);
const warmCompleted = completed;
console.log(row('after warm-up', warm));
const samples: number[] = [];
const sampler = setInterval(() => {
  void stats(child).then((s) => {
    samples.push(s.rss);
    console.log(row(`  at ${Math.round((Date.now() - startedAt) / 1000)} s`, s));
  });
}, 60_000);
await new Promise((resolve) => setTimeout(resolve, Math.max(0, SECONDS - WARMUP) * 1000));
clearInterval(sampler);
const end = await stats(child);
const endCompleted = completed;
console.log(row('end of traffic', end));
stopping = true;
await Promise.all(workers);
agent.destroy();
// Closed client connections take a moment to be released on the server side: sample until the
// count of handles holds still (the upstream keep-alive pool stays, by design).
let drained = await stats(child);
for (let i = 0; i < 20; i++) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  const again = await stats(child);
  const same = handleCount(again) === handleCount(drained);
  drained = again;
  if (same) break;
}
console.log(row('drained (idle)', drained));
const elapsed = (Date.now() - startedAt) / 1000;

console.log(
  `\ngrowth after warm-up (end of traffic vs after warm-up): rss ${growth(warm.rss, end.rss)}, ` +
    `heap used ${growth(warm.heapUsed, end.heapUsed)}; open handles start ${handleCount(start)}, drained ${handleCount(drained)}`,
);
const flat = percent(warm.rss, end.rss) < 10 && percent(warm.heapUsed, end.heapUsed) < 10;
console.log(`memory flat after warm-up (RSS and heap growth under 10%): ${flat ? 'yes' : 'NO'}`);
console.log(
  `requests: ${completed} in ${elapsed.toFixed(0)} s (${(completed / elapsed).toFixed(0)}/s), ` +
    `${completed - warmCompleted} after warm-up; proxy CPU ${((end.cpu - warm.cpu) / 1000 / (endCompleted - warmCompleted)).toFixed(2)} ms per request after warm-up`,
);
let unexpected = 0;
for (const s of scenarios) {
  const counts = outcomes.get(s.name) ?? new Map<string, number>();
  const text = [...counts].map(([k, v]) => `${k} x${v}`).join(', ');
  const wrong = [...counts].filter(([k]) => k !== s.expected).reduce((n, [, v]) => n + v, 0);
  unexpected += wrong;
  const n = [...counts.values()].reduce((a, b) => a + b, 0);
  const mean = n === 0 ? 0 : (elapsedMs.get(s.name) ?? 0) / n;
  console.log(`  ${s.name.padEnd(28)} ${`${mean.toFixed(0)} ms`.padStart(8)}  ${text}`);
}
console.log(
  `keep-alive connections closed by the server as they were reused (retried once): ${keepAliveRetries}`,
);
console.log(unexpected === 0 ? 'every outcome as expected' : `${unexpected} unexpected outcomes`);

child.send('stop');
await once(child, 'exit');
backend.close();
backend.closeAllConnections();
redis.disconnect();
await redisServer.stop();
process.exitCode = unexpected === 0 ? 0 : 1;
