/**
 * SqliteStore against real SQLite: better-sqlite3 (built for the Node it was installed with, here
 * Node 20) and the built-in node:sqlite (Node ≥ 22.5). Each driver runs when it loads; a driver
 * expected on this Node version that fails to load is a failure, not a skip.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { generateId, hashId } from '../lib/id.js';
import { SqliteStore, type SqliteDatabase } from '../lib/stores/sqlite.js';
import type { SessionRecord } from '../lib/store.js';
import { requireDriver } from './services.js';
import { runStoreContract } from '../lib/testing.js';
import { decodeData, encodeData } from '../lib/data.js';

/** A handle we can also close, as both drivers' are. */
interface OpenDatabase extends SqliteDatabase {
  close(): void;
}

interface Driver {
  name: string;
  /** Whether this Node version must be able to load it. */
  expected: boolean;
  open(): Promise<(file: string) => OpenDatabase>;
}

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const drivers: Driver[] = [
  {
    name: 'better-sqlite3',
    expected: major === 20, // the version the native module is installed for in CI
    async open() {
      const Database = requireDriver('better-sqlite3') as new (file: string) => OpenDatabase;
      return (file) => new Database(file);
    },
  },
  {
    name: 'node:sqlite',
    expected: major > 22 || (major === 22 && minor >= 13), // unflagged from 22.13
    async open() {
      const { DatabaseSync } = (await import('node:sqlite' as string)) as {
        DatabaseSync: new (file: string) => OpenDatabase;
      };
      return (file) => new DatabaseSync(file);
    },
  },
];

const HOUR = 3_600_000;
function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { data: encodeData({ cart: ['apple'] }), createdAt: now, expiresAt: now + HOUR, ...overrides };
}

for (const driver of drivers) {
  let open: ((file: string) => OpenDatabase) | undefined;
  let loadError: unknown;
  try {
    open = await driver.open();
    open(':memory:').close();
  } catch (error) {
    open = undefined;
    loadError = error;
  }
  if (open === undefined) {
    const reason = `${driver.name} does not load on Node ${process.versions.node}: ${String(loadError)}`;
    if (driver.expected) test(`${driver.name} loads`, () => assert.fail(reason));
    else test(`SqliteStore with ${driver.name}`, { skip: reason }, () => {});
    continue;
  }
  const openDb = open;

  describe(`SqliteStore with ${driver.name}`, () => {
    // Hooks live inside a describe: a top-level one may run before tests registered after an await.
    const contractDbs: OpenDatabase[] = [];
    after(() => contractDbs.forEach((db) => db.close()));
    runStoreContract(`SqliteStore with ${driver.name}`, () => {
      const db = openDb(':memory:');
      contractDbs.push(db);
      return new SqliteStore(db);
    }, { listedAs: hashId });

    /** A store on a fresh in-memory database, closed after the test. */
    function setup(t: { after(fn: () => unknown): void }, options = {}) {
      const db = openDb(':memory:');
      const store = new SqliteStore(db, { pruneInterval: 0, ...options });
      t.after(async () => {
        await store.close();
        db.close();
      });
      return { db, store };
    }

    test('keeps the SHA-256 of the ID, never the ID', async (t) => {
      const { db, store } = setup(t);
      const id = generateId();
      await store.set(id, record({ userId: 'u1' }));
      const rows = db.prepare('SELECT * FROM sessions').all() as { id: string }[];
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.id, hashId(id));
      assert.ok(!JSON.stringify(rows).includes(id), 'the raw ID appears nowhere in the table');
    });

    test('prune deletes expired rows in batches and leaves live ones', async (t) => {
      const { db, store } = setup(t);
      await store.get(generateId()); // creates the table
      const insert = db.prepare('INSERT INTO sessions (id, data, created_at, expires_at) VALUES (?, ?, ?, ?)');
      db.exec('BEGIN');
      for (let i = 0; i < 2500; i++) insert.run(`dead${i}`, '{}', 0, Date.now() - 1);
      db.exec('COMMIT');
      const live = generateId();
      await store.set(live, record());
      assert.equal(await store.prune(), 2500);
      assert.equal(await store.prune(), 0);
      assert.ok(await store.get(live));
    });

    test('creates its table and indexes on first use, under the name given', async (t) => {
      const { db, store } = setup(t, { table: 'web_sessions' });
      const objects = () => db.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'web_sessions'").all();
      assert.deepEqual(objects(), [], 'nothing before first use');
      await store.set(generateId(), record());
      const names = (objects() as { name: string }[]).map((row) => row.name).sort();
      assert.deepEqual(names, ['sqlite_autoindex_web_sessions_1', 'web_sessions', 'web_sessions_expires_at', 'web_sessions_user_id']);
      const plan = db.prepare('EXPLAIN QUERY PLAN SELECT id FROM web_sessions WHERE expires_at <= 5').all();
      assert.match(JSON.stringify(plan), /web_sessions_expires_at/);
    });

    test('createTable: false runs no DDL and works on the table made from SqliteStore.schema()', async () => {
      const db = openDb(':memory:');
      const seen: string[] = [];
      const watched: SqliteDatabase = { prepare: (sql) => (seen.push(sql), db.prepare(sql)), exec: (sql) => (seen.push(sql), db.exec(sql)) };
      db.exec(SqliteStore.schema('migrated'));
      const store = new SqliteStore(watched, { table: 'migrated', pruneInterval: 0, createTable: false });
      const id = generateId();
      await store.set(id, record());
      assert.ok(await store.patch(id, { set: encodeData({ more: 1 }), remove: [] }));
      assert.deepEqual(decodeData((await store.get(id))!.data), { cart: ['apple'], more: 1 });
      assert.deepEqual(seen.filter((sql) => /^\s*(CREATE|ALTER|DROP)\b/i.test(sql)), [], 'no DDL was sent');
      db.close();
    });

    test('a row of plain-session 0.1 reads as no session, and the README migration keeps it', async () => {
      const db = openDb(':memory:');
      db.exec(`CREATE TABLE sessions (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, user_id TEXT)`);
      const id = generateId();
      const now = Date.now();
      db.prepare('INSERT INTO sessions VALUES (?, ?, ?, ?, ?)').run(hashId(id), '{"cart":["a",{"b":true}],"n":2.5,"ok":false,"note":null,"s":"x"}', now, now + HOUR, 'u1');
      const store = new SqliteStore(db, { pruneInterval: 0 });
      assert.equal(await store.get(id), undefined, 'not read as garbage');
      // The statement of the README's "Migrating a table from 0.1".
      db.exec(`UPDATE sessions SET data = (SELECT json_group_object(key, CASE type WHEN 'true' THEN 'true'
        WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' ELSE json_quote(value) END || '') FROM json_each(sessions.data))`);
      const migrated = await store.get(id);
      assert.deepEqual(decodeData(migrated!.data), { cart: ['a', { b: true }], n: 2.5, ok: false, note: null, s: 'x' });
      assert.equal(migrated!.userId, 'u1');
      db.close();
    });

    test('a second store on the same file sees the sessions (restart)', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'sqlite-store-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'sessions.db');
      const id = generateId();
      const stored = record({ userId: 'u1' });
      const first = openDb(file);
      await new SqliteStore(first, { pruneInterval: 0 }).set(id, stored);
      first.close();
      const second = openDb(file);
      const store = new SqliteStore(second, { pruneInterval: 0 });
      assert.deepEqual(await store.get(id), stored);
      await store.close();
      second.close();
    });

    test('close stops the timer and leaves the database open', async () => {
      const db = openDb(':memory:');
      const store = new SqliteStore(db);
      await store.close();
      assert.deepEqual({ ...(db.prepare('SELECT 1 AS one').get() as object) }, { one: 1 });
      db.close();
    });

    test('rejects unsafe table names and bad options', () => {
      const db = openDb(':memory:');
      for (const table of ['', '1sessions', 'sessions; DROP TABLE users', 'a"b', 'main.sessions', 'x'.repeat(49), 42]) {
        assert.throws(() => new SqliteStore(db, { table: table as string }), TypeError, `table ${String(table)}`);
      }
      for (const pruneInterval of [-1, NaN, Infinity, '60000']) {
        assert.throws(() => new SqliteStore(db, { pruneInterval: pruneInterval as number }), RangeError);
      }
      assert.throws(() => new SqliteStore({} as SqliteDatabase), TypeError);
      db.close();
    });
  });
}

describe('SqliteStore prune timer', () => {
  test('never keeps the process alive: a process that only made a store with its timer on exits by itself', async (t) => {
    // README and lib/stores/sql.ts: the SQL stores sweep on an unref()ed timer. The child makes a
    // store and does nothing else; with a short interval it first lets a few sweeps run (and be
    // rescheduled) while something else keeps it alive, then must still exit.
    const useBetter = major === 20;
    const open = await drivers[useBetter ? 0 : 1]!.open().catch(() => undefined);
    if (open === undefined) return t.skip('no SQLite driver on this Node');
    const storeUrl = new URL('../lib/stores/sqlite.js', import.meta.url).href;
    const openDb = useBetter
      ? `const Database = (await import('node:module')).createRequire(${JSON.stringify(fileURLToPath(import.meta.url))})('better-sqlite3');
         const db = new Database(':memory:');`
      : `const { DatabaseSync } = await import('node:sqlite');
         const db = new DatabaseSync(':memory:');`;
    const scripts = {
      'the default interval, nothing else': `${openDb}
        new SqliteStore(db);`,
      'a 50 ms interval, after sweeps ran while a timer of its own kept the process up': `${openDb}
        const store = new SqliteStore(db, { pruneInterval: 50 });
        await store.set('x'.repeat(43), { data: {}, createdAt: 0, expiresAt: Date.now() - 1 });
        setTimeout(() => {}, 400);
        process.on('exit', () => console.log('rows left', db.prepare('SELECT count(*) AS n FROM sessions').get().n));`,
    };
    for (const [name, body] of Object.entries(scripts)) {
      const script = `import { SqliteStore } from ${JSON.stringify(storeUrl)};\n${body}`;
      const started = Date.now();
      const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', script]);
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
      clearTimeout(killer);
      assert.equal(signal, null, `${name}: the process did not exit by itself within 5 s (killed after ${Date.now() - started} ms)`);
      assert.equal(code, 0, `${name}: ${output}`);
      if (name.startsWith('a 50 ms')) assert.match(output, /rows left 0/, 'the sweeps did run before the process exited');
    }
  });

  test('sweeps within ±20% of the interval, and stops on close', async (t) => {
    const open = await drivers[major === 20 ? 0 : 1]!.open().catch(() => undefined);
    if (open === undefined) return t.skip('no SQLite driver on this Node');
    const db = open(':memory:');
    t.after(() => db.close());
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    const count = () => (db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n;

    for (const [random, earliest] of [
      [0, 800],
      [0.9999, 1200],
    ] as const) {
      t.mock.method(Math, 'random', () => random);
      t.mock.timers.enable({ apis: ['setTimeout'] });
      const store = new SqliteStore(db, { pruneInterval: 1000 });
      await store.set(generateId(), record({ expiresAt: Date.now() - 1 }));
      assert.equal(count(), 1);
      t.mock.timers.tick(earliest - 2);
      await tick();
      assert.equal(count(), 1, `no sweep before ${earliest} ms`);
      t.mock.timers.tick(2);
      await tick();
      assert.equal(count(), 0, `swept at ${earliest} ms`);
      await store.close();
      await store.set(generateId(), record({ expiresAt: Date.now() - 1 }));
      t.mock.timers.tick(10_000);
      await tick();
      assert.equal(count(), 1, 'no sweep after close');
      db.exec('DELETE FROM sessions');
      t.mock.timers.reset();
      t.mock.reset();
    }
  });
});
