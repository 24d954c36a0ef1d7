// The load generator, in its own process so that its CPU never counts as the subject's:
// autocannon, driven by bench/run.ts over IPC, one run at a time. Latencies are recorded here at
// full precision (autocannon's own histogram keeps whole milliseconds).
import autocannon from 'autocannon';

export interface LoadJob {
  type: 'run';
  id: number;
  url: string;
  connections: number;
  seconds: number;
  headers: Record<string, string>;
}

export interface LoadResult {
  type: 'result';
  id: number;
  /** Completed responses, any status. */
  requests: number;
  seconds: number;
  /** Count per status code. */
  statuses: Record<string, number>;
  errors: number;
  p50Millis: number;
  p99Millis: number;
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

async function run(job: LoadJob): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const statuses: Record<string, number> = {};
  const started = process.hrtime.bigint();
  let settle: (err: unknown, result: autocannon.Result) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    settle = (err, result) => {
      if (err === null || err === undefined) resolve(result);
      else reject(err instanceof Error ? err : new Error('autocannon failed', { cause: err }));
    };
  });
  const instance = autocannon(
    { url: job.url, connections: job.connections, duration: job.seconds, headers: job.headers },
    (err: unknown, result) => {
      settle(err, result);
    },
  );
  instance.on('response', (_client, statusCode: number, _bytes: number, millis: number) => {
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = millis;
    const key = String(statusCode);
    statuses[key] = (statuses[key] ?? 0) + 1;
  });
  const result = await done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sorted = latencies.subarray(0, count).sort();
  return {
    type: 'result',
    id: job.id,
    requests: count,
    seconds,
    statuses,
    errors: result.errors,
    p50Millis: percentile(sorted, 0.5),
    p99Millis: percentile(sorted, 0.99),
  };
}

process.on('message', (job: LoadJob) => {
  run(job).then(
    (result) => process.send?.(result),
    (err: unknown) => {
      console.error('bench load generator failed:', err);
      process.exit(1);
    },
  );
});
process.once('disconnect', () => process.exit(0));
