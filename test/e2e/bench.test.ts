// Smoke test of the benchmark harness: it starts, measures, and writes well-formed results. The
// figures themselves are not judged here (benchmarks are scripts printing ratios).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RowSummary } from '../../bench/summary.js';

const RUN = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));

after(() => {
  rmSync(out, { recursive: true, force: true });
});

it('npm run bench measures each subject and writes JSON, markdown and SVG', async () => {
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', RUN],
      {
        env: {
          ...process.env,
          BENCH_QUICK: '1',
          // One subject keeps this cheap; the summary's arithmetic has its own unit test.
          BENCH_ONLY: 'auth',
          BENCH_WARMUP: '0',
          BENCH_OUT: out,
        },
      },
      (err, _stdout, stderr) => {
        if (err === null) resolve();
        else reject(new Error(`bench failed: ${stderr}`, { cause: err }));
      },
    );
  });

  const { rows } = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
    rows: RowSummary[];
  };
  assert.deepEqual(
    rows.map((row) => [row.subject, row.bytes, row.connections, row.status]),
    [['auth', 100, 50, 200]],
  );
  for (const row of rows) {
    assert.equal(row.samples.length, 1);
    const [sample] = row.samples;
    assert.ok(sample !== undefined && sample.requests > 0);
    for (const value of [
      sample.cpuMicrosPerRequest,
      sample.requestsPerSecond,
      sample.p99Millis,
      sample.rssMegabytes,
    ]) {
      assert.ok(Number.isFinite(value) && value > 0, `${row.id}: ${value}`);
    }
  }

  const table = readFileSync(join(out, 'results.md'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('|'));
  // Header, separator, one line per row, each with the same number of cells.
  assert.equal(table.length, 2 + rows.length);
  assert.equal(new Set(table.map((line) => line.split('|').length)).size, 1);

  const svg = readFileSync(join(out, 'cpu-per-request.svg'), 'utf8');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>/);
  assert.match(svg, /<\/svg>\n$/);
  assert.equal(svg.match(/<rect x=/g)?.length, rows.length);
});
