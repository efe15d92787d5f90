/**
 * The store contract suite: what every `Store` must do, as tests. Run it against your own store:
 *
 *   import { runStoreContract } from './store-contract.js';
 *   runStoreContract('MyStore', () => new MyStore(client));
 *
 * It uses fresh random IDs everywhere, so it can share a database with other tests.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { generateId } from '../lib/id.js';
import type { SessionRecord, Store } from '../lib/store.js';

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

function record(data: unknown, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { data: JSON.stringify(data), createdAt: now, expiresAt: now + HOUR, ...overrides };
}

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

    test('get of an ID never set answers undefined', async () => {
      const store = await open();
      assert.equal(await store.get(generateId()), undefined);
    });

    test('set then get gives back the record unchanged', async () => {
      const store = await open();
      const id = generateId();
      const r = record({ cart: ['apple', 'pear'], n: 3 }, { userId: 'user-1' });
      await store.set(id, r);
      const got = await store.get(id);
      assert.ok(got);
      assert.equal(got.data, r.data);
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

    test('set replaces the whole record', async () => {
      const store = await open();
      const id = generateId();
      await store.set(id, record({ v: 1 }));
      const second = record({ v: 2 });
      await store.set(id, second);
      assert.equal((await store.get(id))?.data, second.data);
    });

    test('keeps the record from the caller, not a live reference', async () => {
      const store = await open();
      const id = generateId();
      const r = record({ v: 1 });
      await store.set(id, r);
      r.data = '{"v":"changed after set"}';
      assert.equal((await store.get(id))?.data, '{"v":1}');
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
      await new Promise((resolve) => setTimeout(resolve, 250));
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
      assert.equal(got?.data, r.data);
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
      await store.set(id, record({ v: 1 }, { expiresAt: Date.now() - 1 }));
      await store.touch(id, Date.now() + HOUR);
      assert.equal(await store.get(id), undefined);
    });

    test('touch of an unknown ID creates nothing', async () => {
      const store = await open();
      const id = generateId();
      await store.touch(id, Date.now() + HOUR);
      assert.equal(await store.get(id), undefined);
    });

    test('delete removes; deleting an unknown ID is a no-op', async () => {
      const store = await open();
      const id = generateId();
      await store.set(id, record({ v: 1 }));
      await store.delete(id);
      assert.equal(await store.get(id), undefined);
      await store.delete(id);
      await store.delete(generateId());
    });

    test('sessions are independent of each other', async () => {
      const store = await open();
      const a = generateId();
      const b = generateId();
      await store.set(a, record({ who: 'a' }));
      await store.set(b, record({ who: 'b' }));
      await store.delete(a);
      assert.equal(await store.get(a), undefined);
      assert.equal((await store.get(b))?.data, '{"who":"b"}');
    });

    test('a value of 100 KB round-trips', async () => {
      const store = await open();
      const id = generateId();
      const big = record({ blob: 'x'.repeat(100 * 1024) });
      await store.set(id, big);
      assert.equal((await store.get(id))?.data, big.data);
    });

    test('unicode and hostile strings round-trip byte for byte', async () => {
      const store = await open();
      const hostile = [
        "Robert'); DROP TABLE sessions; --",
        'ünïcødé 🎉 日本語 \u2028\u2029',
        '"quotes" \\backslashes\\ %00 %zz',
        '<script>alert(1)</script>',
        'lone surrogate \ud800 end',
        '\u0000 nul and \r\n newlines',
        '__proto__',
      ];
      for (const value of hostile) {
        const id = generateId();
        const r = record({ value, ['__proto__']: value, constructor: value });
        await store.set(id, r);
        assert.equal((await store.get(id))?.data, r.data, `round trip of ${JSON.stringify(value)}`);
      }
    });

    test('50 concurrent sets of one ID leave one of the written records, whole', async () => {
      const store = await open();
      const id = generateId();
      const written = Array.from({ length: 50 }, (_, i) => record({ i, pad: 'p'.repeat(i * 10) }));
      await Promise.all(written.map((r) => store.set(id, r)));
      const got = await store.get(id);
      assert.ok(got && written.some((r) => r.data === got.data), 'the stored data is one of the written values');
    });

    test('sessions of a user can be listed and deleted together, expired ones aside', async (t) => {
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
  });
}
