// Pruning: how long a sweep of expired sessions takes, and how long it blocks the event loop.
//
//   node bench/prune.js                      every store × every expired share, N = 1,000,000
//   node bench/prune.js STORE PERCENT [N]    one case (the harness runs each in its own process)
//
// Stores: plain-session's MemoryStore (`await store.prune()`), memorystore (`store.prune()`, a
// synchronous walk of its LRU cache) and express-session's MemoryStore, which has no sweep at all
// and only drops an expired session when it reads it: `store.all()` is the closest thing, so that
// is what is timed. Expired sessions are made through each store's normal `set`, with an expiry
// 1 ms ahead (or in the past where the store allows it), and the pass runs once they have passed.
// The event loop's largest delay comes from `perf_hooks.monitorEventLoopDelay({ resolution: 1 })`,
// enabled around the pass only.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPlain } from './lib/plain.js';
import { isMain, report, fmt, table } from './lib/stats.js';

const require = createRequire(import.meta.url);
const HOUR = 60 * 60 * 1000;

export const PRUNE_STORES = ['plain-session MemoryStore', 'memorystore', 'express-session MemoryStore'];
export const PRUNE_PERCENTS = [0, 10, 50];

const expressId = () => randomBytes(24).toString('base64url');

/** `{ fill(i, expired), pass(): Promise<number|undefined>, size(), close? }` for one store, or `{ skipped }`. */
async function makeStore(name) {
  if (name === 'plain-session MemoryStore') {
    const plain = await loadPlain(['MemoryStore', 'generateId']);
    if (plain.skipped) return { skipped: plain.skipped };
    const store = new plain.MemoryStore({ pruneInterval: 0 }); // the timer is off: we run the pass
    if (typeof store.prune !== 'function') return { skipped: 'MemoryStore has no prune()' };
    const data = JSON.stringify({ views: 1 });
    return {
      fill(expired) {
        const now = Date.now();
        return store.set(plain.generateId(), { data, createdAt: now, expiresAt: expired ? now + 1 : now + HOUR });
      },
      pass: () => store.prune(),
      size: () => store.size,
      close: () => store.close(),
    };
  }
  const session = require('express-session');
  if (name === 'memorystore') {
    const MemoryStore = require('memorystore')(session);
    const store = new MemoryStore({ checkPeriod: 24 * HOUR });
    // memorystore takes each entry's TTL from `cookie.maxAge`.
    const live = { cookie: { originalMaxAge: HOUR, maxAge: HOUR, httpOnly: true, path: '/' }, views: 1 };
    const expired = { cookie: { originalMaxAge: 1, maxAge: 1, httpOnly: true, path: '/' }, views: 1 };
    return {
      fill: (isExpired) => new Promise((resolve) => store.set(expressId(), isExpired ? expired : live, resolve)),
      pass: async () => store.prune(),
      size: () => store.store.length,
      close: () => store.stopInterval(),
    };
  }
  if (name === 'express-session MemoryStore') {
    const store = new session.MemoryStore();
    const cookie = (ms) => ({ originalMaxAge: ms, expires: new Date(Date.now() + ms), httpOnly: true, path: '/' });
    const live = { cookie: cookie(HOUR), views: 1 };
    const expired = { cookie: cookie(-HOUR), views: 1 };
    return {
      fill: (isExpired) => new Promise((resolve) => store.set(expressId(), isExpired ? expired : live, resolve)),
      pass: () => new Promise((resolve, reject) => store.all((error) => (error ? reject(error) : resolve()))),
      size: () => Object.keys(store.sessions).length,
    };
  }
  throw new Error(`unknown store ${name}`);
}

/** One pass over `n` sessions of which `percent`% are expired. */
export async function measurePrune(name, percent, n) {
  const store = await makeStore(name);
  if (store.skipped) return { store: name, percent, n, skipped: store.skipped };
  const every = percent === 0 ? Infinity : Math.round(100 / percent); // 10% → every 10th, 50% → every 2nd
  for (let i = 0; i < n; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) batch.push(store.fill(percent > 0 && j % every === 0));
    await Promise.all(batch);
  }
  const expected = percent === 0 ? 0 : Math.ceil(n / every);
  await sleep(20); // the 1 ms expiries are now in the past
  global.gc?.();
  await sleep(20);
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // The histogram ignores its first tick (and the first after a reset()), so let it tick a few
  // times before the pass starts; those idle ticks are about 1 ms each.
  await sleep(20);
  const start = performance.now();
  await store.pass();
  const passMs = performance.now() - start;
  await sleep(20); // a blocked timer reports its delay when it finally runs
  histogram.disable();
  const left = store.size();
  await store.close?.();
  if (left !== n - expected) {
    throw new Error(`${name}: after the pass ${left} sessions are left, expected ${n - expected}`);
  }
  return { store: name, percent, n, removed: n - left, passMs, maxDelayMs: histogram.max / 1e6 };
}

/** Results as markdown: one row per store and expired share. */
export function pruneMarkdown(results) {
  const rows = results.map((r) =>
    r.skipped
      ? [r.store, `${r.percent}%`, fmt(r.n), `skipped: ${r.skipped}`, '', '']
      : [r.store, `${r.percent}%`, fmt(r.n), fmt(r.removed), fmt(r.passMs, 1), fmt(r.maxDelayMs, 1)]);
  return table(['store', 'expired', 'sessions', 'removed', 'pass ms', 'largest event-loop delay ms'], rows, 2);
}

/** Every store × share, each in a fresh process (the harness's entry point for this benchmark). */
export async function runPrune({ n, log = console.log }) {
  const { runChild } = await import('./lib/children.js');
  const script = fileURLToPath(import.meta.url);
  const results = [];
  for (const name of PRUNE_STORES) {
    for (const percent of PRUNE_PERCENTS) {
      const result = await runChild(script, [name, String(percent), String(n)], {
        execArgv: ['--expose-gc', '--max-old-space-size=4096'],
        what: `prune ${name} ${percent}%`,
      });
      log(result.skipped
        ? `  prune ${name}: skipped (${result.skipped})`
        : `  prune ${name.padEnd(28)} ${String(percent).padStart(2)}% expired: pass ${fmt(result.passMs, 1)} ms, ` +
          `largest loop delay ${fmt(result.maxDelayMs, 1)} ms`);
      results.push(result);
      if (result.skipped) break;
    }
  }
  return results;
}

if (isMain(import.meta.url)) {
  const [name, percent, n = '1000000'] = process.argv.slice(2);
  if (name === undefined) {
    const results = await runPrune({ n: 1_000_000 });
    console.log(pruneMarkdown(results));
  } else {
    report(await measurePrune(name, Number(percent), Number(n)));
  }
}
