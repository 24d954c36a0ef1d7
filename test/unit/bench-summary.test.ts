import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markdownTable, svgChart } from '../../bench/report.js';
import { spread, summarise } from '../../bench/summary.js';
import type { RowSpec, Sample } from '../../bench/summary.js';

function sample(round: number, cpu: number, rps: number): Sample {
  return {
    round,
    requests: 1000,
    unexpected: 0,
    seconds: 1,
    cpuMicrosPerRequest: cpu,
    gcMicrosPerRequest: 1,
    allocatedKilobytesPerRequest: 40,
    requestsPerSecond: rps,
    p50Millis: 1,
    p99Millis: 2,
    rssMegabytes: 100,
  };
}

const row = (subject: string, connections = 50): RowSpec => ({
  id: `${subject}/100/${connections}`,
  subject,
  label: subject,
  bytes: 100,
  connections,
  status: 200,
});

describe('benchmark summary', () => {
  it('takes medians and min–max', () => {
    assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3 });
    assert.deepEqual(spread([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4 });
    assert.ok(Number.isNaN(spread([]).median));
  });

  it('takes ratios to bare within each round, and only within the same case', () => {
    const rows = [row('bare'), row('auth'), row('auth', 1)];
    const samples = new Map([
      ['bare/100/50', [sample(1, 100, 1000), sample(2, 200, 500)]],
      // Round 2 was slow for everyone: per-round ratios stay put where medians would not.
      ['auth/100/50', [sample(1, 110, 900), sample(2, 220, 450)]],
      ['auth/100/1', [sample(1, 300, 100)]],
    ]);
    const summary = summarise(rows, samples);
    const [bare, auth, alone] = [summary.at(0), summary.at(1), summary.at(2)];
    assert.ok(bare !== undefined && auth !== undefined && alone !== undefined);
    assert.equal(bare.vsBare, undefined);
    assert.deepEqual(auth.vsBare?.cpu, { median: 1.1, min: 1.1, max: 1.1 });
    assert.deepEqual(auth.vsBare.throughput, { median: 0.9, min: 0.9, max: 0.9 });
    assert.equal(auth.stats.cpuMicrosPerRequest.median, 165);
    assert.equal(alone.vsBare, undefined);
  });

  it('renders one table line and one bar per row', () => {
    const rows = summarise(
      [row('bare'), row('auth')],
      new Map([
        ['bare/100/50', [sample(1, 100, 1000)]],
        ['auth/100/50', [sample(1, 110, 900)]],
      ]),
    );
    const lines = markdownTable(rows).split('\n');
    assert.equal(lines.length, 4);
    assert.equal(new Set(lines.map((line) => line.split('|').length)).size, 1);
    const info = {
      date: 'd',
      node: 'n',
      cpus: 'c',
      loadBefore: [1],
      loadAfter: [1],
      seconds: 1,
      rounds: 1,
      relayMillis: 1,
      command: 'npm run bench',
    };
    const svg = svgChart(info, rows);
    assert.equal(svg.match(/<rect x=/g)?.length, 2);
    assert.match(svg, /×1\.10 bare/);
  });
});
