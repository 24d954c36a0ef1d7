// The benchmark harness (`npm run bench`). Each subject runs in its own process next to one
// shared backend and a real redis-server; autocannon runs in a process of its own. Rows are
// measured in interleaved rounds (ABCABC...) so that the machine's mood hits every subject alike,
// and the primary figure is CPU time of the subject process per completed request, which on a
// shared machine is far steadier than requests per second.
//
// Needs: redis-server on PATH (Debian/Ubuntu: apt-get install redis-server; macOS: brew install
// redis). Knobs: BENCH_SECONDS, BENCH_ROUNDS, BENCH_WARMUP (seconds per row, once),
// BENCH_CONNECTIONS ("1,50"), BENCH_SIZES ("100,65536"), BENCH_ONLY (subject ids), BENCH_RELAY_MS,
// BENCH_PROFILE (subject ids to run under --cpu-prof), BENCH_NODE_ARGS (more Node flags for the
// subjects, e.g. --trace-gc), BENCH_OUT (output folder), BENCH_QUICK=1
// (a smoke run: 1 round of 1 s, 100 B and 50 connections only, written to bench/results/quick).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { RedisSessionStore } from '../lib/index.js';
import { startRedis } from '../test/helpers/redis-server.js';
import { Child, plainScript } from './child.js';
import type { LoadJob, LoadResult } from './load.js';
import { startRelay } from './relay.js';
import { markdownReport, svgChart } from './report.js';
import type { RunInfo } from './report.js';
import type { SubjectMessage, SubjectSpec } from './subject.js';
import { summarise } from './summary.js';
import type { RowSpec, Sample } from './summary.js';

const env = process.env;
const quick = env.BENCH_QUICK === '1';
const numbers = (value: string | undefined, fallback: number[]): number[] =>
  value === undefined || value === '' ? fallback : value.split(',').map(Number);
const SECONDS = Number(env.BENCH_SECONDS ?? (quick ? 1 : 5));
const ROUNDS = Number(env.BENCH_ROUNDS ?? (quick ? 1 : 5));
const WARMUP = Number(env.BENCH_WARMUP ?? (quick ? 0.5 : 2));
const CONNECTIONS = numbers(env.BENCH_CONNECTIONS, quick ? [50] : [1, 50]);
const SIZES = numbers(env.BENCH_SIZES, quick ? [100] : [100, 65536]);
const RELAY_MS = Number(env.BENCH_RELAY_MS ?? 1);
const ONLY =
  env.BENCH_ONLY === undefined || env.BENCH_ONLY === ''
    ? undefined
    : new Set(env.BENCH_ONLY.split(','));
// A built checkout of another revision (its dist/index.js is loaded): adds its authProxy as a row.
const BASELINE =
  env.BENCH_BASELINE === undefined || env.BENCH_BASELINE === '' ? undefined : env.BENCH_BASELINE;
const PROFILE = new Set((env.BENCH_PROFILE ?? '').split(',').filter((s) => s !== ''));
const NODE_ARGS = (env.BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = env.BENCH_OUT ?? join(ROOT, 'bench', 'results', quick ? 'quick' : '');
// The subjects run the package as it ships (dist/, from `npm run build`), not the TypeScript
// sources through tsx, whose transform adds work to every closure created on the request path.
for (const checkout of BASELINE === undefined ? [ROOT] : [ROOT, BASELINE]) {
  if (!existsSync(join(checkout, 'dist', 'index.js'))) {
    throw new Error(`bench: ${checkout} has no dist/index.js: run npm run build there first`);
  }
}
const JWT_KEY = 'bench-secret-of-sufficient-length';
const SID = 'bench-sid';

/** The subjects: each its own process. Rows below say which requests each one gets. */
interface Subject {
  id: string;
  label: string;
  spec: (urls: { backend: string; redis: string; relay: string }) => SubjectSpec;
  /** Only in these rows (all sizes otherwise). */
  sizes?: number[];
  cookie: 'valid' | 'expired' | 'none';
  status: number;
}

const SUBJECTS: Subject[] = [
  {
    id: 'direct',
    label: 'backend direct',
    spec: () => ({ kind: 'backend' }),
    cookie: 'none',
    status: 200,
  },
  {
    id: 'bare',
    label: 'bare Express + http-proxy-middleware',
    spec: ({ backend }) => ({ kind: 'bare', target: backend }),
    cookie: 'valid',
    status: 200,
  },
  {
    id: 'auth',
    label: 'authProxy (Redis read every request)',
    spec: ({ backend, redis }) => ({
      kind: 'auth',
      target: backend,
      redisUrl: redis,
      jwtKey: JWT_KEY,
    }),
    cookie: 'valid',
    status: 200,
  },
  ...(BASELINE === undefined
    ? []
    : [
        {
          id: 'auth-baseline',
          label: `authProxy of ${BASELINE}`,
          spec: ({ backend, redis }: { backend: string; redis: string }) => ({
            kind: 'auth' as const,
            target: backend,
            redisUrl: redis,
            jwtKey: JWT_KEY,
            lib: join(BASELINE, 'dist', 'index.js'),
          }),
          cookie: 'valid' as const,
          status: 200,
        },
      ]),
  {
    id: 'auth-cache',
    label: 'authProxy + sessionCache',
    spec: ({ backend, redis }) => ({
      kind: 'auth-cache',
      target: backend,
      redisUrl: redis,
      jwtKey: JWT_KEY,
    }),
    cookie: 'valid',
    status: 200,
  },
  {
    id: 'auth-metrics',
    label: 'authProxy + metrics (prom-client)',
    spec: ({ backend, redis }) => ({
      kind: 'auth-metrics',
      target: backend,
      redisUrl: redis,
      jwtKey: JWT_KEY,
    }),
    cookie: 'valid',
    status: 200,
  },
  {
    id: 'refused',
    label: 'authProxy, refused (401, expired token)',
    spec: ({ backend, redis }) => ({
      kind: 'auth',
      target: backend,
      redisUrl: redis,
      jwtKey: JWT_KEY,
    }),
    sizes: [100],
    cookie: 'expired',
    status: 401,
  },
  {
    id: 'auth-relay',
    label: `authProxy, Redis +${RELAY_MS} ms each way`,
    spec: ({ backend, relay }) => ({
      kind: 'auth',
      target: backend,
      redisUrl: relay,
      jwtKey: JWT_KEY,
    }),
    sizes: [100],
    cookie: 'valid',
    status: 200,
  },
  {
    id: 'auth-cache-relay',
    label: `authProxy + sessionCache, Redis +${RELAY_MS} ms each way`,
    spec: ({ backend, relay }) => ({
      kind: 'auth-cache',
      target: backend,
      redisUrl: relay,
      jwtKey: JWT_KEY,
    }),
    sizes: [100],
    cookie: 'valid',
    status: 200,
  },
];

function cookieFor(kind: Subject['cookie']): Record<string, string> {
  if (kind === 'none') return {};
  const now = Math.floor(Date.now() / 1000);
  const exp = kind === 'valid' ? now + 7 * 24 * 3600 : now - 60;
  const claims: Record<string, unknown> = { sub: 'bench', sid: SID, iat: now - 120, exp };
  const token = jwt.sign(claims, JWT_KEY, {
    algorithm: 'HS512',
    noTimestamp: true,
  });
  return { cookie: `Authorization=${Buffer.from(token).toString('base64')}` };
}

interface Running {
  subject: Subject;
  child: Child;
  url: string;
}

async function usage(child: Child): Promise<Extract<SubjectMessage, { type: 'usage' }>> {
  return child.next({ type: 'usage' });
}

let jobId = 0;
async function load(
  loader: Child,
  url: string,
  connections: number,
  seconds: number,
  headers: Record<string, string>,
): Promise<LoadResult> {
  const job: LoadJob = { type: 'run', id: ++jobId, url, connections, seconds, headers };
  return loader.next<LoadResult>(job);
}

function pathFor(subject: Subject, bytes: number): string {
  return subject.id === 'direct' ? `/bytes/${bytes}` : `/mail/bytes/${bytes}`;
}

async function measure(
  loader: Child,
  running: Running,
  row: RowSpec,
  round: number,
): Promise<Sample> {
  const headers = cookieFor(running.subject.cookie);
  const before = await usage(running.child);
  const result = await load(
    loader,
    running.url + pathFor(running.subject, row.bytes),
    row.connections,
    SECONDS,
    headers,
  );
  const after = await usage(running.child);
  const unexpected =
    result.errors +
    Object.entries(result.statuses)
      .filter(([status]) => Number(status) !== row.status)
      .reduce((sum, [, count]) => sum + count, 0);
  // A stray reset is noise; more than 1% means the row does not measure what it says.
  if (result.requests === 0 || unexpected > result.requests / 100) {
    throw new Error(
      `${row.id}: expected only ${row.status}, got ${JSON.stringify(result.statuses)} and ${result.errors} errors`,
    );
  }
  if (unexpected > 0) {
    console.error(`bench: ${row.id}: ${JSON.stringify(result.statuses)}, ${result.errors} errors`);
  }
  return {
    round,
    requests: result.requests,
    unexpected,
    seconds: result.seconds,
    cpuMicrosPerRequest: (after.cpuMicros - before.cpuMicros) / result.requests,
    gcMicrosPerRequest: ((after.gcMillis - before.gcMillis) * 1000) / result.requests,
    allocatedKilobytesPerRequest:
      (after.allocatedBytes - before.allocatedBytes) / 1024 / result.requests,
    requestsPerSecond: result.requests / result.seconds,
    p50Millis: result.p50Millis,
    p99Millis: result.p99Millis,
    rssMegabytes: after.rssBytes / 2 ** 20,
  };
}

const redis = await startRedis();
const relay = await startRelay(redis.port, RELAY_MS);
const children: Child[] = [];
try {
  const seed = new RedisSessionStore(redis.url);
  await seed.set(
    SID,
    { credentials: Buffer.from('bench:secret').toString('base64') },
    7 * 24 * 3600,
  );
  await seed.close();

  const subjectScript = plainScript('./subject.ts');
  const backendChild = new Child(subjectScript, [JSON.stringify({ kind: 'backend' })]);
  children.push(backendChild);
  const backendReady = await backendChild.next<SubjectMessage>();
  if (backendReady.type !== 'ready') throw new Error('backend did not start');
  const urls = {
    backend: backendReady.url,
    redis: redis.url,
    relay: `redis://127.0.0.1:${relay.port}/0`,
  };

  const wanted = SUBJECTS.filter((s) => ONLY === undefined || ONLY.has(s.id));
  const skipped: string[] = [];
  const running: Running[] = [];
  await Promise.all(
    wanted.map(async (subject) => {
      if (subject.id === 'direct') {
        running.push({ subject, child: backendChild, url: urls.backend });
        return;
      }
      const profile = PROFILE.has(subject.id)
        ? ['--cpu-prof', '--cpu-prof-dir', join(OUT, 'profiles', subject.id)]
        : [];
      const child = new Child(
        subjectScript,
        [JSON.stringify(subject.spec(urls))],
        [...profile, ...NODE_ARGS],
      );
      children.push(child);
      const message = await child.next<SubjectMessage>();
      if (message.type === 'ready') running.push({ subject, child, url: message.url });
      else if (message.type === 'unsupported') skipped.push(`${subject.label}: ${message.reason}`);
    }),
  );
  running.sort((a, b) => wanted.indexOf(a.subject) - wanted.indexOf(b.subject));
  for (const line of skipped) console.error(`bench: skipping ${line}`);

  const loader = new Child('./load.ts', []);
  children.push(loader);

  const rows: (RowSpec & { running: Running })[] = [];
  for (const bytes of SIZES) {
    for (const connections of CONNECTIONS) {
      for (const r of running) {
        if (r.subject.sizes !== undefined && !r.subject.sizes.includes(bytes)) continue;
        rows.push({
          id: `${r.subject.id}/${bytes}/${connections}`,
          subject: r.subject.id,
          label: r.subject.label,
          bytes,
          connections,
          status: r.subject.status,
          running: r,
        });
      }
    }
  }

  const loadBefore = loadavg();
  const total = rows.length * (ROUNDS * SECONDS + WARMUP);
  console.error(
    `bench: ${rows.length} rows, ${ROUNDS} rounds of ${SECONDS} s (+${WARMUP} s warm-up each): about ${Math.ceil(total / 60)} min; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`,
  );
  if (WARMUP > 0) {
    for (const row of rows) {
      const r = row.running;
      await load(
        loader,
        r.url + pathFor(r.subject, row.bytes),
        row.connections,
        WARMUP,
        cookieFor(r.subject.cookie),
      );
    }
  }
  const samples = new Map<string, Sample[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    // Every other round runs backwards, so that the place in a round (first after the pause, or
    // right after another subject's load) does not favour one subject in the ratios.
    for (const row of round % 2 === 1 ? rows : [...rows].reverse()) {
      const sample = await measure(loader, row.running, row, round);
      const list = samples.get(row.id) ?? [];
      list.push(sample);
      samples.set(row.id, list);
      console.error(
        `round ${round}/${ROUNDS} ${row.id.padEnd(26)} ${sample.cpuMicrosPerRequest.toFixed(1).padStart(7)} µs/req ${sample.allocatedKilobytesPerRequest.toFixed(1).padStart(5)} KB/req ${sample.requestsPerSecond.toFixed(0).padStart(6)} req/s p99 ${sample.p99Millis.toFixed(2)} ms`,
      );
    }
  }
  const loadAfter = loadavg();

  const summary = summarise(
    rows.map(({ running: _r, ...spec }) => spec),
    samples,
  );
  const knobs = Object.entries(env)
    .filter(([name]) => name.startsWith('BENCH_') && name !== 'BENCH_OUT')
    .map(([name, value]) => `${name}=${value ?? ''} `)
    .join('');
  const info: RunInfo = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
    node: process.versions.node,
    cpus: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}`,
    loadBefore,
    loadAfter,
    seconds: SECONDS,
    rounds: ROUNDS,
    relayMillis: RELAY_MS,
    command: `${knobs}npm run bench`,
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(
    join(OUT, 'results.json'),
    JSON.stringify({ info, skipped, rows: summary }, null, 2) + '\n',
  );
  writeFileSync(join(OUT, 'results.md'), markdownReport(info, summary, skipped));
  writeFileSync(join(OUT, 'cpu-per-request.svg'), svgChart(info, summary));
  console.log(markdownReport(info, summary, skipped));
  console.error(
    `bench: wrote results.json, results.md and cpu-per-request.svg to ${relative(process.cwd(), OUT) || '.'}`,
  );
} finally {
  await Promise.all(children.map((c) => c.stop()));
  await relay.close();
  await redis.stop();
}
