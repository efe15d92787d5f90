/**
 * Every kind of server-side store, each made fresh for a test: the MemoryStore, SQLite (with the
 * driver this Node has), PostgreSQL and Redis (when `.ci/services.sh` gave their URLs). Tests that
 * must hold "on every store" loop over `storeKinds()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { createClient } from 'redis';
import { MemoryStore } from '../lib/stores/memory.js';
import { PostgresStore, type PostgresClient } from '../lib/stores/postgres.js';
import { RedisStore, type NodeRedisClient } from '../lib/stores/redis.js';
import { SqliteStore, type SqliteDatabase } from '../lib/stores/sqlite.js';
import type { Store } from '../lib/store.js';
import { requireDriver, serviceUrl, uniqueName } from './services.js';

export interface StoreKind {
  name: string;
  /** A fresh store, empty for this test (its own table, prefix or file). */
  make(): Promise<Store>;
}

interface OpenDatabase extends SqliteDatabase {
  close(): void;
}

/** The SQLite driver this Node can open: node:sqlite where it is built in, better-sqlite3 (built for Node 20) otherwise. */
export async function sqliteDriver(): Promise<{ name: string; open: (file: string) => OpenDatabase }> {
  try {
    const { DatabaseSync } = (await import('node:sqlite' as string)) as { DatabaseSync: new (file: string) => OpenDatabase };
    return { name: 'node:sqlite', open: (file) => new DatabaseSync(file) };
  } catch {
    const Database = requireDriver('better-sqlite3') as new (file: string) => OpenDatabase;
    return { name: 'better-sqlite3', open: (file) => new Database(file) };
  }
}

/**
 * The kinds of store available here. Call at the top level of a test file: a missing server URL
 * registers a skipping test (or a failing one under CI=true), as `serviceUrl` does.
 */
export async function storeKinds(): Promise<StoreKind[]> {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const kinds: StoreKind[] = [{ name: 'MemoryStore', make: async () => new MemoryStore({ pruneInterval: 0 }) }];

  const sqlite = await sqliteDriver();
  const dir = mkdtempSync(join(tmpdir(), 'plain-session-kinds-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  kinds.push({
    name: `SqliteStore (${sqlite.name})`,
    async make() {
      const db = sqlite.open(join(dir, `${uniqueName('s')}.sqlite`));
      cleanups.push(() => db.close());
      const store = new SqliteStore(db, { pruneInterval: 0 });
      cleanups.push(() => store.close());
      return store;
    },
  });

  const databaseUrl = serviceUrl('DATABASE_URL');
  if (databaseUrl) {
    const { Pool } = requireDriver('pg') as { Pool: new (options: { connectionString: string; max: number }) => PostgresClient & { end(): Promise<void> } };
    const pool = new Pool({ connectionString: databaseUrl, max: 8 });
    const tables: string[] = [];
    cleanups.push(async () => {
      for (const table of tables) await pool.query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    });
    kinds.push({
      name: 'PostgresStore',
      async make() {
        const table = uniqueName('sessions');
        tables.push(table);
        const store = new PostgresStore(pool, { table, pruneInterval: 0 });
        cleanups.push(() => store.close());
        return store;
      },
    });
  }

  const redisUrl = serviceUrl('REDIS_URL');
  if (redisUrl) {
    const client = createClient({ url: redisUrl });
    client.on('error', () => {});
    await client.connect();
    const prefixes: string[] = [];
    cleanups.push(async () => {
      for (const prefix of prefixes) {
        const keys = await client.keys(`${prefix}*`);
        if (keys.length > 0) await client.del(keys);
      }
      await client.close();
    });
    kinds.push({
      name: 'RedisStore',
      async make() {
        const prefix = `${uniqueName('kinds')}:`;
        prefixes.push(prefix);
        return new RedisStore(client as unknown as NodeRedisClient, { prefix });
      },
    });
  }
  return kinds;
}
