/**
 * RedisStore against a real Redis (REDIS_URL, started by `.ci/services.sh`), through both clients
 * it supports: node-redis and ioredis. Each test uses a key prefix of its own, removed afterwards.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { generateId, hashId } from '../lib/id.js';
import { RedisStore, type IoRedisClient, type NodeRedisClient } from '../lib/stores/redis.js';
import type { SessionRecord } from '../lib/store.js';
import { loginRacingDeleteUser } from './helpers.js';
import { serviceUrl, uniqueName } from './services.js';
import { runStoreContract } from '../lib/testing.js';
import { encodeData } from '../lib/data.js';

const url = serviceUrl('REDIS_URL');
const HOUR = 3_600_000;

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { data: encodeData({ cart: ['apple'] }), createdAt: now, expiresAt: now + HOUR, ...overrides };
}

/** What a test needs from a client: raw commands, for looking at what the store wrote. */
interface Client {
  name: string;
  store: NodeRedisClient | IoRedisClient;
  command(...args: string[]): Promise<unknown>;
  close(): Promise<unknown>;
}

const clients: Array<{ name: string; connect(url: string): Promise<Client> }> = [
  {
    name: 'node-redis',
    async connect(url) {
      const client = createClient({ url, disableOfflineQueue: true });
      client.on('error', () => {}); // reconnects by itself; a test fails on the rejected command
      await client.connect();
      return { name: 'node-redis', store: client, command: (...args) => client.sendCommand(args), close: () => client.quit() };
    },
  },
  {
    name: 'ioredis',
    async connect(url) {
      const client = new Redis(url, { enableOfflineQueue: false, lazyConnect: true });
      await client.connect();
      return { name: 'ioredis', store: client, command: (...args) => client.call(args[0]!, ...args.slice(1)), close: () => client.quit() };
    },
  },
];

if (url) {
  for (const { name, connect } of clients) {
    describe(`RedisStore with ${name}`, async () => {
      const client = await connect(url);
      const prefixes: string[] = [];
      after(async () => {
        for (const prefix of prefixes) {
          const keys = (await client.command('KEYS', `${prefix}*`)) as string[];
          if (keys.length > 0) await client.command('DEL', ...keys);
        }
        await client.close();
      });

      /** A store under a prefix of its own. */
      function setup(): { store: RedisStore; prefix: string } {
        const prefix = `${uniqueName('test')}:`;
        prefixes.push(prefix);
        return { store: new RedisStore(client.store, { prefix }), prefix };
      }
      runStoreContract(`RedisStore with ${name}`, () => setup().store, { listedAs: hashId });

      const keysOf = async (prefix: string) => ((await client.command('KEYS', `${prefix}*`)) as string[]).sort();

      test('expiry is Redis’s own: the key carries the session’s expiry time', async () => {
        const { store, prefix } = setup();
        const id = generateId();
        const stored = record();
        await store.set(id, stored);
        assert.equal(await client.command('PEXPIRETIME', prefix + hashId(id)), stored.expiresAt);
      });

      test('an expired record is gone, and setting one in the past stores nothing', async () => {
        const { store, prefix } = setup();
        const id = generateId();
        await store.set(id, record());
        await client.command('PEXPIREAT', prefix + hashId(id), String(Date.now() - 1)); // time passes
        assert.equal(await store.get(id), undefined);
        await store.set(id, record({ expiresAt: Date.now() - 1 }));
        assert.equal(await store.get(id), undefined);
        assert.deepEqual(await keysOf(prefix), []);
      });

      test('delete removes a record; its user no longer lists it; a missing one is ignored', async () => {
        const { store, prefix } = setup();
        const id = generateId();
        await store.set(id, record({ userId: 'u1' }));
        assert.equal((await keysOf(prefix)).length, 2);
        await store.delete(id);
        assert.equal(await store.get(id), undefined);
        assert.deepEqual(await store.idsOfUser('u1'), []);
        assert.equal(await store.deleteUser('u1'), 0);
        await store.delete(id);
      });

      test('keys hold the SHA-256 of the ID and of the user ID, never the IDs', async () => {
        const { store, prefix } = setup();
        const id = generateId();
        await store.set(id, record({ userId: 'alice@example.com' }));
        const keys = await keysOf(prefix);
        assert.deepEqual(keys, [prefix + hashId(id), `${prefix}user:${hashId('alice@example.com')}`].sort());
        const members = await client.command('ZRANGE', `${prefix}user:${hashId('alice@example.com')}`, '0', '-1');
        const dump = JSON.stringify([keys, members, await client.command('HGETALL', prefix + hashId(id))]);
        assert.ok(!dump.includes(id), 'the raw session ID appears nowhere');
        assert.ok(dump.includes('alice@example.com'), 'the user ID is kept in the session, for the manager');
      });

      test('a session bound to another user since is neither listed nor deleted for the first', async () => {
        const { store } = setup();
        const id = generateId();
        await store.set(id, record({ userId: 'alice' }));
        await store.set(id, record({ userId: 'bob' }));
        assert.deepEqual(await store.idsOfUser('alice'), []);
        assert.equal(await store.deleteUser('alice'), 0);
        assert.deepEqual(await store.idsOfUser('bob'), [hashId(id)]);
      });

      test('members whose time has passed leave the user’s set when a session joins it', async () => {
        const { store, prefix } = setup();
        const userKey = `${prefix}user:${hashId('alice')}`;
        const [first, second, third] = [generateId(), generateId(), generateId()];
        await store.set(first, record({ userId: 'alice', expiresAt: Date.now() + 100 }));
        await store.set(second, record({ userId: 'alice' }));
        await new Promise((resolve) => setTimeout(resolve, 150));
        await store.set(third, record({ userId: 'alice' })); // a new login
        assert.deepEqual(((await client.command('ZRANGE', userKey, '0', '-1')) as string[]).sort(), [hashId(second), hashId(third)].sort());
        assert.deepEqual((await store.idsOfUser('alice')).sort(), [hashId(second), hashId(third)].sort());
      });

      test('every key expires: the user’s set lives as long as its longest-lived session, and grows with it', async () => {
        const { store, prefix } = setup();
        const userKey = `${prefix}user:${hashId('carol')}`;
        const [a, b] = [generateId(), generateId()];
        const soon = Date.now() + 10 * 60_000;
        await store.set(a, record({ userId: 'carol', expiresAt: soon }));
        assert.equal(await client.command('PEXPIRETIME', userKey), soon);
        await store.set(b, record({ userId: 'carol', expiresAt: soon - 60_000 }));
        assert.equal(await client.command('PEXPIRETIME', userKey), soon, 'never shortened by a shorter session');
        await store.touch(b, soon + 60_000);
        assert.equal(await client.command('PEXPIRETIME', userKey), soon + 60_000, 'a touch extends it');
        await store.patch(a, { set: encodeData({ x: 1 }), remove: [], expiresAt: soon + 120_000 });
        assert.equal(await client.command('PEXPIRETIME', userKey), soon + 120_000, 'so does a patch');
        await store.patch(b, { set: encodeData({}), remove: [], userId: 'dave' });
        await store.delete(a);
        for (const key of await keysOf(prefix)) {
          assert.ok(Number(await client.command('PTTL', key)) > 0, `${key} has an expiry`);
        }
      });

      test('a login racing "log out everywhere" stays listed, and the next deleteUser ends it', async () => {
        const { store, prefix } = setup();
        await loginRacingDeleteUser(client.store, store, prefix);
      });

      test('concurrent logins of one user, 20 rounds: every session listed, and all ended by deleteUser', async () => {
        const { store } = setup();
        for (let round = 0; round < 20; round++) {
          const user = `user-${round}`;
          const ids = [generateId(), generateId()];
          await Promise.all(ids.map((id) => store.set(id, record({ userId: user }))));
          assert.deepEqual((await store.idsOfUser(user)).sort(), ids.map(hashId).sort(), `round ${round}: both listed`);
          assert.equal(await store.deleteUser(user), 2);
          for (const id of ids) assert.equal(await store.get(id), undefined);
        }
      });

      test('what plain-session 0.1 wrote reads as no session, and does not stop a login', async () => {
        const { store, prefix } = setup();
        const id = generateId();
        await client.command('SET', prefix + hashId(id), '{"data":"{}","createdAt":1}', 'PX', '60000');
        assert.equal(await store.get(id), undefined);
        const userKey = `${prefix}user:${hashId('erin')}`;
        await client.command('SADD', userKey, 'old-member');
        assert.deepEqual(await store.idsOfUser('erin'), []);
        const fresh = generateId();
        await store.set(fresh, record({ userId: 'erin' }));
        assert.deepEqual(await store.idsOfUser('erin'), [hashId(fresh)]);
      });

      test('stores under different prefixes do not see each other', async () => {
        const { store: one } = setup();
        const { store: two } = setup();
        const id = generateId();
        await one.set(id, record({ userId: 'u1' }));
        assert.equal(await two.get(id), undefined);
        assert.deepEqual(await two.idsOfUser('u1'), []);
      });

      test('rejects what is not a client, and a prefix that is not a string', () => {
        assert.throws(() => new RedisStore({} as NodeRedisClient), TypeError);
        assert.throws(() => new RedisStore(client.store, { prefix: 1 as unknown as string }), TypeError);
      });
    });
  }
}
