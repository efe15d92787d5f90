/**
 * The cart example on every store that keeps sessions beyond one process, run the way a reader
 * runs it (`STORE=sqlite node examples/cart/server.js`): add items, look at the cart, stop the
 * server, start a new one, and the visitor's cart is still there. This is the tutorial's point
 * about in-memory sessions, turned around (test/examples.test.ts shows the memory store losing it).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createClient } from 'redis';
import { hashId } from '../lib/id.js';
import * as plainSession from '../lib/index.js';
import { Client } from './helpers.js';
import { runExample } from './example-runner.js';
import { sqliteDriver } from './store-kinds.js';
import { requireDriver, serviceUrl, uniqueName } from './services.js';

const CART = 'examples/cart/server.js';
const redisUrl = serviceUrl('REDIS_URL');
const databaseUrl = serviceUrl('DATABASE_URL');
const dir = mkdtempSync(join(tmpdir(), 'plain-session-cart-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
  signal: AbortSignal.timeout(5000),
});

const itemsIn = (html: string, item: string) => html.match(new RegExp(`value="${item}"`, 'g'))?.length ?? 0;
const countIn = (html: string) => Number(/Cart \(<span id="count">(\d+)<\/span>\)/.exec(html)?.[1]);

interface Case {
  env: Record<string, string>;
  /** What the example must say about where sessions live. */
  label: RegExp;
  /** Checks what the store holds for the visitor's cookie, after the first server stopped. */
  atRest?(cookie: string): Promise<void>;
}

/** Fills a cart on one server, restarts it, and finds the cart again on the new one. */
async function cartSurvivesRestart({ env, label, atRest }: Case): Promise<void> {
  let app = await runExample(CART, env);
  const client = new Client(app.url);
  try {
    assert.match(app.output(), label);
    const added = await client.request('/add', form({ item: 'apple' }));
    assert.equal(added.status, 303);
    assert.equal(added.headers.get('location'), '/');
    await client.request('/add', form({ item: 'cherry' }));
    await client.request('/add', form({ item: 'apple' }));
    assert.equal((await client.request('/remove', form({ item: 'cherry' }))).status, 303);
    const cart = (await client.get('/cart')).body;
    assert.deepEqual([itemsIn(cart, 'apple'), itemsIn(cart, 'cherry')], [2, 0]);
    assert.equal(countIn((await client.get('/')).body), 2);
  } finally {
    await app.stop();
  }
  assert.equal(app.child.exitCode, 0, `a clean exit on SIGTERM, the store's client closed:\n${app.output()}`);
  const cookie = client.jar.get('cart');
  assert.ok(cookie, 'the cart has a cookie');
  await atRest?.(cookie);

  app = await runExample(CART, env);
  try {
    const after = new Client(app.url);
    after.jar.set('cart', cookie);
    const cart = (await after.get('/cart')).body;
    assert.equal(itemsIn(cart, 'apple'), 2, 'the cart survived the restart');
    await after.request('/add', form({ item: 'banana' }));
    assert.equal(countIn((await after.get('/')).body), 3, 'and goes on from there');
    assert.equal(countIn((await new Client(app.url).get('/')).body), 0, 'another visitor has their own cart');
  } finally {
    await app.stop();
  }
}

describe('the cart example keeps carts across a restart', () => {
  test('STORE=sqlite, in a file', async () => {
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    const builtIn = major > 22 || (major === 22 && minor >= 13); // node:sqlite without a flag
    const file = join(dir, 'cart.sqlite');
    await cartSurvivesRestart({
      env: { STORE: 'sqlite', SQLITE_FILE: file },
      label: new RegExp(`SQLite \\(${file.replace(/[.\\]/g, '\\$&')}, via ${builtIn ? 'node:sqlite' : 'better-sqlite3'}\\)`),
    });
  });

  if (databaseUrl) {
    test('STORE=postgres, in a table keyed by the hashed ID', async () => {
      const table = uniqueName('cart');
      const { Pool } = requireDriver('pg') as {
        Pool: new (options: { connectionString: string }) => { query(sql: string): Promise<{ rows: { id: string }[] }>; end(): Promise<void> };
      };
      const pool = new Pool({ connectionString: databaseUrl });
      try {
        await cartSurvivesRestart({
          env: { STORE: 'postgres', DATABASE_URL: databaseUrl, SESSION_TABLE: table },
          label: new RegExp(`PostgreSQL \\(table ${table}\\)`),
          async atRest(cookie) {
            const ids = (await pool.query(`SELECT id FROM "${table}"`)).rows.map((row) => row.id);
            assert.deepEqual(ids, [hashId(cookie)], 'one row, under the hash of the ID, never the ID itself');
          },
        });
      } finally {
        await pool.query(`DROP TABLE IF EXISTS "${table}"`);
        await pool.end();
      }
    });
  }

  if (redisUrl) {
    test('STORE=redis, under the hashed ID', async () => {
      const prefix = `${uniqueName('cart')}:`;
      const redis = createClient({ url: redisUrl });
      redis.on('error', () => {});
      await redis.connect();
      try {
        await cartSurvivesRestart({
          env: { STORE: 'redis', REDIS_URL: redisUrl, SESSION_PREFIX: prefix },
          label: new RegExp(`Redis \\(keys ${prefix}`),
          async atRest(cookie) {
            assert.deepEqual(await redis.keys(`${prefix}*`), [prefix + hashId(cookie)]);
          },
        });
      } finally {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(keys);
        await redis.close();
      }
    });
  }

  const cookieSkip = 'CookieStore' in plainSession ? false : 'lib/index.ts does not export CookieStore yet';
  test('STORE=cookie without SESSION_SECRET: a secret kept in a file of tmpdir, readable only by its owner', { skip: cookieSkip }, async () => {
    const home = mkdtempSync(join(dir, 'tmp-')); // the example's os.tmpdir(), through TMPDIR
    await cartSurvivesRestart({
      env: { STORE: 'cookie', SESSION_SECRET: '', TMPDIR: home },
      label: /SESSION_SECRET is not set[^\n]*plain-session-cart\.secret/,
      async atRest(cookie) {
        assert.doesNotMatch(cookie, /apple/, 'the cart is sealed, not readable');
      },
    });
    assert.equal(statSync(join(home, 'plain-session-cart.secret')).mode & 0o777, 0o600);
  });
});

test('an unknown STORE stops the example with a message naming the known ones', async () => {
  await assert.rejects(runExample(CART, { STORE: 'mongo' }), /STORE=mongo is not known; use memory, cookie, sqlite, postgres, redis or redis-cluster/);
});

// Several processes started together on one new file (test/processes.test.ts) once failed here on
// Node 24: node:sqlite waits for no lock by default, and the switch to WAL takes one, so a process
// that met another's lock died with "database is locked" before `busy_timeout` was set.
test('STORE=sqlite: a server that finds its file locked at startup waits for the lock, then serves', async () => {
  const file = join(dir, 'locked.sqlite');
  const sqlite = await sqliteDriver();
  const db = sqlite.open(file);
  db.exec('BEGIN EXCLUSIVE'); // what another process in the middle of a write holds
  let locked = true;
  const unlock = () => {
    if (locked) db.exec('COMMIT');
    locked = false;
  };
  const timer = setTimeout(unlock, 500);
  try {
    const app = await runExample(CART, { STORE: 'sqlite', SQLITE_FILE: file });
    try {
      assert.equal(locked, false, 'the server started only once the lock was gone');
      assert.equal((await new Client(app.url).get('/')).status, 200);
    } finally {
      await app.stop();
    }
  } finally {
    clearTimeout(timer);
    unlock();
    db.close();
  }
});
