// Small helpers shared by the benchmarks: medians, number formatting and markdown tables.

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** The median of a list of numbers (the mean of the middle two for an even count); NaN if empty. */
export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Formats a number with `digits` decimals and thousands separators; '—' for NaN/undefined. */
export function fmt(value, digits = 0) {
  if (value === undefined || value === null || Number.isNaN(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A markdown table; the first `leftColumns` columns are left-aligned, the rest right-aligned (numbers). */
export function table(headers, rows, leftColumns = 1) {
  const align = headers.map((_, i) => (i < leftColumns ? '---' : '---:'));
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(align), ...rows.map(line)].join('\n');
}

/** The machine, for the top of the results file. */
export async function machine() {
  const os = await import('node:os');
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown CPU',
    cores: cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    date: new Date().toISOString().slice(0, 10),
  };
}

/** Whether the module at `importMetaUrl` is the process's entry point (`node bench/x.js`). */
export function isMain(importMetaUrl) {
  return process.argv[1] !== undefined && importMetaUrl === pathToFileURL(realpathSync(process.argv[1])).href;
}

/** Sends a result to the parent process when forked, else prints it as JSON. */
export function report(result) {
  if (process.send) process.send({ type: 'result', result });
  else console.log(JSON.stringify(result, null, 2));
}
