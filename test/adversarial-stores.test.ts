/**
 * Adversarial suite on the database stores: fixation and strict mode (group 4), concurrency on one
 * session (group 7: nothing lost within one process; last writer wins across processes, shown with
 * two managers on one database) and the load run on the cart (group 9).
 *
 * SQLite runs everywhere (node:sqlite or better-sqlite3, on a temporary file). PostgreSQL and Redis run when
 * DATABASE_URL / REDIS_URL are set (`source .ci/services.sh`); without them these tests skip
 * locally and fail under CI=true, like the stores' own tests.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createClient } from 'redis';
import { PostgresStore, type PostgresClient } from '../lib/stores/postgres.js';
import { RedisStore, type NodeRedisClient } from '../lib/stores/redis.js';
import { SqliteStore } from '../lib/stores/sqlite.js';
import type { Store } from '../lib/store.js';
import { requireDriver, serviceUrl, uniqueName } from './services.js';
import { concurrencySuite, figure, fixationSuite, loadRun, SOAK } from './adversarial-helpers.js';
import { sqliteDriver } from './store-kinds.js';

const LOAD_SECONDS = SOAK ? 30 : 3;

/** The load run on the cart as a test: 0 errors, 0 carts that differ from the adds sent. */
function loadSuite(name: string, makeStore: () => Store | Promise<Store>): void {
  test(`load (${name}): 20 connections for ${LOAD_SECONDS} s, 0 errors, 0 carts differ`, async () => {
    const result = await loadRun(await makeStore(), 20, LOAD_SECONDS, { maxAdds: 200 });
    figure(`load (${name}): 20 connections x ${LOAD_SECONDS} s -> ${result.requests} requests (${result.perSecond}/s), ${result.errors} errors, ${result.differing} of 20 carts differ from the adds sent`);
    assert.equal(result.errors, 0);
    assert.equal(result.differing, 0);
  });
}

// --- SQLite: node:sqlite where Node has it built in, better-sqlite3 otherwise ---------------------

const sqlite = await sqliteDriver();

describe(`adversarial: SqliteStore (${sqlite.name})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'plain-session-adv-'));
  const dbs: { close(): void }[] = [];
  const stores: Store[] = [];
  after(async () => {
    for (const store of stores) await store.close?.();
    for (const db of dbs) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const makeStore = () => {
    const db = sqlite.open(join(dir, `${uniqueName('s')}.db`));
    db.exec('PRAGMA journal_mode = WAL');
    dbs.push(db);
    const store = new SqliteStore(db, { pruneInterval: 0 });
    stores.push(store);
    return store;
  };
  fixationSuite('SqliteStore', makeStore);
  concurrencySuite('SqliteStore', makeStore, { twoManagers: true });
  loadSuite('SqliteStore', makeStore);
});

// --- PostgreSQL (pg) -----------------------------------------------------------------------------------

const databaseUrl = serviceUrl('DATABASE_URL');
if (databaseUrl) {
  describe('adversarial: PostgresStore (pg)', () => {
    const { Pool } = requireDriver('pg') as { Pool: new (options: { connectionString: string; max?: number }) => PostgresClient & { end(): Promise<void>; query(sql: string): Promise<unknown> } };
    const pool = new Pool({ connectionString: databaseUrl, max: 8 });
    const tables: string[] = [];
    after(async () => {
      for (const table of tables) await pool.query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    });
    const makeStore = () => {
      const table = uniqueName('adv');
      tables.push(table);
      return new PostgresStore(pool, { table, pruneInterval: 0 });
    };
    fixationSuite('PostgresStore', makeStore);
    concurrencySuite('PostgresStore', makeStore, { twoManagers: true });
    loadSuite('PostgresStore', makeStore);
  });
}

// --- Redis (node-redis) --------------------------------------------------------------------------------

const redisUrl = serviceUrl('REDIS_URL');
if (redisUrl) {
  describe('adversarial: RedisStore (node-redis)', () => {
    const client = createClient({ url: redisUrl });
    client.on('error', () => {});
    let connecting: Promise<unknown> | undefined;
    const prefixes: string[] = [];
    after(async () => {
      if (connecting === undefined) return;
      for (const prefix of prefixes) {
        const keys = await client.keys(`${prefix}*`);
        if (keys.length > 0) await client.del(keys);
      }
      await client.quit();
    });
    const makeStore = async () => {
      await (connecting ??= client.connect());
      const prefix = `${uniqueName('adv')}:`;
      prefixes.push(prefix);
      return new RedisStore(client as unknown as NodeRedisClient, { prefix });
    };
    fixationSuite('RedisStore', makeStore);
    concurrencySuite('RedisStore', makeStore, { twoManagers: true });
    loadSuite('RedisStore', makeStore);
  });
}
