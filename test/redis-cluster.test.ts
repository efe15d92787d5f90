/**
 * RedisStore on a real Redis Cluster: three masters on loopback, started by `.ci/services.sh`
 * (REDIS_CLUSTER_URLS). The contract suite runs on node-redis's `createCluster()` and on ioredis's
 * `Cluster`; then "log out everywhere" across slots, concurrent logins of one user, and a look at
 * every node afterwards: no key without an expiry. The multi-process HTTP test on the cluster is in
 * test/processes.test.ts.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Cluster } from 'ioredis';
import { createCluster } from 'redis';
import { encodeData } from '../lib/data.js';
import { generateId, hashId } from '../lib/id.js';
import type { SessionRecord } from '../lib/store.js';
import { RedisStore, type IoRedisClient, type NodeRedisCluster } from '../lib/stores/redis.js';
import { runStoreContract } from '../lib/testing.js';
import { loginRacingDeleteUser } from './helpers.js';
import { serviceUrl, uniqueName } from './services.js';

const urls = serviceUrl('REDIS_CLUSTER_URLS')?.split(',');

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { data: encodeData({ cart: ['apple'] }), createdAt: now, expiresAt: now + 3_600_000, ...overrides };
}

if (urls) {
  const nodeRedis = createCluster({ rootNodes: urls.map((url) => ({ url })) });
  nodeRedis.on('error', () => {});
  await nodeRedis.connect();
  const ioredis = new Cluster(urls.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) })));
  const prefixes: string[] = [];

  /** Every key under `prefix` on every master, with its PTTL. */
  async function keysOnEveryNode(prefix: string): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    for (const master of nodeRedis.masters) {
      const client = await nodeRedis.nodeClient(master);
      let cursor = '0';
      do {
        const reply = (await client.sendCommand(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000'])) as [string, string[]];
        cursor = String(reply[0]);
        for (const key of reply[1]) found.set(key, Number(await client.sendCommand(['PTTL', key])));
      } while (cursor !== '0');
    }
    return found;
  }

  after(async () => {
    for (const prefix of prefixes) for (const key of (await keysOnEveryNode(prefix)).keys()) await nodeRedis.sendCommand(key, false, ['DEL', key]);
    await nodeRedis.close();
    ioredis.disconnect();
  });

  const setup = (client: NodeRedisCluster | IoRedisClient) => {
    const prefix = `${uniqueName('cluster')}:`;
    prefixes.push(prefix);
    return { store: new RedisStore(client, { prefix }), prefix };
  };

  runStoreContract('RedisStore on Redis Cluster (node-redis createCluster)', () => setup(nodeRedis as unknown as NodeRedisCluster).store, { listedAs: hashId });
  runStoreContract('RedisStore on Redis Cluster (ioredis Cluster)', () => setup(ioredis as unknown as IoRedisClient).store, { listedAs: hashId });

  for (const [name, client] of [
    ['node-redis', nodeRedis as unknown as NodeRedisCluster],
    ['ioredis', ioredis as unknown as IoRedisClient],
  ] as const) {
    describe(`RedisStore on Redis Cluster with ${name}`, () => {
      test('a user’s sessions spread over every master, and "log out everywhere" ends them all', async () => {
        const { store, prefix } = setup(client);
        const ids = Array.from({ length: 30 }, () => generateId());
        for (const id of ids) await store.set(id, record({ userId: 'ada' }));
        const holding = new Set<string>();
        for (const key of (await keysOnEveryNode(prefix)).keys()) if (!key.includes(':user:')) holding.add(key);
        assert.equal(holding.size, 30);
        let nodes = 0;
        for (const master of nodeRedis.masters) {
          const node = await nodeRedis.nodeClient(master);
          const here = await Promise.all(ids.map((id) => node.sendCommand(['EXISTS', prefix + hashId(id)]).catch(() => 0)));
          if (here.some((n) => Number(n) === 1)) nodes++;
        }
        assert.equal(nodes, 3, 'the sessions live on all three masters');
        assert.equal((await store.idsOfUser('ada')).length, 30);
        assert.equal(await store.deleteUser('ada'), 30);
        for (const id of ids) assert.equal(await store.get(id), undefined);
      });

      test('a login racing "log out everywhere" stays listed, and the next deleteUser ends it', async () => {
        const { store, prefix } = setup(client);
        await loginRacingDeleteUser(client, store, prefix);
      });

      test('two logins of one user at the same moment, 20 rounds: every session listed, and all ended', async () => {
        const { store } = setup(client);
        for (let round = 0; round < 20; round++) {
          const user = `user-${round}`;
          const ids = [generateId(), generateId()];
          await Promise.all(ids.map((id) => store.set(id, record({ userId: user }))));
          assert.deepEqual((await store.idsOfUser(user)).sort(), ids.map(hashId).sort(), `round ${round}`);
          assert.equal(await store.deleteUser(user), 2);
        }
      });

      test('after sets, patches, touches, rebinds and deletes, no key on any node lacks an expiry', async () => {
        const { store, prefix } = setup(client);
        for (let i = 0; i < 20; i++) {
          const id = generateId();
          await store.set(id, record({ userId: `u${i % 3}` }));
          await store.patch(id, { set: encodeData({ n: i }), remove: ['cart'], expiresAt: Date.now() + 7_200_000 });
          await store.touch(id, Date.now() + 3_600_000);
          if (i % 4 === 0) await store.patch(id, { set: encodeData({}), remove: [], userId: `v${i}` });
          if (i % 5 === 0) await store.delete(id);
        }
        const keys = await keysOnEveryNode(prefix);
        assert.ok(keys.size > 20, `${keys.size} keys`);
        const forever = [...keys].filter(([, ttl]) => !(ttl > 0));
        assert.deepEqual(forever, [], 'every key expires');
      });
    });
  }
}
