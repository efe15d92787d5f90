// What each part of a MemoryStore session costs on the heap: `node --expose-gc bench/heap-parts.js [N]`.
//
// The MemoryStore keeps a session by columns (lib/stores/memory.ts): its ID as a key of a `Map` of
// slot numbers, its data (an object of JSON texts, one per key) in an array, its two times in a
// Float64Array, and an entry in the expiry heap (a time and the ID, in two arrays). This builds
// each of those structures alone for N sessions of `{ views: 1 }`, after a full GC each time, and
// prints the bytes per session of each, to set beside the whole that `bench/http/heap.js` measures.
// The ANALYSIS.md note on the heap target quotes it.

import { randomBytes } from 'node:crypto';

const n = Number(process.argv[2] ?? 100_000);
if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');

function used() {
  for (let i = 0; i < 3; i++) global.gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** Heap bytes per session of what `make` builds and keeps. */
function perSession(make) {
  const before = used();
  const kept = make();
  const after = used();
  if (kept === undefined) throw new Error('keep what you measure');
  return (after - before) / n;
}

// IDs made up front, so that the structures that point to them count only themselves.
const ids = Array.from({ length: n }, () => randomBytes(32).toString('base64url'));

// An array of N small integers: 8 bytes a slot. Parts kept in an array below are measured with
// their array, and the array's slots taken off, so each line is the part alone.
const pointer = perSession(() => Array.from({ length: n }, (_, i) => i));
const inArray = (make) => perSession(() => Array.from({ length: n }, make)) - pointer;
const parts = [
  ['the ID, 256 bits as 43 base64url characters (a string)', inArray(() => randomBytes(32).toString('base64url'))],
  ['the ID at 128 bits, 22 characters (for comparison; not what we keep)', inArray(() => randomBytes(16).toString('base64url'))],
  ['its slot in the Map of IDs (key and value, not the string)', perSession(() => new Map(ids.map((id, i) => [id, i])))],
  ['the data: `{ views: "1" }`, one object of texts', inArray(() => ({ views: JSON.stringify(1) }))],
  ['its place in the data column (a pointer)', pointer],
  ['createdAt and expiresAt in a Float64Array', perSession(() => new Float64Array(2 * n))],
  ['the expiry heap: a time (array of doubles) and the ID (a pointer)', perSession(() => [Array.from({ length: n }, (_, i) => Date.now() + i + 0.5), ids.slice()])],
];

console.log(`heap bytes per session, ${n.toLocaleString('en-US')} sessions, Node ${process.version}\n`);
console.log('| part | bytes |\n| --- | ---: |');
for (const [name, bytes] of parts) console.log(`| ${name} | ${bytes.toFixed(1)} |`);
const kept = parts.filter(([name]) => !name.includes('for comparison'));
console.log(`| sum of the parts kept | ${kept.reduce((sum, [, bytes]) => sum + bytes, 0).toFixed(1)} |`);
