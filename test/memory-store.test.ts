import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { generateId } from '../lib/id.js';
import { MemoryStore } from '../lib/stores/memory.js';
import { runStoreContract } from '../lib/testing.js';
import { decodeData, encodeData } from '../lib/data.js';
import { createSessions } from '../lib/sessions.js';
import { Client, serve } from './helpers.js';

runStoreContract('MemoryStore', () => new MemoryStore());

const record = (expiresAt: number, userId?: string) => ({ data: encodeData({ views: 1 }), createdAt: Date.now(), expiresAt, userId });

describe('MemoryStore', () => {
  test('options are checked', () => {
    assert.throws(() => new MemoryStore({ pruneInterval: -1 }), { name: 'RangeError', message: /pruneInterval must be a number of milliseconds from 0/ });
    assert.throws(() => new MemoryStore({ maxSessions: 0 }), { name: 'RangeError', message: /maxSessions must be a whole number/ });
    assert.throws(() => new MemoryStore({ maxSessions: 1.5 }), RangeError);
  });

  test('size counts the sessions held', async () => {
    const store = new MemoryStore({ pruneInterval: 0 });
    assert.equal(store.size, 0);
    const id = generateId();
    await store.set(id, record(Date.now() + 60_000));
    await store.set(generateId(), record(Date.now() + 60_000));
    assert.equal(store.size, 2);
    await store.delete(id);
    assert.equal(store.size, 1);
  });

  test('prune removes exactly the expired sessions, however they got their expiry', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const store = new MemoryStore({ pruneInterval: 0 });
    const now = Date.now();
    const live: string[] = [];
    for (let i = 0; i < 300; i++) {
      const id = generateId();
      // a third expire, a third live, and a third due soon but touched alive before their time
      if (i % 3 === 0) await store.set(id, record(now + 500));
      else if (i % 3 === 1) (await store.set(id, record(now + 60_000)), live.push(id));
      else {
        await store.set(id, record(now + 500));
        await store.touch(id, now + 60_000);
        live.push(id);
      }
    }
    t.mock.timers.tick(1000);
    assert.equal(await store.prune(), 100);
    assert.equal(store.size, 200);
    for (const id of live) assert.ok(await store.get(id), 'live and touched sessions survive');
    assert.equal(await store.prune(), 0, 'a second pass finds nothing');
  });

  test('a session set again with an earlier expiry is still pruned on time', async () => {
    const store = new MemoryStore({ pruneInterval: 0 });
    const id = generateId();
    await store.set(id, record(Date.now() + 60_000));
    await store.set(id, record(Date.now() - 1));
    assert.equal(await store.prune(), 1);
    assert.equal(store.size, 0);
  });

  test('prune runs on its timer, and close() stops it', async () => {
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      const store = new MemoryStore({ pruneInterval: 1000 });
      await store.set(generateId(), record(Date.now() - 1));
      assert.equal(store.size, 1);
      mock.timers.tick(1000);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(store.size, 0, 'the timer pruned it');
      await store.close();
      await store.set(generateId(), record(Date.now() - 1));
      mock.timers.tick(5000);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(store.size, 1, 'no prune after close()');
    } finally {
      mock.timers.reset();
    }
  });

  test('the prune timer never keeps the process alive', async () => {
    const { spawnSync } = await import('node:child_process');
    const url = new URL('../lib/stores/memory.js', import.meta.url).href;
    const started = Date.now();
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `import { MemoryStore } from '${url}'; new MemoryStore({ pruneInterval: 60000 });`], { timeout: 10_000 });
    assert.equal(child.status, 0, String(child.stderr));
    assert.ok(Date.now() - started < 10_000, 'the process exited by itself');
  });

  test('maxSessions evicts the least recently used session and warns once', async () => {
    const store = new MemoryStore({ pruneInterval: 0, maxSessions: 3 });
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(String(w.code));
    process.on('warning', onWarning);
    try {
      const [a, b, c, d, e] = Array.from({ length: 5 }, generateId) as [string, string, string, string, string];
      const later = Date.now() + 60_000;
      await store.set(a, record(later));
      await store.set(b, record(later));
      await store.set(c, record(later));
      await store.touch(a, later + 1); // a is now the most recently used
      await store.set(d, record(later)); // evicts b
      assert.equal(store.size, 3);
      assert.equal(await store.get(b), undefined);
      assert.ok(await store.get(a));
      await store.set(e, record(later)); // evicts c
      assert.equal(await store.get(c), undefined);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings, ['PLAIN_SESSION_EVICTING']);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('maxSessions counts a save that changes a session (a patch, over HTTP) as use: the other oldest is evicted', async (t) => {
    // README: "the least recently used session (by its last save or touch)". A request that changes
    // an existing session saves it with patch(), not set(): that must make it recently used too.
    const store = new MemoryStore({ pruneInterval: 0, maxSessions: 3 });
    const quiet = t.mock.method(process, 'emitWarning', () => {}); // the one eviction warning
    const sessions = createSessions<{ n?: number }>({ store });
    const served = await serve(
      sessions.wrap((_req, res, session) => {
        session.data.n = (session.data.n ?? 0) + 1;
        res.end(String(session.data.n));
      }),
    );
    t.after(() => served.close());
    const [a, b, c, d] = Array.from({ length: 4 }, () => new Client(served.url)) as [Client, Client, Client, Client];
    for (const client of [a, b, c]) assert.equal((await client.get('/')).body, '1'); // three new sessions: the cap
    assert.equal(store.size, 3);
    const [idA, idB, idC] = [a, b, c].map((client) => client.jar.get('sid')!);
    const saves = { set: 0, patch: 0 };
    t.mock.method(store, 'set', function (this: MemoryStore, ...args: Parameters<MemoryStore['set']>) {
      saves.set++;
      return MemoryStore.prototype.set.apply(this, args);
    });
    t.mock.method(store, 'patch', function (this: MemoryStore, ...args: Parameters<MemoryStore['patch']>) {
      saves.patch++;
      return MemoryStore.prototype.patch.apply(this, args);
    });
    assert.equal((await a.get('/')).body, '2', 'the oldest session, changed by a request');
    assert.deepEqual(saves, { set: 0, patch: 1 }, 'that request saved with patch() alone (no touch, no set)');
    assert.equal((await d.get('/')).body, '1'); // a fourth session: one must go
    assert.equal(store.size, 3);
    assert.ok(await store.get(idA!), 'the session a request just changed is kept');
    assert.equal(await store.get(idB!), undefined, 'the least recently used one, b, is evicted');
    assert.ok(await store.get(idC!));
    assert.equal((await a.get('/')).body, '3', 'a keeps its data over HTTP');
    assert.equal((await b.get('/')).body, '1', 'b starts anew');
    assert.ok(quiet.mock.callCount() >= 1, 'the eviction warned');
  });

  test('after a flood is pruned, the sessions left keep their data, times and users', async () => {
    // The store keeps sessions by slot and renumbers the slots once most are free: nothing of the
    // sessions left may move with them but their place in memory.
    const store = new MemoryStore({ pruneInterval: 0, maxSessions: 10_000 });
    const now = Date.now();
    const past = now - 1;
    const keep = Array.from({ length: 50 }, generateId);
    for (const [i, id] of keep.entries()) {
      await store.set(id, { data: encodeData({ n: i, note: `session ${i}` }), createdAt: now - i, expiresAt: now + 60_000 + i, userId: i % 2 ? `user-${i % 5}` : undefined });
      for (let k = 0; k < 80; k++) await store.set(generateId(), record(past)); // the flood, already expired
    }
    assert.equal(store.size, 50 * 81);
    assert.equal(await store.prune(), 50 * 80);
    assert.equal(store.size, 50);
    for (const [i, id] of keep.entries()) {
      const got = await store.get(id);
      assert.deepEqual(decodeData(got!.data), { n: i, note: `session ${i}` });
      assert.equal(got!.createdAt, now - i);
      assert.equal(got!.expiresAt, now + 60_000 + i);
      assert.equal(got!.userId, i % 2 ? `user-${i % 5}` : undefined);
    }
    assert.deepEqual((await store.idsOfUser('user-1')).sort(), keep.filter((_, i) => i % 2 && i % 5 === 1).sort());
    assert.ok(await store.patch(keep[3]!, { set: encodeData({ n: 'patched' }), remove: ['note'], userId: 'user-9' }));
    assert.deepEqual(decodeData((await store.get(keep[3]!))!.data), { n: 'patched' });
    assert.deepEqual(await store.idsOfUser('user-9'), [keep[3]]);
    assert.equal(await store.deleteUser('user-3'), keep.filter((_, i) => i % 2 && i % 5 === 3).length - 1); // keep[3] moved to user-9
    // New sessions after the renumbering get slots of their own, and nobody else's data.
    const fresh = generateId();
    await store.set(fresh, { data: encodeData({ fresh: true }), createdAt: now, expiresAt: now + 60_000 });
    assert.deepEqual(decodeData((await store.get(fresh))!.data), { fresh: true });
    assert.deepEqual(decodeData((await store.get(keep[0]!))!.data), { n: 0, note: 'session 0' });
  });

  test('a prune of many expired sessions yields to the event loop', async () => {
    const store = new MemoryStore({ pruneInterval: 0 });
    const past = Date.now() - 1;
    for (let i = 0; i < 200_000; i++) await store.set(generateId(), record(past));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const removed = await store.prune();
    clearInterval(timer);
    assert.equal(removed, 200_000);
    assert.ok(ticks > 0, 'timers ran while the prune was going on');
  });
});
