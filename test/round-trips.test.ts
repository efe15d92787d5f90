/**
 * Round trips to the store, counted per request on every store (issue #15): a request that only
 * reads its session makes exactly one, one that changes it makes two (the read, then one atomic
 * patch), a new session one (the insert), and a visitor without a session none.
 *
 * Each store runs on a wrapped client that counts what reaches the database: the MemoryStore's
 * method calls, SQLite's statement executions (`run`, `get`, `all`, `exec`), PostgreSQL's `query`
 * calls (pg), Redis's commands (node-redis's `sendCommand`, ioredis's `call`). The requests are
 * real HTTP requests through `wrap`, one at a time; a response ends only once its save is done,
 * so the count is complete when the answer arrives.
 *
 * The exceptions, each stated where it is tested:
 * - The SQL stores create their table on their first call (one more statement, once per store).
 * - Redis keeps a user's sessions in a sorted set scored by expiry, another key (in a cluster, on
 *   another node), which no script may touch together with the session: a session bound to a
 *   user costs one more command when it is stored anew (a login) and when its expiry moves (at
 *   most once per renewal step: 1% of the idle timeout, at most a minute; 18 s by default).
 * - A login (`regenerate`) also deletes the old ID: one more round trip, on every store.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { createSessions } from '../lib/sessions.js';
import type { SessionPatch, SessionRecord, Store } from '../lib/store.js';
import { MemoryStore } from '../lib/stores/memory.js';
import { PostgresStore, type PostgresClient } from '../lib/stores/postgres.js';
import { RedisStore, type IoRedisClient, type NodeRedisClient } from '../lib/stores/redis.js';
import { SqliteStore, type SqliteDatabase, type SqliteStatement } from '../lib/stores/sqlite.js';
import { Client, serve } from './helpers.js';
import { requireDriver, serviceUrl, uniqueName } from './services.js';
import { sqliteDriver } from './store-kinds.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

interface Counted {
  name: string;
  /** The store on the counting client. */
  store: Store;
  /** The same sessions through a client that is not counted, to set up a test's conditions. */
  quiet: Store;
  /** Round trips so far. */
  trips(): number;
  /** Round trips a new store makes once, on its first call, before the call's own. */
  firstCall: number;
  /** Extra commands when a session bound to a user is stored anew or its expiry moves (see the top). */
  userIndex: number;
}

/** A MemoryStore whose calls are counted: each one is the in-process equivalent of a round trip. */
class CountingStore implements Store {
  calls = 0;
  constructor(readonly inner: MemoryStore) {}
  get(id: string): Promise<SessionRecord | undefined> {
    this.calls++;
    return this.inner.get(id);
  }
  set(id: string, record: SessionRecord): Promise<void> {
    this.calls++;
    return this.inner.set(id, record);
  }
  patch(id: string, patch: SessionPatch): Promise<boolean> {
    this.calls++;
    return this.inner.patch(id, patch);
  }
  touch(id: string, expiresAt: number): Promise<void> {
    this.calls++;
    return this.inner.touch(id, expiresAt);
  }
  delete(id: string): Promise<boolean | void> {
    this.calls++;
    return this.inner.delete(id);
  }
}

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function kinds(): Promise<Counted[]> {
  const list: Counted[] = [];

  const memory = new MemoryStore({ pruneInterval: 0 });
  const counting = new CountingStore(memory);
  list.push({ name: 'MemoryStore (store calls)', store: counting, quiet: memory, trips: () => counting.calls, firstCall: 0, userIndex: 0 });

  const sqlite = await sqliteDriver();
  const dir = mkdtempSync(join(tmpdir(), 'plain-session-trips-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const db = sqlite.open(join(dir, 'sessions.sqlite'));
  cleanups.push(() => db.close());
  let executions = 0;
  const counted = (statement: SqliteStatement): SqliteStatement => ({
    run: (...params) => (executions++, statement.run(...params)),
    get: (...params) => (executions++, statement.get(...params)),
    all: (...params) => (executions++, statement.all(...params)),
  });
  const countingDb: SqliteDatabase = {
    prepare: (sql) => counted(db.prepare(sql)),
    exec: (sql) => (executions++, db.exec(sql)),
  };
  const sqliteStore = new SqliteStore(countingDb, { pruneInterval: 0 });
  const sqliteQuiet = new SqliteStore(db, { pruneInterval: 0, createTable: false });
  cleanups.push(() => sqliteStore.close(), () => sqliteQuiet.close());
  list.push({ name: `SqliteStore, ${sqlite.name} (statement executions)`, store: sqliteStore, quiet: sqliteQuiet, trips: () => executions, firstCall: 1, userIndex: 0 });

  const databaseUrl = serviceUrl('DATABASE_URL');
  if (databaseUrl) {
    const { Pool } = requireDriver('pg') as { Pool: new (options: { connectionString: string; max: number }) => PostgresClient & { end(): Promise<void> } };
    const pool = new Pool({ connectionString: databaseUrl, max: 4 });
    const table = uniqueName('trips');
    cleanups.push(async () => {
      await pool.query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    });
    let queries = 0;
    const countingPool: PostgresClient = { query: (text, params) => (queries++, pool.query(text, params)) };
    const postgres = new PostgresStore(countingPool, { table, pruneInterval: 0 });
    const quiet = new PostgresStore(pool, { table, pruneInterval: 0, createTable: false });
    cleanups.push(() => postgres.close(), () => quiet.close());
    list.push({ name: 'PostgresStore, pg (query calls)', store: postgres, quiet, trips: () => queries, firstCall: 1, userIndex: 0 });
  }

  const redisUrl = serviceUrl('REDIS_URL');
  if (redisUrl) {
    const client = createClient({ url: redisUrl });
    client.on('error', () => {});
    await client.connect();
    const prefix = `${uniqueName('trips')}:`;
    cleanups.push(async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(keys);
      await client.close();
    });
    let commands = 0;
    const raw = client as unknown as NodeRedisClient;
    const countingClient: NodeRedisClient = { sendCommand: (args) => (commands++, raw.sendCommand(args)) };
    list.push({
      name: 'RedisStore, node-redis (sendCommand calls)',
      store: new RedisStore(countingClient, { prefix }),
      quiet: new RedisStore(raw, { prefix }),
      trips: () => commands,
      firstCall: 0,
      userIndex: 1,
    });

    const io = new Redis(redisUrl, { lazyConnect: true });
    await io.connect();
    const ioPrefix = `${uniqueName('trips-io')}:`;
    cleanups.push(async () => {
      const keys = await io.keys(`${ioPrefix}*`);
      if (keys.length > 0) await io.del(...keys);
      await io.quit();
    });
    let ioCommands = 0;
    const ioClient: IoRedisClient = { call: (command, ...args) => (ioCommands++, io.call(command, ...args)) };
    list.push({
      name: 'RedisStore, ioredis (call calls)',
      store: new RedisStore(ioClient, { prefix: ioPrefix }),
      quiet: new RedisStore(io as unknown as IoRedisClient, { prefix: ioPrefix }),
      trips: () => ioCommands,
      firstCall: 0,
      userIndex: 1,
    });
  }
  return list;
}

for (const kind of await kinds()) {
  describe(`round trips per request: ${kind.name}`, () => {
    // A one-hour idle timeout renews by steps of 36 s (1%); tests move the stored expiry back
    // (through the uncounted store) to stand for a visitor who comes back after such a step.
    const sessions = createSessions<{ views: number }>({ store: kind.store, idleTimeout: HOUR });
    const app = sessions.wrap(async (req, res, session) => {
      if (req.url === '/login') {
        await session.regenerate();
        session.bindUser('user-1');
      }
      if (req.url === '/write' || req.url === '/login') session.data.views = (session.data.views ?? 0) + 1;
      res.end(String(session.data.views ?? 0));
    });
    let server: Awaited<ReturnType<typeof serve>>;
    const visitor = () => new Client(server.url);

    /** The round trips of one request, and its answer. */
    async function count(client: Client, path: string): Promise<{ trips: number; body: string }> {
      const before = kind.trips();
      const { body, status } = await client.get(path);
      assert.equal(status, 200);
      return { trips: kind.trips() - before, body };
    }

    /** Moves the stored expiry back by two renewal steps, as if the visitor had been away two minutes. */
    async function awayTwoMinutes(client: Client): Promise<void> {
      await kind.quiet.touch(client.jar.get('sid')!, Date.now() + HOUR - 2 * MINUTE);
    }

    test('setup', async () => {
      server = await serve(app);
    });

    test('a visitor without a cookie whose session stays empty: none', async () => {
      assert.deepEqual(await count(visitor(), '/read'), { trips: 0, body: '0' });
    });

    test(`a new session: one insert${kind.firstCall ? ' (and, on the store\'s first call, the table made once)' : ''}`, async () => {
      const client = visitor();
      assert.deepEqual(await count(client, '/write'), { trips: 1 + kind.firstCall, body: '1' });
      assert.deepEqual(await count(visitor(), '/write'), { trips: 1, body: '1' }, 'the table is made once');
    });

    test('a request that only reads: one read, whatever the session holds', async () => {
      const client = visitor();
      await client.get('/write');
      for (let i = 0; i < 3; i++) assert.deepEqual(await count(client, '/read'), { trips: 1, body: '1' });
    });

    test('a request that changes the session: one read and one patch', async () => {
      const client = visitor();
      await client.get('/write');
      for (const views of [2, 3, 4]) assert.deepEqual(await count(client, '/write'), { trips: 2, body: String(views) });
    });

    test('a read after a renewal step: the read and one touch, then reads alone again', async () => {
      const client = visitor();
      await client.get('/write');
      await awayTwoMinutes(client);
      assert.deepEqual(await count(client, '/read'), { trips: 2, body: '1' });
      assert.deepEqual(await count(client, '/read'), { trips: 1, body: '1' }, 'no touch until the next step');
    });

    test('a change after a renewal step: the new expiry rides in the one patch', async () => {
      const client = visitor();
      await client.get('/write');
      await awayTwoMinutes(client);
      assert.deepEqual(await count(client, '/write'), { trips: 2, body: '2' });
      const record = await kind.quiet.get(client.jar.get('sid')!);
      assert.ok(record !== undefined && record.expiresAt > Date.now() + HOUR - MINUTE, 'the expiry moved');
    });

    test('a cookie that is not an ID: none; an ID the store does not hold: one read, no write', async () => {
      const junk = visitor();
      junk.jar.set('sid', 'not-an-id');
      assert.deepEqual(await count(junk, '/read'), { trips: 0, body: '0' });
      const unknown = visitor();
      unknown.jar.set('sid', 'A'.repeat(43));
      assert.deepEqual(await count(unknown, '/read'), { trips: 1, body: '0' });
    });

    const extra = kind.userIndex ? ` (+${kind.userIndex}: the user's set)` : '';
    test(`a login: the read, the old ID deleted, the new one inserted${extra}`, async () => {
      const client = visitor();
      await client.get('/write');
      assert.deepEqual(await count(client, '/login'), { trips: 3 + kind.userIndex, body: '2' });
    });

    test(`a session bound to a user: reads 1, changes 2; when the expiry moves${extra}`, async () => {
      const client = visitor();
      await client.get('/login');
      assert.deepEqual(await count(client, '/read'), { trips: 1, body: '1' });
      assert.deepEqual(await count(client, '/write'), { trips: 2, body: '2' });
      await awayTwoMinutes(client);
      assert.deepEqual(await count(client, '/write'), { trips: 2 + kind.userIndex, body: '3' });
      await awayTwoMinutes(client);
      assert.deepEqual(await count(client, '/read'), { trips: 2 + kind.userIndex, body: '3' });
    });

    test('teardown', async () => {
      await server.close();
      await sessions.close();
    });
  });
}
