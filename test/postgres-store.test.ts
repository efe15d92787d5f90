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

    test('prune skips rows another transaction has locked (FOR UPDATE SKIP LOCKED): it neither waits nor fails, and takes them later', async (t) => {
      // README/postgres.ts: rows are chosen "with FOR UPDATE SKIP LOCKED", so processes pruning at
      // once "take different rows instead of waiting for each other". Another process's sweep is
      // stood in for by a transaction that holds a lock on some expired rows while this one prunes.
      const { store, table } = setup(t);
      await store.get(generateId()); // creates the table
      await pool.query(
        `INSERT INTO "${table}" (id, data, created_at, expires_at)
         SELECT kind || n, '{}', 0, $1 FROM generate_series(1, 5) AS n, (VALUES ('locked'), ('free')) AS kinds(kind)`,
        [Date.now() - 1],
      );
      const live = generateId();
      await store.set(live, record());
      const { Client } = requireDriver('pg') as { Client: new (options: { connectionString: string }) => Pool & { connect(): Promise<void> } };
      const other = new Client({ connectionString: url });
      await other.connect();
      await other.query('BEGIN');
      const locked = await other.query(`SELECT id FROM "${table}" WHERE id LIKE 'locked%' FOR UPDATE`);
      assert.equal(locked.rows.length, 5);
      let ended = false;
      const endTransaction = async () => {
        if (!ended) await other.query('COMMIT');
        ended = true;
      };
      // A prune stuck on the locks (the failure) is let go before the pool closes.
      t.after(async () => {
        await endTransaction().catch(() => {});
        await other.end();
      });
      const started = Date.now();
      const outcome = await Promise.race([
        store.prune(),
        new Promise<'blocked'>((resolve) => setTimeout(resolve, 3000, 'blocked').unref()),
      ]);
      if (outcome === 'blocked') await endTransaction();
      assert.notEqual(outcome, 'blocked', 'prune waited on rows another transaction holds');
      assert.equal(outcome, 5, 'the unlocked expired rows went');
      assert.ok(Date.now() - started < 1000, `prune took ${Date.now() - started} ms`);
      const left = async () => (await pool.query(`SELECT id FROM "${table}" ORDER BY id`)).rows.map((row) => (row as { id: string }).id);
      assert.deepEqual(await left(), [...Array.from({ length: 5 }, (_, i) => `locked${i + 1}`), hashId(live)].sort());
      await endTransaction();
      assert.equal(await store.prune(), 5, 'once the lock is gone, the rest go');
      assert.deepEqual(await left(), [hashId(live)]);
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
      const watched: PostgresClient = { query: (text, params) => (seen.push(typeof text === 'string' ? text : text.text), pool.query(text, params)) };
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

    test('every query is a named prepared statement, prepared once per connection', async (t) => {
      const { Client } = requireDriver('pg') as { Client: new (options: { connectionString: string }) => Pool & { connect(): Promise<void> } };
      const client = new Client({ connectionString: url });
      await client.connect();
      t.after(() => client.end());
      const table = uniqueName('sessions');
      tables.push(table);
      const store = new PostgresStore(client, { table, pruneInterval: 0 });
      t.after(() => store.close());
      const id = generateId();
      for (let i = 0; i < 3; i++) {
        await store.set(id, record());
        await store.get(id);
        await store.patch(id, { set: encodeData({ n: i }), remove: [] });
        await store.touch(id, Date.now() + HOUR);
      }
      await store.idsOfUser('u');
      await store.deleteUser('u');
      await store.prune();
      await store.delete(id);
      const { rows } = await client.query('SELECT name FROM pg_prepared_statements WHERE name LIKE $1', [`%${table}`]);
      const names = (rows as { name: string }[]).map((row) => row.name).sort();
      assert.deepEqual(names, ['delete', 'deleteUser', 'get', 'ids', 'patch', 'prune', 'set', 'touch'].map((name) => `ps_${name}_${table}`).sort());
      for (const name of names) assert.ok(Buffer.byteLength(name) <= 63, `${name} fits PostgreSQL's 63 bytes`);
      // The longest table name we accept still gives eight distinct names within 63 bytes.
      const longest = 'x'.repeat(48);
      tables.push(longest);
      const long = new PostgresStore(client, { table: longest, pruneInterval: 0 });
      t.after(() => long.close());
      await long.set(id, record());
      await long.patch(id, { set: encodeData({ n: 1 }), remove: [] });
      await long.deleteUser('u');
      const prepared = (await client.query('SELECT name FROM pg_prepared_statements WHERE name LIKE $1', [`%${longest}`])).rows;
      assert.equal(prepared.length, 3);
    });

    test('preparedStatements: false works with a client that only takes (text, params)', async (t) => {
      const textOnly: PostgresClient = {
        query(text, params) {
          if (typeof text !== 'string') throw new TypeError('this client takes only (text, params)');
          return pool.query(text, params);
        },
      };
      const table = uniqueName('sessions');
      tables.push(table);
      const store = new PostgresStore(textOnly, { table, pruneInterval: 0, preparedStatements: false });
      t.after(() => store.close());
      const id = generateId();
      await store.set(id, record());
      assert.ok(await store.patch(id, { set: encodeData({ more: 1 }), remove: [] }));
      assert.deepEqual(decodeData((await store.get(id))!.data), { cart: ['apple'], more: 1 });
      assert.throws(() => new PostgresStore(pool, { preparedStatements: 'no' as never }), /preparedStatements must be true or false/);
      // The default sends the prepared form, which such a client refuses: hence the option.
      const prepared = new PostgresStore(textOnly, { table, pruneInterval: 0 });
      t.after(() => prepared.close());
      await assert.rejects(prepared.get(id), /takes only \(text, params\)/);
    });

    /**
     * Saves that move no indexed column are HOT updates (heap-only tuples: no index entry written),
     * as pg_stat_user_tables counts them. One connection does the work, so its statistics can be
     * flushed before they are read (pg_stat_force_next_flush, PostgreSQL 15).
     */
    async function hotUpdates(client: Pool, table: string, work: () => Promise<void>): Promise<{ updates: number; hot: number }> {
      const read = async () => {
        await client.query('SELECT pg_stat_force_next_flush()');
        const { rows } = await client.query('SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = $1', [table]);
        const row = rows[0] as { n_tup_upd: string; n_tup_hot_upd: string } | undefined;
        return { updates: Number(row?.n_tup_upd ?? 0), hot: Number(row?.n_tup_hot_upd ?? 0) };
      };
      const before = await read();
      await work();
      const after = await read();
      return { updates: after.updates - before.updates, hot: after.hot - before.hot };
    }

    test('a save that moves no indexed column is a HOT update; one that moves the expiry is not', async (t) => {
      const { Client } = requireDriver('pg') as { Client: new (options: { connectionString: string }) => Pool & { connect(): Promise<void> } };
      const client = new Client({ connectionString: url });
      await client.connect();
      t.after(() => client.end());
      const run = async (table: string) => {
        tables.push(table);
        const store = new PostgresStore(client, { table, pruneInterval: 0, createTable: false });
        t.after(() => store.close());
        // 400 sessions fill several pages; each is then saved three times, as requests would.
        const ids = Array.from({ length: 400 }, () => generateId());
        for (const id of ids) await store.set(id, record({ data: encodeData({ views: 1 }) }));
        const saves = await hotUpdates(client, table, async () => {
          for (let round = 2; round <= 4; round++) {
            for (const id of ids) assert.ok(await store.patch(id, { set: encodeData({ views: round }), remove: [] }));
          }
        });
        const renewals = await hotUpdates(client, table, async () => {
          for (const id of ids.slice(0, 50)) await store.patch(id, { set: encodeData({ views: 5 }), remove: [], expiresAt: Date.now() + 2 * HOUR });
        });
        return { saves, renewals };
      };
      const table = uniqueName('sessions');
      await client.query(PostgresStore.schema(table));
      const { saves, renewals } = await run(table);
      assert.deepEqual(saves, { updates: 1200, hot: 1200 }, 'every save that keeps the expiry is HOT');
      assert.deepEqual(renewals, { updates: 50, hot: 0 }, 'a save that moves the (indexed) expiry is not');
      // Without the free room on each page (fillfactor 100), the first save of a full page is not HOT.
      const full = uniqueName('sessions');
      await client.query(PostgresStore.schema(full).replace('fillfactor = 90', 'fillfactor = 100'));
      const packed = await run(full);
      assert.equal(packed.saves.updates, 1200);
      assert.ok(packed.saves.hot < 1200, `fillfactor 100: ${packed.saves.hot} of 1200 saves were HOT`);
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
