/**
 * Adversarial suite, group 6: floods, over real sockets (HTTP/1.1 keep-alive with pipelining, 20
 * connections). Lazy sessions mean a cookie-less flood costs no memory; `maxSessions` bounds a
 * flood that creates sessions, evicting the least recently used (lib/memory-store.ts).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { generateId } from '../lib/id.js';
import { MemoryStore } from '../lib/stores/memory.js';
import { createSessions } from '../lib/sessions.js';
import { blast, figure, heapUsedMb, SOAK } from './adversarial-helpers.js';

const TOTAL = SOAK ? 1_000_000 : 100_000;

/** A server on `store` whose `/new` puts something in the session; every other path only reads. */
async function floodServer(store: MemoryStore) {
  const sessions = createSessions<{ x?: number }>({ store });
  let maxSize = 0;
  const recent: string[] = []; // the IDs of the last sessions created, oldest first
  const server = createServer(
    sessions.wrap((req, res, session) => {
      if (req.url === '/new') {
        session.data.x = 1;
        recent.push(session.id);
        if (recent.length > 2000) recent.splice(0, 1000);
      }
      res.end('ok');
      maxSize = Math.max(maxSize, store.size);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    recent,
    get maxSize() {
      return Math.max(maxSize, store.size);
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sessions.close();
    },
  };
}

describe('6. floods', () => {
  test(`${TOTAL} cookie-less requests leave the MemoryStore empty and set no cookie`, async () => {
    const store = new MemoryStore();
    const app = await floodServer(store);
    const heapBefore = heapUsedMb();
    const result = await blast(app.port, { total: TOTAL, connections: 20, request: () => 'GET / HTTP/1.1\r\nhost: x\r\n\r\n', collectCookie: 'sid' });
    const heapAfter = heapUsedMb();
    await app.close();
    figure(`flood: ${TOTAL} cookie-less requests in ${(result.elapsedMs / 1000).toFixed(1)} s -> ${store.size} sessions stored, ${result.cookies} cookies set, ${result.errors} errors; heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MB (${(heapAfter - heapBefore).toFixed(1)} MB)`);
    assert.equal(result.statuses.get(200), TOTAL);
    assert.equal(result.errors, 0);
    assert.equal(store.size, 0);
    assert.equal(app.maxSize, 0);
    assert.equal(result.cookies, 0);
    assert.ok(heapAfter - heapBefore < 16, 'a cookie-less flood must not grow the heap');
  });

  const FORGED = SOAK ? 1_000_000 : 20_000;
  test(`${FORGED} requests with forged cookies (well-formed unknown IDs and garbage) store nothing`, async () => {
    const store = new MemoryStore();
    const app = await floodServer(store);
    const forged = Array.from({ length: 1000 }, (_, i) => (i % 2 ? generateId() : `${'x'.repeat(i % 60)}%zz;"`));
    const result = await blast(app.port, { total: FORGED, connections: 20, request: (i) => `GET / HTTP/1.1\r\nhost: x\r\ncookie: sid=${forged[i % 1000]}\r\n\r\n` });
    await app.close();
    figure(`flood: ${FORGED} requests with forged session cookies in ${(result.elapsedMs / 1000).toFixed(1)} s -> ${store.size} sessions stored, ${result.errors} errors`);
    assert.equal(result.statuses.get(200), FORGED);
    assert.equal(store.size, 0);
  });

  test(`${TOTAL} session-creating requests with maxSessions: 1000 stay within 1000, evicting the least recently used`, async () => {
    const store = new MemoryStore({ maxSessions: 1000 });
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(w.code ?? w.name);
    process.on('warning', onWarning);
    const app = await floodServer(store);
    const heapBefore = heapUsedMb();
    const result = await blast(app.port, { total: TOTAL, connections: 20, request: () => 'GET /new HTTP/1.1\r\nhost: x\r\n\r\n', collectCookie: 'sid' });
    const heapAfter = heapUsedMb();
    // Eviction as documented: the newest 1000 sessions are the ones kept.
    const newest = app.recent.slice(-1000);
    const older = app.recent.slice(0, -1000);
    let newestKept = 0;
    for (const id of newest) if ((await store.get(id)) !== undefined) newestKept++;
    let olderKept = 0;
    for (const id of older) if ((await store.get(id)) !== undefined) olderKept++;
    const pruned = await store.prune(); // nothing has expired: a prune only tidies the expiry heap
    const heapAfterPrune = heapUsedMb();
    await app.close();
    process.off('warning', onWarning);
    figure(
      `flood: ${TOTAL} session-creating requests with maxSessions 1000 in ${(result.elapsedMs / 1000).toFixed(1)} s -> ${result.cookies} cookies, at most ${app.maxSize} stored, ` +
        `newest 1000 kept: ${newestKept}, older kept: ${olderKept}; eviction warnings: ${warnings.filter((w) => w === 'PLAIN_SESSION_EVICTING').length}; ` +
        `heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MB (+${(heapAfter - heapBefore).toFixed(1)}), after a prune ${heapAfterPrune.toFixed(1)} MB (${pruned} pruned)`,
    );
    assert.equal(result.statuses.get(200), TOTAL);
    assert.equal(result.cookies, TOTAL);
    assert.ok(app.maxSize <= 1000, `the store held ${app.maxSize} sessions`);
    assert.equal(store.size, 1000);
    assert.equal(newestKept, 1000);
    assert.equal(olderKept, 0);
    assert.deepEqual(warnings, ['PLAIN_SESSION_EVICTING'], 'one warning when eviction starts');
    // The cap is meant to bound memory. Evicted sessions must not linger elsewhere (the expiry heap
    // keeps their IDs until the next prune, by default a minute away: at 20,000 requests a second
    // that is over 1,000,000 stale IDs). 1000 live sessions take well under 1 MB.
    assert.ok(heapAfter - heapBefore < 5, `the heap grew by ${(heapAfter - heapBefore).toFixed(1)} MB for 1000 live sessions: evicted IDs are still referenced until a prune`);
  });
});
