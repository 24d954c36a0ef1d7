// Turns the raw per-round samples into medians, spreads and per-round ratios to the bare proxy.
// Pure: bench/run.ts feeds it, bench/report.ts renders what it returns.

/** One measured run of one row. */
export interface Sample {
  round: number;
  requests: number;
  /** Answers with another status than the row expects, and connection errors. */
  unexpected: number;
  seconds: number;
  cpuMicrosPerRequest: number;
  gcMicrosPerRequest: number;
  allocatedKilobytesPerRequest: number;
  requestsPerSecond: number;
  p50Millis: number;
  p99Millis: number;
  rssMegabytes: number;
}

export const METRICS = [
  'cpuMicrosPerRequest',
  'gcMicrosPerRequest',
  'allocatedKilobytesPerRequest',
  'requestsPerSecond',
  'p50Millis',
  'p99Millis',
  'rssMegabytes',
] as const;
export type Metric = (typeof METRICS)[number];

/** Ratios to the bare proxy, taken within each round and then summarised. */
export const RATIOS = {
  cpu: 'cpuMicrosPerRequest',
  throughput: 'requestsPerSecond',
  p99: 'p99Millis',
  rss: 'rssMegabytes',
} as const satisfies Record<string, Metric>;
export type Ratio = keyof typeof RATIOS;

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface RowSpec {
  id: string;
  subject: string;
  label: string;
  bytes: number;
  connections: number;
  /** The status every answer must have. */
  status: number;
}

export interface RowSummary extends RowSpec {
  samples: Sample[];
  stats: Record<Metric, Spread>;
  /** Undefined for the rows that have no bare proxy to compare with, and for bare itself. */
  vsBare: Record<Ratio, Spread> | undefined;
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mid = sorted.length >> 1;
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] ?? Number.NaN)
      : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted[sorted.length - 1] ?? Number.NaN };
}

/** The case a row belongs to: same response size and connection count. */
export function caseKey(row: Pick<RowSpec, 'bytes' | 'connections'>): string {
  return `${row.bytes}/${row.connections}`;
}

export function summarise(rows: readonly RowSpec[], samples: Map<string, Sample[]>): RowSummary[] {
  const bareByCase = new Map<string, Sample[]>();
  for (const row of rows) {
    if (row.subject === 'bare') bareByCase.set(caseKey(row), samples.get(row.id) ?? []);
  }
  return rows.map((row) => {
    const own = samples.get(row.id) ?? [];
    const stats = Object.fromEntries(
      METRICS.map((metric) => [metric, spread(own.map((s) => s[metric]))]),
    ) as Record<Metric, Spread>;
    const bare = bareByCase.get(caseKey(row));
    let vsBare: RowSummary['vsBare'];
    if (bare !== undefined && row.subject !== 'bare') {
      const byRound = new Map(bare.map((s) => [s.round, s]));
      vsBare = Object.fromEntries(
        Object.entries(RATIOS).map(([name, metric]) => [
          name,
          spread(
            own.flatMap((s) => {
              const reference = byRound.get(s.round);
              return reference === undefined ? [] : [s[metric] / reference[metric]];
            }),
          ),
        ]),
      ) as Record<Ratio, Spread>;
    }
    return { ...row, samples: own, stats, vsBare };
  });
}
