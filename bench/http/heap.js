// Heap bytes per session: `node --expose-gc bench/http/heap.js VARIANT N`.
//
// Creates N sessions of `{ views: 1 }` directly through each variant's store, holding exactly what
// its middleware would store (the same ID format and the same serialized value), then forces a
// full GC and divides the growth of memory by N: `heapUsed`, plus `arrayBuffers` (the memory of
// typed arrays lives outside V8's heap, and a store could otherwise hide its columns there).
// Cookie-based variants keep nothing on the server and are not measured. Run in its own process so
// nothing else lives on the heap.

import { createRequire } from 'node:module';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadPlain } from '../lib/plain.js';
import { isMain, report } from '../lib/stats.js';

const require = createRequire(import.meta.url);
const HOUR = 60 * 60 * 1000;

// express-session's IDs: uid-safe with 24 bytes, i.e. 32 base64url characters.
const expressId = () => randomBytes(24).toString('base64url');

// What express-session hands its store: the session with its Cookie (default options, no maxAge).
function expressSessionObject() {
  const { Cookie } = require('express-session');
  return { cookie: new Cookie(), views: 1 };
}

/** Each entry: `() => ({ store, add(): Promise|void, size() })`, or a `skipped` reason. */
const MAKERS = {
  tutorial: async () => {
    const sessions = {};
    return { store: sessions, add: () => void (sessions[randomUUID()] = { views: 1 }), size: () => Object.keys(sessions).length };
  },
  'express-session': async () => {
    const { MemoryStore } = require('express-session');
    const store = new MemoryStore();
    const sess = expressSessionObject();
    return {
      store,
      add: () => new Promise((resolve) => store.set(expressId(), sess, resolve)),
      size: () => Object.keys(store.sessions).length,
    };
  },
  'express-session+memorystore': async () => {
    const session = require('express-session');
    const MemoryStore = require('memorystore')(session);
    const store = new MemoryStore({ checkPeriod: 24 * HOUR });
    const sess = expressSessionObject();
    return {
      store,
      add: () => new Promise((resolve) => store.set(expressId(), sess, resolve)),
      size: () => store.store.length,
      close: () => store.stopInterval(),
    };
  },
  'plain-session-memory': async () => {
    const plain = await loadPlain(['MemoryStore', 'generateId']);
    if (plain.skipped) return { skipped: plain.skipped };
    const store = new plain.MemoryStore({ pruneInterval: 0 });
    const now = Date.now();
    // What the manager stores for `{ views: 1 }`: each key's JSON text, creation time and expiry.
    const record = () => ({ data: { views: JSON.stringify(1) }, createdAt: now, expiresAt: now + 30 * 60 * 1000 });
    return { store, add: () => store.set(plain.generateId(), record()), size: () => store.size, close: () => store.close?.() };
  },
};

export const HEAP_VARIANTS = Object.keys(MAKERS);

function heapAfterGc() {
  for (let i = 0; i < 3; i++) global.gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** Heap bytes per session for `variant` over `n` sessions. */
export async function measureHeap(variant, n) {
  if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');
  const made = await MAKERS[variant]();
  if (made.skipped) return { variant, skipped: made.skipped };
  const before = heapAfterGc();
  // In batches, so that callbacks scheduled with setImmediate do not pile up by the hundred thousand.
  for (let i = 0; i < n; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) batch.push(made.add());
    await Promise.all(batch);
  }
  const after = heapAfterGc();
  const size = made.size();
  if (size !== n) throw new Error(`${variant}: expected ${n} sessions in the store, found ${size}`);
  await made.close?.();
  return { variant, n, bytesPerSession: (after - before) / n };
}

if (isMain(import.meta.url)) {
  const [variant, n = '100000'] = process.argv.slice(2);
  if (!MAKERS[variant]) {
    console.error(`usage: node --expose-gc bench/http/heap.js ${HEAP_VARIANTS.join('|')} [N]`);
    process.exit(2);
  }
  report(await measureHeap(variant, Number(n)));
}
