// Measures what authProxy costs per request above bare Express + http-proxy-middleware.
// Run: npm run bench   (needs redis-server on PATH for the Redis row)
// Prints requests/s and latency for each subject and its throughput ratio to the bare proxy.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import jwt from 'jsonwebtoken';
import { startRedis } from '../test/helpers/redis-server.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SERVER = fileURLToPath(new URL('./target-server.ts', import.meta.url));

const claims: jwt.JwtPayload = { sid: 'bench-sid', exp: Math.floor(Date.now() / 1000) + 3600 };
const token = jwt.sign(claims, 'bench-secret', { algorithm: 'HS512' });
const cookie = `Authorization=${Buffer.from(token).toString('base64')}`;

async function subject(
  mode: string,
  redisUrl?: string,
): Promise<{ url: string; child: ChildProcess }> {
  const args = ['--import', 'tsx', SERVER, mode, ...(redisUrl === undefined ? [] : [redisUrl])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  return { url: chunk.toString().trim(), child };
}

async function measure(url: string): Promise<autocannon.Result> {
  const options = { url: `${url}/mail/inbox`, connections: CONNECTIONS, headers: { cookie } };
  await autocannon({ ...options, duration: 2 }); // warm-up: JIT, keep-alive pools
  return autocannon({ ...options, duration: DURATION });
}

const redis = await startRedis();
const rows: { name: string; result: autocannon.Result }[] = [];
try {
  for (const [name, mode] of [
    ['bare Express + http-proxy-middleware', 'bare'],
    ['authProxy, MemorySessionStore', 'memory'],
    ['authProxy, Redis', 'redis'],
  ] as const) {
    const { url, child } = await subject(mode, redis.url);
    try {
      const result = await measure(url);
      if (result.non2xx > 0 || result.errors > 0) {
        throw new Error(`${name}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
      }
      rows.push({ name, result });
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
} finally {
  await redis.stop();
}

const bare = rows[0]?.result.requests.average ?? 1;
console.log(
  `\n${CONNECTIONS} connections, ${DURATION} s each, GET through the proxy to a one-line backend\n`,
);
console.log('subject                                req/s    p50 ms  p99 ms  throughput vs bare');
for (const { name, result } of rows) {
  const ratio = result.requests.average / bare;
  console.log(
    `${name.padEnd(38)} ${result.requests.average.toFixed(0).padStart(6)}  ${String(result.latency.p50).padStart(6)}  ${String(result.latency.p99).padStart(6)}  ${ratio.toFixed(2)}`,
  );
}
