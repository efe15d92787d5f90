import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateId, hashId, ID_LENGTH, isWellFormedId } from '../lib/id.js';

test('generateId gives 256-bit base64url IDs, all different', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const id = generateId();
    assert.equal(id.length, ID_LENGTH);
    assert.ok(isWellFormedId(id), id);
    assert.equal(Buffer.from(id, 'base64url').length, 32);
    seen.add(id);
  }
  assert.equal(seen.size, 10_000);
});

test('generated IDs look random: every base64url character appears in every position class', () => {
  const counts = new Map<string, number>();
  for (let i = 0; i < 2000; i++) for (const c of generateId().slice(0, 40)) counts.set(c, (counts.get(c) ?? 0) + 1);
  assert.equal(counts.size, 64);
  const expected = (2000 * 40) / 64;
  for (const [c, n] of counts) assert.ok(n > expected * 0.8 && n < expected * 1.2, `${c}: ${n}`);
});

test('isWellFormedId rejects everything we would not issue', () => {
  const good = generateId();
  for (const bad of ['', good.slice(1), `${good}A`, `${good.slice(0, 42)}=`, `${good.slice(0, 42)}+`, `${good.slice(0, 42)}/`, `${good.slice(0, 20)} ${good.slice(21)}`, `${good.slice(0, 42)}B`, 'é'.repeat(43)]) {
    assert.equal(isWellFormedId(bad), false, JSON.stringify(bad));
  }
});

test('hashId is SHA-256 in base64url and differs from the ID', () => {
  const id = generateId();
  const hashed = hashId(id);
  assert.equal(hashed.length, 43);
  assert.notEqual(hashed, id);
  assert.equal(hashId(id), hashed);
});
