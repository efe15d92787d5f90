/**
 * The store contract suite: what every `Store` must do, as tests on `node:test`. Every store of
 * plain-session runs it, and so can yours:
 *
 *   import { runStoreContract } from 'plain-session/testing';
 *   runStoreContract('MyStore', () => new MyStore(client));
 *
 * then `node --test`. It uses fresh random IDs and user names everywhere, so it can share a database
 * with other tests. This module imports `node:test`: load it from tests only.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { encodeData } from './data.js';
import { generateId } from './id.js';
import type { SessionPatch, SessionRecord, Store, StoredData } from './store.js';

export interface ContractOptions {
  /** Skip the whole suite, with this reason (e.g. no server URL). */
  skip?: string | false;
  /**
   * What `idsOfUser` lists for a session ID: the ID itself (the default), or the key the store
   * files it under, such as `hashId` for stores that hash IDs at rest.
   */
  listedAs?: (id: string) => string;
}

const HOUR = 3_600_000;

function record(data: Record<string, unknown>, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { data: encodeData(data), createdAt: now, expiresAt: now + HOUR, ...overrides };
}

function patch(set: Record<string, unknown>, remove: string[] = [], more: Partial<SessionPatch> = {}): SessionPatch {
  return { set: encodeData(set), remove, ...more };
}

/** Texts as a plain object, for comparing what came back with what went in. */
function plain(texts: StoredData | undefined): Record<string, string> | undefined {
  return texts === undefined ? undefined : Object.fromEntries(Object.entries(texts));
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers the contract suite for a store. `makeStore` is called for each test; each store it
 * makes is closed (`close()`) after the suite.
 */
export function runStoreContract(name: string, makeStore: () => Store | Promise<Store>, options: ContractOptions = {}): void {
  describe(`store contract: ${name}`, { skip: options.skip ?? false }, () => {
    const stores: Store[] = [];
    const open = async (): Promise<Store> => {
      const store = await makeStore();
      stores.push(store);
      return store;
    };
    after(async () => {
      for (const store of stores) await store.close?.();
    });
    /** The store's `patch`, or a skip when it has none (the manager then merges by itself). */
    const patchOf = (store: Store, t: { skip(reason: string): void }) => {
      if (store.patch === undefined) t.skip('this store has no patch(): the manager falls back to get, merge and set');
      return store.patch?.bind(store);
    };

    describe('get, set, touch, delete', () => {
      test('get of an ID never set answers undefined', async () => {
        const store = await open();
        assert.equal(await store.get(generateId()), undefined);
      });

      test('set then get gives back the record unchanged', async () => {
        const store = await open();
        const id = generateId();
        const r = record({ cart: ['apple', 'pear'], n: 3, nested: { a: [1, { b: null }] } }, { userId: 'user-1' });
        await store.set(id, r);
        const got = await store.get(id);
        assert.ok(got);
        assert.deepEqual(plain(got.data), plain(r.data));
        assert.equal(got.createdAt, r.createdAt);
        assert.equal(got.expiresAt, r.expiresAt);
        assert.equal(got.userId, 'user-1');
      });

      test('a record without a user gives back no user', async () => {
        const store = await open();
        const id = generateId();
        await store.set(id, record({ a: 1 }));
        assert.equal((await store.get(id))?.userId ?? undefined, undefined);
      });

      test('an empty session round-trips', async () => {
        const store = await open();
        const id = generateId();
        await store.set(id, record({}));
        assert.deepEqual(plain((await store.get(id))?.data), {});
      });

      test('set replaces the whole record', async () => {
        const store = await open();
        const id = generateId();
        await store.set(id, record({ v: 1, gone: true }));
        await store.set(id, record({ v: 2 }));
        assert.deepEqual(plain((await store.get(id))?.data), { v: '2' });
      });

      test('keeps the record from the caller, and gives out copies', async () => {
        const store = await open();
        const id = generateId();
        const r = record({ v: 1 });
        await store.set(id, r);
        r.data.v = '"changed after set"';
        const got = await store.get(id);
        assert.equal(got?.data.v, '1');
        got!.data.v = '"changed after get"';
        got!.data.extra = '1';
        assert.deepEqual(plain((await store.get(id))?.data), { v: '1' });
      });

      test('a record whose expiresAt has passed is gone, pruned or not', async () => {
        const store = await open();
        const id = generateId();
        await store.set(id, record({ v: 1 }, { expiresAt: Date.now() - 1 }));
        assert.equal(await store.get(id), undefined);
      });

      test('a record expires when its time comes', async () => {
        const store = await open();
        const id = generateId();
        await store.set(id, record({ v: 1 }, { expiresAt: Date.now() + 150 }));
        assert.ok(await store.get(id));
        await pause(250);
        assert.equal(await store.get(id), undefined);
      });

      test('touch moves the expiry and keeps the data', async () => {
        const store = await open();
        const id = generateId();
        const r = record({ keep: 'me' });
        await store.set(id, r);
        const later = r.expiresAt + HOUR;
        await store.touch(id, later);
        const got = await store.get(id);
        assert.deepEqual(plain(got?.data), plain(r.data));
        assert.equal(got?.expiresAt, later);
        assert.equal(got?.createdAt, r.createdAt);
      });

      test('touch to a past time ends the record', async () => {
        const store = await open();
        const id = generateId();
        await store.set(id, record({ v: 1 }));
        await store.touch(id, Date.now() - 1);
        assert.equal(await store.get(id), undefined);
      });

      test('touch does not bring an expired record back, pruned or not', async () => {
        const store = await open();
        const id = generateId();
        await store.set(id, record({ v: 1 }, { expiresAt: Date.now() + 50 }));
        await pause(100);
        await store.touch(id, Date.now() + HOUR);
        assert.equal(await store.get(id), undefined);
      });

      test('touch of an unknown ID creates nothing', async () => {
        const store = await open();
        const id = generateId();
        await store.touch(id, Date.now() + HOUR);
        assert.equal(await store.get(id), undefined);
      });

      test('delete removes, and answers whether a live session was there', async () => {
        const store = await open();
        const id = generateId();
        await store.set(id, record({ v: 1 }));
        assert.equal(await store.delete(id), true);
        assert.equal(await store.get(id), undefined);
        assert.equal(await store.delete(id), false, 'deleted already');
        assert.equal(await store.delete(generateId()), false, 'never set');
      });

      test('delete answers false for an expired session (regenerate() must not move a dead one)', async () => {
        const store = await open();
        const id = generateId();
        await store.set(id, record({ v: 1 }, { expiresAt: Date.now() + 50 }));
        await pause(100);
        assert.equal(await store.delete(id), false);
        assert.equal(await store.get(id), undefined);
      });

      test('sessions are independent of each other', async () => {
        const store = await open();
        const a = generateId();
        const b = generateId();
        await store.set(a, record({ who: 'a' }));
        await store.set(b, record({ who: 'b' }));
        await store.delete(a);
        assert.equal(await store.get(a), undefined);
        assert.deepEqual(plain((await store.get(b))?.data), { who: '"b"' });
      });

      test('a value of 100 KB round-trips', async () => {
        const store = await open();
        const id = generateId();
        const big = record({ blob: 'x'.repeat(100 * 1024) });
        await store.set(id, big);
        assert.deepEqual(plain((await store.get(id))?.data), plain(big.data));
      });

      test('unicode and hostile keys and values round-trip byte for byte', async () => {
        const store = await open();
        const hostile = [
          "Robert'); DROP TABLE sessions; --",
          'ünïcødé 🎉 日本語 \u2028\u2029',
          '"quotes" \\backslashes\\ %00 %zz',
          '<script>alert(1)</script>',
          'lone surrogate \ud800 end',
          '\u0000 nul and \r\n newlines',
          '__proto__',
          'd:m:user',
          '\u0001 begins with the mark',
        ];
        for (const value of hostile) {
          const id = generateId();
          const data: Record<string, unknown> = { value, constructor: value, [value]: value, 'm:user': value };
          Object.defineProperty(data, '__proto__', { value, enumerable: true, writable: true, configurable: true });
          const r = record(data);
          await store.set(id, r);
          assert.deepEqual(plain((await store.get(id))?.data), plain(r.data), `round trip of ${JSON.stringify(value)}`);
        }
      });

      test('50 concurrent sets of one ID leave one of the written records, whole', async () => {
        const store = await open();
        const id = generateId();
        const written = Array.from({ length: 50 }, (_, i) => record({ i, pad: 'p'.repeat(i * 10) }));
        await Promise.all(written.map((r) => store.set(id, r)));
        const got = await store.get(id);
        assert.ok(got && written.some((r) => isDeepStrictEqual(plain(r.data), plain(got.data))), 'the stored data is one of the written values');
      });
    });

    describe('patch', () => {
      test('sets and removes the given keys and leaves every other key alone', async (t) => {
        const store = await open();
        const apply = patchOf(store, t);
        if (!apply) return;
        const id = generateId();
        const r = record({ keep: 'me', change: 1, drop: true });
        await store.set(id, r);
        assert.equal(await apply(id, patch({ change: 2, added: ['x'] }, ['drop'])), true);
        const got = await store.get(id);
        assert.deepEqual(plain(got?.data), { keep: '"me"', change: '2', added: '["x"]' });
        assert.equal(got?.expiresAt, r.expiresAt, 'the expiry stays when the patch does not move it');
        assert.equal(got?.createdAt, r.createdAt);
      });

      test('moves the expiry and binds the user only when told to', async (t) => {
        const store = await open();
        const apply = patchOf(store, t);
        if (!apply) return;
        const id = generateId();
        const r = record({ v: 1 }, { userId: 'first' });
        await store.set(id, r);
        await apply(id, patch({ v: 2 }));
        assert.equal((await store.get(id))?.userId, 'first', 'a patch without a user keeps the user');
        const later = r.expiresAt + HOUR;
        await apply(id, patch({}, [], { expiresAt: later, userId: 'second' }));
        const got = await store.get(id);
        assert.equal(got?.expiresAt, later);
        assert.equal(got?.userId, 'second');
        assert.deepEqual(plain(got?.data), { v: '2' });
      });

      test('never creates: an unknown ID answers false and stays unknown', async (t) => {
        const store = await open();
        const apply = patchOf(store, t);
        if (!apply) return;
        const id = generateId();
        assert.equal(await apply(id, patch({ v: 1 }, [], { expiresAt: Date.now() + HOUR, userId: 'u' })), false);
        assert.equal(await store.get(id), undefined);
      });

      test('never brings back a deleted record', async (t) => {
        const store = await open();
        const apply = patchOf(store, t);
        if (!apply) return;
        const id = generateId();
        await store.set(id, record({ v: 1 }));
        await store.delete(id);
        assert.equal(await apply(id, patch({ v: 2 }, [], { expiresAt: Date.now() + HOUR })), false);
        assert.equal(await store.get(id), undefined);
      });

      test('never brings back an expired record, pruned or not', async (t) => {
        const store = await open();
        const apply = patchOf(store, t);
        if (!apply) return;
        const id = generateId();
        await store.set(id, record({ v: 1 }, { expiresAt: Date.now() + 50 }));
        await pause(100);
        assert.equal(await apply(id, patch({ v: 2 }, [], { expiresAt: Date.now() + HOUR })), false);
        assert.equal(await store.get(id), undefined);
      });

      test('50 concurrent patches of different keys all land', async (t) => {
        const store = await open();
        const apply = patchOf(store, t);
        if (!apply) return;
        const id = generateId();
        await store.set(id, record({ base: 0 }));
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => apply(id, patch({ [`k${i}`]: i }))));
        assert.ok(results.every(Boolean));
        const got = await store.get(id);
        assert.equal(Object.keys(got?.data ?? {}).length, 51, 'every key of every patch is there');
        for (let i = 0; i < 50; i++) assert.equal(got?.data[`k${i}`], String(i));
      });

      test('concurrent patches of one key leave one of the written values, whole', async (t) => {
        const store = await open();
        const apply = patchOf(store, t);
        if (!apply) return;
        const id = generateId();
        await store.set(id, record({ k: 0 }));
        const values = Array.from({ length: 20 }, (_, i) => ({ i, pad: 'p'.repeat(i * 50) }));
        await Promise.all(values.map((value) => apply(id, patch({ k: value }))));
        const text = (await store.get(id))?.data.k;
        assert.ok(values.some((value) => JSON.stringify(value) === text));
      });

      test('keys like __proto__ and hostile texts are set and removed like any other', async (t) => {
        const store = await open();
        const apply = patchOf(store, t);
        if (!apply) return;
        const id = generateId();
        await store.set(id, record({ a: 1 }));
        const set: StoredData = encodeData({});
        for (const key of ['__proto__', 'constructor', 'm:user', "x'); --", 'ü 🎉', '']) set[key] = JSON.stringify(`${key}\u0000\ud800`);
        assert.equal(await apply(id, { set, remove: [] }), true);
        assert.deepEqual(plain((await store.get(id))?.data), { a: '1', ...plain(set) });
        assert.equal(await apply(id, { set: encodeData({}), remove: Object.keys(set) }), true);
        assert.deepEqual(plain((await store.get(id))?.data), { a: '1' });
      });
    });

    describe('the sessions of a user', () => {
      test('can be listed and deleted together, expired ones aside', async (t) => {
        const store = await open();
        if (!store.idsOfUser || !store.deleteUser) return t.skip('this store does not index users');
        const listedAs = options.listedAs ?? ((id: string) => id);
        const user = `user-${generateId()}`;
        const other = `user-${generateId()}`;
        const mine = [generateId(), generateId(), generateId()];
        const expired = generateId();
        const theirs = generateId();
        for (const id of mine) await store.set(id, record({ id }, { userId: user }));
        await store.set(expired, record({}, { userId: user }));
        await store.touch(expired, Date.now() - 1);
        await store.set(theirs, record({ id: theirs }, { userId: other }));
        assert.deepEqual((await store.idsOfUser(user)).sort(), mine.map(listedAs).sort());
        assert.equal(await store.deleteUser(user), 3, 'only live sessions are counted');
        for (const id of mine) assert.equal(await store.get(id), undefined);
        assert.deepEqual(await store.idsOfUser(user), []);
        assert.ok(await store.get(theirs), "another user's session survives");
        assert.equal(await store.deleteUser(user), 0);
      });

      test('a session that changes user moves between the users', async (t) => {
        const store = await open();
        if (!store.idsOfUser || !store.deleteUser) return t.skip('this store does not index users');
        const first = `user-${generateId()}`;
        const second = `user-${generateId()}`;
        const id = generateId();
        await store.set(id, record({}, { userId: first }));
        await store.set(id, record({}, { userId: second }));
        assert.equal((await store.idsOfUser(first)).length, 0);
        assert.equal((await store.idsOfUser(second)).length, 1);
        await store.deleteUser(first);
        assert.ok(await store.get(id), 'deleting the old user leaves the session alone');
      });

      test('a patch that binds a user lists the session, and a rebind moves it', async (t) => {
        const store = await open();
        const apply = patchOf(store, t);
        if (!apply) return;
        if (!store.idsOfUser || !store.deleteUser) return t.skip('this store does not index users');
        const first = `user-${generateId()}`;
        const second = `user-${generateId()}`;
        const id = generateId();
        await store.set(id, record({ v: 1 }));
        await apply(id, patch({}, [], { userId: first }));
        assert.equal((await store.idsOfUser(first)).length, 1);
        await apply(id, patch({}, [], { userId: second }));
        assert.equal((await store.idsOfUser(first)).length, 0);
        assert.equal(await store.deleteUser(first), 0);
        assert.equal(await store.deleteUser(second), 1);
        assert.equal(await store.get(id), undefined);
      });

      test('sessions of one user written at the same moment are all listed, and all deleted', async (t) => {
        const store = await open();
        if (!store.idsOfUser || !store.deleteUser) return t.skip('this store does not index users');
        const user = `user-${generateId()}`;
        const ids = Array.from({ length: 10 }, () => generateId());
        await Promise.all(ids.map((id) => store.set(id, record({ id }, { userId: user }))));
        assert.equal((await store.idsOfUser(user)).length, 10);
        assert.equal(await store.deleteUser(user), 10);
        for (const id of ids) assert.equal(await store.get(id), undefined);
      });

      test('a session whose expiry moved stays listed past its first expiry', async (t) => {
        const store = await open();
        if (!store.idsOfUser || !store.deleteUser) return t.skip('this store does not index users');
        const user = `user-${generateId()}`;
        const id = generateId();
        await store.set(id, record({}, { userId: user, expiresAt: Date.now() + 150 }));
        await store.touch(id, Date.now() + HOUR);
        await pause(250);
        assert.equal((await store.idsOfUser(user)).length, 1);
        assert.equal(await store.deleteUser(user), 1);
      });
    });
  });
}
