// Cookie header parsing: plain-session's `parseCookie` against the `cookie` package's `parse`.
//
//   node bench/parse.js [--smoke]
//
// Three headers: 1 cookie (a session ID), 5 cookies (a typical site), and 20 cookies with a quoted
// value and a percent-encoded one among them. Each parser runs in timed batches, alternating
// between the two, and the report gives the median ops/s of the rounds and the ratio.

import { parse as cookieParse } from 'cookie';
import { loadPlain } from './lib/plain.js';
import { fmt, isMain, median, report, table } from './lib/stats.js';

const SID = 'sid=6Jq2bW0yYxL3vQ9mPaT7rKcN1uHdE4sZoFgXiV8w5Bn';
const FIVE = `${SID}; theme=dark; lang=en-US; _ga=GA1.2.1234567890.1699999999; csrftoken=Zx81kQ0pLm2nB7vC4dF6gH9jK3sA5tY1`;
const extras = Array.from({ length: 13 }, (_, i) => `pref_${i}=value${i}_${'x'.repeat(i % 5)}`);
const TWENTY = [FIVE, 'quoted="hello world"', 'name=J%C3%BCrgen%20M%C3%BCller', ...extras].join('; ');

export const HEADERS = { '1 cookie': SID, '5 cookies': FIVE, '20 cookies': TWENTY };

let sink = 0; // keeps the results alive so the calls cannot be optimized away

/** Calls `fn(header)` in batches for about `ms` milliseconds; returns ops per second. */
function opsPerSecond(fn, header, ms) {
  const batch = 2000;
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < batch; i++) sink += Object.keys(fn(header)).length;
    ops += batch;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (ops / elapsed) * 1000;
}

/** Both parsers on each header; `rounds` alternating rounds of `ms` each. */
export async function measureParse({ rounds = 5, ms = 300 } = {}) {
  const plain = await loadPlain(['parseCookie']);
  const parsers = { cookie: cookieParse };
  if (!plain.skipped) parsers['plain-session'] = plain.parseCookie;
  const results = [];
  for (const [label, header] of Object.entries(HEADERS)) {
    const differences = plain.skipped ? [] : compare(cookieParse(header), plain.parseCookie(header));
    for (const fn of Object.values(parsers)) opsPerSecond(fn, header, ms); // warm-up
    const samples = Object.fromEntries(Object.keys(parsers).map((name) => [name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const [name, fn] of Object.entries(parsers)) samples[name].push(opsPerSecond(fn, header, ms));
    }
    const cookieOps = median(samples.cookie);
    const plainOps = plain.skipped ? NaN : median(samples['plain-session']);
    results.push({ header: label, length: header.length, cookieOps, plainOps, ratio: plainOps / cookieOps, differences });
  }
  return { results, skipped: plain.skipped, sink };
}

// The two parsers should agree on these headers; say where they do not rather than hide it.
function compare(a, b) {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].filter((n) => a[n] !== b[n]).map((n) => `${n}: cookie ${JSON.stringify(a[n])}, plain-session ${JSON.stringify(b[n])}`);
}

export function parseMarkdown({ results, skipped }) {
  const rows = results.map((r) => [`${r.header} (${r.length} chars)`, fmt(r.plainOps), fmt(r.cookieOps),
    skipped ? '—' : `${fmt(r.ratio, 2)}×`]);
  let text = table(['header', 'plain-session parseCookie ops/s', 'cookie parse ops/s', 'ratio'], rows);
  if (skipped) text += `\n\nplain-session skipped: ${skipped}`;
  for (const r of results) {
    if (r.differences.length > 0) text += `\n\nThe parsers disagree on the ${r.header} header: ${r.differences.join('; ')}`;
  }
  return text;
}

if (isMain(import.meta.url)) {
  const smoke = process.argv.includes('--smoke');
  const result = await measureParse(smoke ? { rounds: 1, ms: 50 } : {});
  if (process.send) report(result);
  else console.log(parseMarkdown(result));
}
