// One benchmark subject in its own process, driven by bench/run.ts over IPC: the backend, bare
// Express + http-proxy-middleware, or Express + authProxy (optionally with sessionCache). It
// reports its own CPU time, RSS and GC time on request, so the harness can divide by the requests
// the load generator completed.
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { AuthProxyOptions } from '../lib/index.js';

export type SubjectKind = 'backend' | 'bare' | 'auth' | 'auth-cache' | 'auth-metrics';

export interface SubjectSpec {
  kind: SubjectKind;
  /** The backend's base URL (proxies only). */
  target?: string;
  /** Where sessions are (authProxy only). */
  redisUrl?: string;
  jwtKey?: string;
  /** Another checkout's dist/index.js, to compare revisions; this checkout's by default. */
  lib?: string;
}

/** What a subject says over IPC. */
export type SubjectMessage =
  | { type: 'ready'; url: string }
  | { type: 'unsupported'; reason: string }
  | {
      type: 'usage';
      cpuMicros: number;
      rssBytes: number;
      gcMillis: number;
      /** Bytes allocated on the V8 heap since start: unlike time, the machine's load leaves it be. */
      allocatedBytes: number;
    };

// Any size the harness asks for, up to this, under `/bytes/<n>`.
const MAX_BODY = 16 * 2 ** 20;

// Allocation = growth of the used heap + what each garbage collection freed.
const gcProfiler = new GCProfiler();
gcProfiler.start();
const heapAtStart = getHeapStatistics().used_heap_size;
let freedByGc = 0;
function allocatedBytes(): number {
  for (const gc of gcProfiler.stop().statistics) {
    freedByGc += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  }
  gcProfiler.start();
  return getHeapStatistics().used_heap_size - heapAtStart + freedByGc;
}

let gcMillis = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMillis += entry.duration;
}).observe({ entryTypes: ['gc'] });

function send(message: SubjectMessage): void {
  process.send?.(message);
}

function backendApp(): ReturnType<typeof createServer> {
  const bodies = new Map<number, Buffer>();
  const server = createServer((req, res) => {
    const size = Number(/^\/bytes\/(\d+)$/.exec(req.url ?? '')?.[1] ?? Number.NaN);
    if (!(size > 0 && size <= MAX_BODY)) {
      res.writeHead(404).end();
      return;
    }
    let body = bodies.get(size);
    if (body === undefined) {
      body = Buffer.alloc(size, 'x');
      bodies.set(size, body);
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  // Longer than any pause between rounds: a proxy's pooled socket closed by the backend just as
  // the proxy reuses it would answer 502/504, a race of the set-up, not of the subject.
  server.keepAliveTimeout = 120_000;
  return server;
}

async function proxyApp(spec: SubjectSpec): Promise<ReturnType<typeof createServer> | string> {
  const target = spec.target ?? '';
  const app = express();
  if (spec.kind === 'bare') {
    app.use(
      '/mail',
      createProxyMiddleware({ target, changeOrigin: true, agent: new Agent({ keepAlive: true }) }),
    );
    return createServer(app);
  }
  const { authProxy, AuthProxyConfigError, createMetrics } = (await import(
    pathToFileURL(spec.lib ?? fileURLToPath(new URL('../dist/index.js', import.meta.url))).href
  )) as typeof import('../lib/index.js');
  const options: AuthProxyOptions = {
    target,
    jwtKey: spec.jwtKey ?? '',
    redis: spec.redisUrl ?? '',
  };
  // Built from a plain object so that this file still compiles before the option exists.
  const withCache: Record<string, unknown> = { ...options, sessionCache: true };
  // Revisions older than the metrics option (BENCH_BASELINE) have no createMetrics.
  const withMetrics: Record<string, unknown> = { ...options };
  if (spec.kind === 'auth-metrics') {
    if ((createMetrics as unknown) === undefined) return 'this revision has no createMetrics';
    withMetrics.metrics = createMetrics().mount('/mail');
  }
  try {
    app.use(
      '/mail',
      authProxy(
        spec.kind === 'auth-cache'
          ? (withCache as unknown as AuthProxyOptions)
          : (withMetrics as unknown as AuthProxyOptions),
      ),
    );
  } catch (err) {
    if (err instanceof AuthProxyConfigError && spec.kind === 'auth-cache') {
      return err.problems.join('; ');
    }
    throw err;
  }
  return createServer(app);
}

const spec = JSON.parse(process.argv[2] ?? '{}') as SubjectSpec;
const server = spec.kind === 'backend' ? backendApp() : await proxyApp(spec);
if (typeof server === 'string') {
  send({ type: 'unsupported', reason: server });
  process.disconnect();
} else {
  server.listen(0, '127.0.0.1', () => {
    send({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'usage') return;
    const cpu = process.cpuUsage();
    send({
      type: 'usage',
      cpuMicros: cpu.user + cpu.system,
      rssBytes: process.memoryUsage.rss(),
      gcMillis,
      allocatedBytes: allocatedBytes(),
    });
  });
  // The harness owns this process: when it goes, so do we.
  process.once('disconnect', () => process.exit(0));
}
