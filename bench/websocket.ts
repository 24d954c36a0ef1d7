// The WebSocket benchmark (`npm run bench:ws`), a script, never part of the test suite.
//
// 1. Frames per second through authProxy (behind upgradeHandler) against a direct connection to
//    the same echo backend, side by side: every subject in its own process, the client in another,
//    rows measured in interleaved rounds, ratios taken within each round, then medians. CPU time of
//    the proxy process per frame relayed is the steady figure on a shared machine.
// 2. Revocation delay: from the moment a session is deleted in Redis to the moment the client sees
//    close 4401, with the store's invalidations (sessionCache: Redis client tracking) and with the
//    periodic recheck alone.
//
// Needs redis-server on PATH. Knobs: BENCH_WS_SECONDS (3), BENCH_WS_ROUNDS (5),
// BENCH_WS_CONNECTIONS (4), BENCH_WS_WINDOW (messages in flight per connection, 8),
// BENCH_WS_SIZES ("64,65536"), BENCH_WS_TRIALS (revocations per mode, 20), BENCH_WS_RECHECK
// (wsRecheckInterval of the recheck-only proxy, ms, 1000).
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import jwt from 'jsonwebtoken';
import { WebSocket } from 'ws';
import { RedisSessionStore } from '../lib/index.js';
import { startRedis } from '../test/helpers/redis-server.js';
import { Child } from './child.js';
import type { WsLoadJob, WsLoadReply } from './ws-load.js';
import type { WsSubjectMessage, WsSubjectSpec } from './ws-subject.js';

const env = process.env;
const numbers = (value: string | undefined, fallback: number[]): number[] =>
  value === undefined || value === '' ? fallback : value.split(',').map(Number);
const SECONDS = Number(env.BENCH_WS_SECONDS ?? 3);
const ROUNDS = Number(env.BENCH_WS_ROUNDS ?? 5);
const CONNECTIONS = Number(env.BENCH_WS_CONNECTIONS ?? 4);
const WINDOW = Number(env.BENCH_WS_WINDOW ?? 8);
const SIZES = numbers(env.BENCH_WS_SIZES, [64, 65536]);
const TRIALS = Number(env.BENCH_WS_TRIALS ?? 20);
const RECHECK_MS = Number(env.BENCH_WS_RECHECK ?? 1000);
const JWT_KEY = 'bench-secret-of-sufficient-length';
const CREDENTIALS = { credentials: Buffer.from('bench:secret').toString('base64') };
// Long enough that the invalidation-driven proxy never closes anything by its recheck.
const NO_RECHECK_MS = 3_600_000;

function cookieFor(sid: string): Record<string, string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { sub: 'bench', sid, iat: now, exp: now + 3600 };
  const token = jwt.sign(claims, JWT_KEY, {
    algorithm: 'HS512',
    noTimestamp: true,
  });
  return { cookie: `Authorization=${Buffer.from(token).toString('base64')}` };
}

async function startSubject(spec: WsSubjectSpec): Promise<{ child: Child; url: string }> {
  const child = new Child('./ws-subject.ts', [JSON.stringify(spec)]);
  const ready = await child.next<WsSubjectMessage>();
  if (ready.type !== 'ready') throw new Error(`${spec.kind} did not start`);
  return { child, url: ready.url };
}

async function cpuMicros(child: Child): Promise<number> {
  const usage = await child.next<Extract<WsSubjectMessage, { type: 'usage' }>>({ type: 'usage' });
  return usage.cpuMicros;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

/** "median (min–max)" */
function spread(values: number[], digits: number): string {
  const f = (n: number): string => n.toFixed(digits);
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

interface Sample {
  framesPerSecond: number;
  cpuMicrosPerFrame: number;
}

type Payload = 'text' | 'binary';
const PAYLOADS: Payload[] = ['text', 'binary'];

const redis = await startRedis();
const children: Child[] = [];
try {
  const store = new RedisSessionStore(redis.url);
  await store.set('bench-ws', CREDENTIALS, 3600);

  const backend = await startSubject({ kind: 'backend' });
  children.push(backend.child);
  const proxySpec = (sessionCache: boolean, wsRecheckInterval: number): WsSubjectSpec => ({
    kind: 'proxy',
    target: backend.url,
    redisUrl: redis.url,
    jwtKey: JWT_KEY,
    sessionCache,
    wsRecheckInterval,
  });
  // The throughput proxy has the default options; the other two are for revocation.
  const [proxy, withCache, recheckOnly] = await Promise.all([
    startSubject(proxySpec(false, 30_000)),
    startSubject(proxySpec(true, NO_RECHECK_MS)),
    startSubject(proxySpec(false, RECHECK_MS)),
  ]);
  children.push(proxy.child, withCache.child, recheckOnly.child);
  const loader = new Child('./ws-load.ts', []);
  children.push(loader);

  const subjects = [
    { id: 'direct', child: backend.child, url: `${backend.url}/echo`, headers: {} },
    {
      id: 'proxy',
      child: proxy.child,
      url: `${proxy.url}/ws/echo`,
      headers: cookieFor('bench-ws'),
    },
  ];

  const loadBefore = loadavg();
  const rows = PAYLOADS.flatMap((payload) =>
    SIZES.flatMap((bytes) => subjects.map((subject) => ({ payload, bytes, subject }))),
  );
  console.error(
    `bench:ws: ${rows.length} rows, ${ROUNDS} rounds of ${SECONDS} s, then ${TRIALS} revocations per mode; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`,
  );

  const measure = async (row: (typeof rows)[number], seconds: number): Promise<Sample> => {
    const ask = (job: WsLoadJob): Promise<WsLoadReply> => loader.next<WsLoadReply>(job);
    await ask({
      type: 'open',
      url: row.subject.url,
      headers: row.subject.headers,
      connections: CONNECTIONS,
    });
    const before = await cpuMicros(row.subject.child);
    const result = await ask({
      type: 'run',
      seconds,
      bytes: row.bytes,
      binary: row.payload === 'binary',
      window: WINDOW,
    });
    const after = await cpuMicros(row.subject.child);
    await ask({ type: 'shut' });
    if (result.type !== 'result' || result.errors > 0 || result.echoes === 0) {
      throw new Error(`${row.subject.id} ${row.payload} ${row.bytes}: ${JSON.stringify(result)}`);
    }
    // Each echo is two frames through the subject: one to the backend, one back.
    const frames = 2 * result.echoes;
    return {
      framesPerSecond: frames / result.seconds,
      cpuMicrosPerFrame: (after - before) / frames,
    };
  };

  for (const row of rows) await measure(row, 1); // warm-up: JIT, pools
  const samples = new Map<(typeof rows)[number], Sample[]>(rows.map((row) => [row, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const row of rows) {
      const sample = await measure(row, SECONDS);
      samples.get(row)?.push(sample);
      console.error(
        `round ${round}/${ROUNDS} ${row.subject.id.padEnd(6)} ${row.payload.padEnd(6)} ${String(row.bytes).padStart(6)} B ${sample.framesPerSecond.toFixed(0).padStart(7)} frames/s ${sample.cpuMicrosPerFrame.toFixed(1).padStart(6)} µs CPU/frame`,
      );
    }
  }

  // Revocation: open a socket, wait a random part of the interval (a logout comes at any moment
  // of the recheck cycle), delete the session, time the client's close.
  const revocation = async (url: string, spanMs: number): Promise<number[]> => {
    const delays: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const sid = `bench-revoke-${trial}-${String(Date.now())}`;
      await store.set(sid, CREDENTIALS, 3600);
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws/echo`, {
        headers: cookieFor(sid),
        perMessageDeflate: false,
      });
      await once(ws, 'open');
      const closed = once(ws, 'close') as Promise<[number, Buffer]>;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * spanMs));
      const deletedAt = performance.now();
      await store.delete(sid);
      const [code] = await closed;
      const delay = performance.now() - deletedAt;
      if (code !== 4401) throw new Error(`revocation closed with ${code}, not 4401`);
      delays.push(delay);
    }
    return delays;
  };
  const byInvalidation = await revocation(withCache.url, 200);
  const byRecheck = await revocation(recheckOnly.url, RECHECK_MS);
  const loadAfter = loadavg();
  await store.close();

  const lines: string[] = [];
  lines.push(
    `WebSocket benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, Node ${process.versions.node}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}`,
    `load average ${loadBefore.map((l) => l.toFixed(1)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(1)).join(' ')} after; ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections, ${WINDOW} messages in flight each, echoed`,
    '',
    '| frames | size | frames/s direct | frames/s through authProxy | proxy / direct | proxy CPU µs/frame | backend CPU µs/frame (direct) |',
    '| ------ | ---- | --------------- | -------------------------- | -------------- | ------------------ | ----------------------------- |',
  );
  const ratios: { payload: Payload; bytes: number; median: number }[] = [];
  for (const payload of PAYLOADS) {
    for (const bytes of SIZES) {
      const of = (id: string): Sample[] =>
        [...samples.entries()].find(
          ([row]) => row.payload === payload && row.bytes === bytes && row.subject.id === id,
        )?.[1] ?? [];
      const direct = of('direct');
      const proxied = of('proxy');
      const perRound = proxied.map(
        (p, i) => p.framesPerSecond / (direct[i]?.framesPerSecond ?? Number.NaN),
      );
      ratios.push({ payload, bytes, median: median(perRound) });
      const size = bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`;
      lines.push(
        `| ${payload} | ${size} | ${spread(
          direct.map((s) => s.framesPerSecond),
          0,
        )} | ${spread(
          proxied.map((s) => s.framesPerSecond),
          0,
        )} | ${spread(perRound, 2)} | ${spread(
          proxied.map((s) => s.cpuMicrosPerFrame),
          1,
        )} | ${spread(
          direct.map((s) => s.cpuMicrosPerFrame),
          1,
        )} |`,
      );
    }
  }
  const revoked = (label: string, delays: number[]): string =>
    `| ${label} | ${delays.length} | ${median(delays).toFixed(1)} | ${quantile(delays, 0.9).toFixed(1)} | ${Math.max(...delays).toFixed(1)} |`;
  lines.push(
    '',
    'Revocation delay: session deleted in Redis → client sees close 4401 (ms)',
    '',
    '| mode | trials | median | p90 | max |',
    '| ---- | ------ | ------ | --- | --- |',
    revoked('store invalidations (sessionCache)', byInvalidation),
    revoked(`periodic recheck alone (wsRecheckInterval ${RECHECK_MS} ms)`, byRecheck),
    '',
    `Ratios, through the proxy against direct (median of per-round ratios): ${ratios
      .map(
        (r) =>
          `${r.payload} ${r.bytes >= 1024 ? `${r.bytes / 1024} KiB` : `${r.bytes} B`} ${r.median.toFixed(2)}`,
      )
      .join(', ')}.`,
    `Revocation by invalidation ${(median(byRecheck) / median(byInvalidation)).toFixed(0)}x faster than by a ${RECHECK_MS} ms recheck (medians); the recheck's median is ${(median(byRecheck) / RECHECK_MS).toFixed(2)} of its interval.`,
  );
  console.log(lines.join('\n'));
} finally {
  await Promise.all(children.map((c) => c.stop()));
  await redis.stop();
}
