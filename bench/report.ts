// Renders a benchmark summary as a markdown table and as an SVG bar chart of CPU per request,
// both plain text so that the harness needs no browser and the README can show them.
import type { RowSummary, Spread } from './summary.js';

export interface RunInfo {
  date: string;
  node: string;
  cpus: string;
  loadBefore: number[];
  loadAfter: number[];
  seconds: number;
  rounds: number;
  relayMillis: number;
  command: string;
}

function bytesLabel(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function withSpread(s: Spread, digits: number): string {
  if (!Number.isFinite(s.median)) return '-';
  if (s.min === s.max) return fixed(s.median, digits);
  return `${fixed(s.median, digits)} (${fixed(s.min, digits)}–${fixed(s.max, digits)})`;
}

function thousands(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '-';
}

/** The table: medians over rounds, spreads as (min–max), ratios taken within each round. */
export function markdownTable(rows: readonly RowSummary[]): string {
  const header = [
    'response',
    'conns',
    'subject',
    'CPU µs/req',
    'CPU vs bare',
    'alloc KB/req',
    'req/s',
    'req/s vs bare',
    'p50 ms',
    'p99 ms',
    'p99 vs bare',
    'RSS MB',
    'RSS vs bare',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  for (const row of rows) {
    const ratio = (name: keyof NonNullable<RowSummary['vsBare']>): string =>
      row.vsBare === undefined
        ? row.subject === 'bare'
          ? '1'
          : ''
        : withSpread(row.vsBare[name], 2);
    lines.push(
      `| ${[
        bytesLabel(row.bytes),
        String(row.connections),
        row.label,
        withSpread(row.stats.cpuMicrosPerRequest, 0),
        ratio('cpu'),
        fixed(row.stats.allocatedKilobytesPerRequest.median, 1),
        thousands(row.stats.requestsPerSecond.median),
        ratio('throughput'),
        fixed(row.stats.p50Millis.median, 2),
        fixed(row.stats.p99Millis.median, 2),
        ratio('p99'),
        fixed(row.stats.rssMegabytes.median, 0),
        ratio('rss'),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** The whole markdown file: how it was run, then the table. */
export function markdownReport(
  info: RunInfo,
  rows: readonly RowSummary[],
  skipped: readonly string[],
): string {
  const load = (l: number[]): string => l.map((v) => v.toFixed(2)).join(', ');
  const stray = rows.flatMap((row) => {
    const count = row.samples.reduce((sum, s) => sum + s.unexpected, 0);
    return count === 0
      ? []
      : [
          `${row.label} (${bytesLabel(row.bytes)}, ${row.connections}): ${count} unexpected answers or errors`,
        ];
  });
  return [
    '# express-auth-proxy benchmark',
    '',
    `${info.date}, Node ${info.node}, ${info.cpus}; load average ${load(info.loadBefore)} before, ` +
      `${load(info.loadAfter)} after. ${info.rounds} interleaved rounds of ${info.seconds} s per ` +
      `row; median (min–max) over rounds; ratios to bare Express + http-proxy-middleware are taken ` +
      `within each round. Redis relay: +${info.relayMillis} ms each way.`,
    '',
    `Reproduce: \`${info.command}\``,
    '',
    markdownTable(rows),
    ...(skipped.length === 0 ? [] : ['', ...skipped.map((s) => `Skipped: ${s}`)]),
    ...(stray.length === 0 ? [] : ['', ...stray.map((s) => `Note: ${s}`)]),
    '',
  ].join('\n');
}

const COLOURS: Record<string, string> = {
  direct: '#9e9e9e',
  bare: '#1f77b4',
  auth: '#ff7f0e',
  'auth-cache': '#2ca02c',
  refused: '#d62728',
  'auth-relay': '#a05a00',
  'auth-cache-relay': '#1a6b1a',
};

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A horizontal bar chart of CPU µs per request, grouped by case, with min–max whiskers. */
export function svgChart(info: RunInfo, rows: readonly RowSummary[]): string {
  const labelWidth = 330;
  const barWidth = 380;
  const width = labelWidth + barWidth + 150;
  const rowHeight = 20;
  const groupGap = 28;
  const top = 46;
  const max = Math.max(
    1,
    ...rows.map((r) => r.stats.cpuMicrosPerRequest.max).filter(Number.isFinite),
  );
  const scale = (v: number): number => (Number.isFinite(v) ? (v / max) * barWidth : 0);

  const parts: string[] = [];
  let y = top;
  let group = '';
  for (const row of rows) {
    const key = `${bytesLabel(row.bytes)} responses, ${row.connections} connection${row.connections === 1 ? '' : 's'}`;
    if (key !== group) {
      group = key;
      y += groupGap - rowHeight / 2;
      parts.push(`<text x="8" y="${y}" font-weight="bold">${escapeXml(key)}</text>`);
      y += 6;
    }
    const cpu = row.stats.cpuMicrosPerRequest;
    const colour = COLOURS[row.subject] ?? '#555555';
    const barY = y + 3;
    const ratio = row.vsBare === undefined ? '' : `  ×${fixed(row.vsBare.cpu.median, 2)} bare`;
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 14}" text-anchor="end">${escapeXml(row.label)}</text>`,
      `<rect x="${labelWidth}" y="${barY}" width="${scale(cpu.median).toFixed(1)}" height="${rowHeight - 6}" fill="${colour}"/>`,
      `<line x1="${(labelWidth + scale(cpu.min)).toFixed(1)}" x2="${(labelWidth + scale(cpu.max)).toFixed(1)}" y1="${barY + (rowHeight - 6) / 2}" y2="${barY + (rowHeight - 6) / 2}" stroke="#000" stroke-width="1"/>`,
      `<text x="${(labelWidth + Math.max(scale(cpu.median), scale(cpu.max)) + 6).toFixed(1)}" y="${y + 14}">${fixed(cpu.median, 0)} µs${escapeXml(ratio)}</text>`,
    );
    y += rowHeight;
  }
  const height = y + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="8" y="20" font-size="15" font-weight="bold">CPU time of the proxy process per request (µs, median of ${info.rounds} rounds, whiskers min–max)</text>`,
    `<text x="8" y="36" fill="#555555">${escapeXml(`${info.date}, Node ${info.node}, ${info.cpus}, ${info.seconds} s per run`)}</text>`,
    ...parts,
    `<text x="8" y="${height - 10}" fill="#555555">Lower is better. The backend-direct row is the backend process itself.</text>`,
    '</svg>',
    '',
  ].join('\n');
}
