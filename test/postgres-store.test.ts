/**
 * PostgresStore against a real PostgreSQL (DATABASE_URL, started by `.ci/services.sh`), through
 * `pg`'s Pool. Each test works in a table of its own, dropped afterwards.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, describe, test } from 'node:test';
import { generateId, hashId } from '../lib/id.js';
import { PostgresStore, type PostgresClient } from '../lib/stores/postgres.js';
import type { SessionRecord } from '../lib/store.js';
import { requireDriver, serviceUrl, uniqueName } from './services.js';
import { runStoreContract } from '../lib/testing.js';
import { decodeData, encodeData } from '../lib/data.js';

interface Pool extends PostgresClient {
  end(): Promise<void>;
}

const url = serviceUrl('DATABASE_URL');
const HOUR = 3_600_000;

/** The migration of the README ("Migrating a table from 0.1"), for a table name. */
function postgresMigration(table: string): string[] {
  return [
    `ALTER TABLE "${table}" ADD COLUMN data_v2 jsonb`,
    `UPDATE "${table}" SET data_v2 = (SELECT COALESCE(jsonb_object_agg(key, value::text), '{}') FROM jsonb_each(data::jsonb))`,
    `ALTER TABLE "${table}" DROP COLUMN data`,
    `ALTER TABLE "${table}" RENAME COLUMN data_v2 TO data`,
    `ALTER TABLE "${table}" ALTER COLUMN data SET NOT NULL`,
  ];
}

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { data: encodeData({ cart: ['apple'] }), createdAt: now, expiresAt: now + HOUR, ...overrides };
}

if (url) {
  const { Pool } = requireDriver('pg') as { Pool: new (options: { connectionString: string; max?: number }) => Pool };
  const pool = new Pool({ connectionString: url, max: 4 });
  const tables: string[] = [];
  after(async () => {
    for (const table of tables) await pool.query(`DROP TABLE IF EXISTS "${table}"`);
    await pool.end();
  });

  /** A store on a table of its own. */
  function setup(t: { after(fn: () => unknown): void }) {
    const table = uniqueName('sessions');
    tables.push(table);
    const store = new PostgresStore(pool, { table, pruneInterval: 0 });
    t.after(() => store.close());
    return { store, table };
  }

  test('sql/postgres-sessions.sql, the migration .ci/services.sh runs, is exactly PostgresStore.schema()', async () => {
    const file = await readFile(new URL('../../sql/postgres-sessions.sql', import.meta.url), 'utf8');
    const statements = file.split('\n').filter((line) => !line.startsWith('--')).join('\n').replaceAll('{{table}}', 'some_table');
    assert.equal(statements.trim(), PostgresStore.schema('some_table').trim());
  });

  runStoreContract('PostgresStore with pg', () => {
    const table = uniqueName('sessions');
    tables.push(table);
    return new PostgresStore(pool, { table });
  }, { listedAs: hashId });

  describe('PostgresStore with pg', () => {
    test('keeps the SHA-256 of the ID, never the ID', async (t) => {
      const { store, table } = setup(t);
      const id = generateId();
      await store.set(id, record({ userId: 'u1' }));
      const { rows } = await pool.query(`SELECT * FROM "${table}"`);
      assert.equal(rows.length, 1);
      assert.equal((rows[0] as { id: string }).id, hashId(id));
      assert.ok(!JSON.stringify(rows).includes(id), 'the raw ID appears nowhere in the table');
    });

    test('prune deletes expired rows in batches and leaves live ones', async (t) => {
      const { store, table } = setup(t);
      await store.get(generateId()); // creates the table
      await pool.query(
        `INSERT INTO "${table}" (id, data, created_at, expires_at)
         SELECT 'dead' || n, '{}', 0, $1 FROM generate_series(1, 2500) AS n`,
        [Date.now() - 1],
      );
      const live = generateId();
      await store.set(live, record());
      assert.equal(await store.prune(), 2500);
      assert.equal(await store.prune(), 0);
      assert.ok(await store.get(live));
    });

    test('creates its table and indexes on first use, under the name given', async (t) => {
      const { store, table } = setup(t);
      const indexes = async () =>
        (await pool.query('SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY indexname', [table])).rows;
      assert.deepEqual(await indexes(), [], 'nothing before first use');
      await store.get(generateId());
      assert.deepEqual(await indexes(), [
        { indexname: `${table}_expires_at` },
        { indexname: `${table}_pkey` },
        { indexname: `${table}_user_id` },
      ]);
      const { rows } = await pool.query(
        'SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
        [table],
      );
      assert.deepEqual(rows, [
        { column_name: 'id', data_type: 'text' },
        { column_name: 'data', data_type: 'jsonb' },
        { column_name: 'created_at', data_type: 'bigint' },
        { column_name: 'expires_at', data_type: 'bigint' },
        { column_name: 'user_id', data_type: 'text' },
      ]);
    });

    test('stores starting together on a new table do not collide', async (t) => {
      // Plain concurrent CREATE TABLE IF NOT EXISTS fails now and then on PostgreSQL's catalog
      // ("duplicate key value violates unique constraint pg_type_typname_nsp_index"), as when a
      // fleet of processes starts on an empty database. Eight warm connections make that likely.
      const wide = new Pool({ connectionString: url, max: 8 });
      t.after(() => wide.end());
      await Promise.all(Array.from({ length: 8 }, () => wide.query('SELECT pg_sleep(0.01)')));
      for (let round = 0; round < 5; round++) {
        const table = uniqueName('sessions');
        tables.push(table);
        const stores = Array.from({ length: 8 }, () => new PostgresStore(wide, { table, pruneInterval: 0 }));
        await Promise.all(stores.map((store) => store.get(generateId())));
        await Promise.all(stores.map((store) => store.close()));
      }
    });

    test('a failed table creation is retried by the next call', async (t) => {
      // A client that is down for its first query, like a database that starts after the app.
      let down = true;
      const flaky: PostgresClient = {
        query: (text, params) => (down ? Promise.reject(new Error('connection refused')) : pool.query(text, params)),
      };
      const table = uniqueName('sessions');
      tables.push(table);
      const store = new PostgresStore(flaky, { table, pruneInterval: 0 });
      t.after(() => store.close());
      await assert.rejects(store.get(generateId()), /connection refused/);
      down = false;
      const id = generateId();
      await store.set(id, record());
      assert.ok(await store.get(id));
    });

    test('createTable: false never runs DDL, and works on the table made from PostgresStore.schema()', async (t) => {
      const table = uniqueName('sessions');
      tables.push(table);
      const seen: string[] = [];
      const watched: PostgresClient = { query: (text, params) => (seen.push(text), pool.query(text, params)) };
      const store = new PostgresStore(watched, { table, pruneInterval: 0, createTable: false });
      t.after(() => store.close());
      await assert.rejects(store.get(generateId()), /does not exist/, 'without the table, the store says so');
      await pool.query(PostgresStore.schema(table)); // the migration, as the table's owner
      const id = generateId();
      await store.set(id, record());
      assert.ok(await store.patch(id, { set: encodeData({ more: 1 }), remove: [] }));
      assert.deepEqual(decodeData((await store.get(id))!.data), { cart: ['apple'], more: 1 });
      assert.equal(await store.prune(), 0);
      assert.deepEqual(seen.filter((sql) => /^\s*(CREATE|ALTER|DROP|DO)\b/i.test(sql)), [], 'no DDL was sent');
    });

    test('a table of plain-session 0.1 is refused with the fix, and the README migration keeps its sessions', async (t) => {
      const table = uniqueName('sessions');
      tables.push(table);
      await pool.query(`CREATE TABLE "${table}" (id TEXT PRIMARY KEY, data TEXT NOT NULL, created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL, user_id TEXT)`);
      const id = generateId();
      const now = Date.now();
      await pool.query(`INSERT INTO "${table}" VALUES ($1, $2, $3, $4, 'u1')`, [hashId(id), '{"cart":["apple"],"n":2,"ok":true,"note":null}', now, now + HOUR]);
      const store = new PostgresStore(pool, { table, pruneInterval: 0 });
      t.after(() => store.close());
      await assert.rejects(store.get(id), /made by plain-session before 0\.2; migrate it/);
      // The statements of the README's "Migrating a table from 0.1", for this table.
      for (const statement of postgresMigration(table)) await pool.query(statement);
      const migrated = await store.get(id);
      assert.deepEqual(decodeData(migrated!.data), { cart: ['apple'], n: 2, ok: true, note: null });
      assert.equal(migrated!.userId, 'u1');
    });

    test('close leaves the pool open', async () => {
      const store = new PostgresStore(pool);
      await store.close();
      assert.deepEqual((await pool.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    });

    test('rejects unsafe table names and bad options', () => {
      for (const table of ['', '1sessions', 'sessions; DROP TABLE users', 'a"b', 'public.sessions', 'x'.repeat(49), 42]) {
        assert.throws(() => new PostgresStore(pool, { table: table as string }), TypeError, `table ${String(table)}`);
      }
      for (const pruneInterval of [-1, NaN, Infinity, '60000', 2 ** 31]) {
        assert.throws(() => new PostgresStore(pool, { pruneInterval: pruneInterval as number }), RangeError);
      }
      assert.throws(() => new PostgresStore({} as PostgresClient), TypeError);
    });
  });
}

// --- As an application role that may only read and write the table ---------------------------------

const appUrl = serviceUrl('DATABASE_URL_APP');
if (appUrl) {
  const { Pool } = requireDriver('pg') as { Pool: new (options: { connectionString: string; max?: number }) => Pool };
  const app = new Pool({ connectionString: appUrl, max: 4 });
  after(() => app.end());
  // The table the migration made for this role (.ci/services.sh: PG_APP_TABLE).
  const table = process.env.PG_APP_TABLE ?? 'sessions';
  runStoreContract('PostgresStore as a least-privilege role (createTable: false)', () => new PostgresStore(app, { table, createTable: false }), { listedAs: hashId });

  describe('PostgresStore as a least-privilege role', () => {
    test('sessions work over HTTP, prune works, and no statement needs more than SELECT, INSERT, UPDATE, DELETE', async (t) => {
      const store = new PostgresStore(app, { table, createTable: false, pruneInterval: 0 });
      t.after(() => store.close());
      const { createSessions } = await import('../lib/sessions.js');
      const { Client, serve } = await import('./helpers.js');
      const sessions = createSessions({ store });
      const served = await serve(sessions.wrap(async (req, res, session) => {
        if (req.url === '/login') {
          await session.regenerate();
          session.bindUser('least');
        }
        session.data.n = Number(session.data.n ?? 0) + 1;
        res.end(String(session.data.n));
      }));
      t.after(() => served.close());
      const client = new Client(served.url);
      assert.equal((await client.get('/')).body, '1');
      assert.equal((await client.get('/login')).body, '2');
      assert.equal((await client.get('/')).body, '3');
      assert.equal(await store.deleteUser('least'), 1);
      assert.equal((await client.get('/')).body, '1', 'logged out everywhere');
      assert.ok((await store.prune()) >= 0);
      // And the store made with createTable left at true would have failed here: the role may not create.
      await assert.rejects(new PostgresStore(app, { table: uniqueName('denied'), pruneInterval: 0 }).get(generateId()), /permission denied/);
    });
  });
}
