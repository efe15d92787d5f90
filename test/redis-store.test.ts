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
import { serviceUrl, uniqueName } from './services.js';
import { runStoreContract } from '../lib/testing.js';
import { decodeData, encodeData } from '../lib/data.js';

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

      test('delete removes a record and its place in the user’s set, and ignores a missing one', async () => {
        const { store, prefix } = setup();
        const id = generateId();
        await store.set(id, record({ userId: 'u1' }));
        assert.equal((await keysOf(prefix)).length, 2);
        await store.delete(id);
        assert.equal(await store.get(id), undefined);
        assert.deepEqual(await keysOf(prefix), [], 'the emptied user set is gone too');
        await store.delete(id);
      });

      test('keys hold the SHA-256 of the ID and of the user ID, never the IDs', async () => {
        const { store, prefix } = setup();
        const id = generateId();
        await store.set(id, record({ userId: 'alice@example.com' }));
        const keys = await keysOf(prefix);
        assert.deepEqual(keys, [prefix + hashId(id), `${prefix}user:${hashId('alice@example.com')}`].sort());
        const members = await client.command('SMEMBERS', `${prefix}user:${hashId('alice@example.com')}`);
        const dump = JSON.stringify([keys, members, await client.command('GET', prefix + hashId(id))]);
        assert.ok(!dump.includes(id), 'the raw session ID appears nowhere');
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

      test('dead members leave the user’s set when it is listed and when a session joins it', async () => {
        const { store, prefix } = setup();
        const userKey = `${prefix}user:${hashId('alice')}`;
        const [first, second, third] = [generateId(), generateId(), generateId()];
        await store.set(first, record({ userId: 'alice' }));
        await store.set(second, record({ userId: 'alice' }));
        await client.command('DEL', prefix + hashId(first)); // as Redis does on expiry
        await store.set(third, record({ userId: 'alice' })); // a new login
        assert.deepEqual(((await client.command('SMEMBERS', userKey)) as string[]).sort(), [hashId(second), hashId(third)].sort());
        await client.command('DEL', prefix + hashId(second));
        assert.deepEqual(await store.idsOfUser('alice'), [hashId(third)]);
        assert.deepEqual(await client.command('SMEMBERS', userKey), [hashId(third)]);
      });

      test('stores under different prefixes do not see each other', async () => {
        const { store: one } = setup();
        const { store: two } = setup();
        const id = generateId();
        await one.set(id, record({ userId: 'u1' }));
        assert.equal(await two.get(id), undefined);
        assert.deepEqual(await two.idsOfUser('u1'), []);
      });

      test('a value it did not write reads as no session', async () => {
        const { store, prefix } = setup();
        const id = generateId();
        await client.command('SET', prefix + hashId(id), 'not json', 'PX', '60000');
        assert.equal(await store.get(id), undefined);
        await client.command('SET', prefix + hashId(id), '{"data":1}', 'PX', '60000');
        assert.equal(await store.get(id), undefined);
      });

      test('rejects what is not a client, and a prefix that is not a string', () => {
        assert.throws(() => new RedisStore({} as NodeRedisClient), TypeError);
        assert.throws(() => new RedisStore(client.store, { prefix: 1 as unknown as string }), TypeError);
      });
    });
  }
}
