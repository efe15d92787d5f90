// Picks the session store for the cart from the STORE environment variable, and opens whatever
// that store needs. The drivers (better-sqlite3, pg, redis) are imported only for the store that
// uses them: plain-session itself depends on none of them, you hand it a client you made.
//
//   STORE=memory    (default) in this process's memory: fast, and gone when the server restarts
//   STORE=cookie    the cart sealed inside the cookie; the server keeps nothing
//                     SESSION_SECRET   32+ random characters; unset, a random one is kept in a file
//   STORE=sqlite    a table in a local SQLite file: survives restarts, one machine
//                     SQLITE_FILE      default: <tmpdir>/plain-session-cart.sqlite
//   STORE=postgres  a table in PostgreSQL: survives restarts, shared by every process and machine
//                     DATABASE_URL     e.g. postgres://user:password@db.example:5432/shop
//                                      (unset: pg's PGHOST, PGUSER, ... or localhost:5432)
//   STORE=redis     keys in Redis, which expires them by itself: shared by every process and machine
//                     REDIS_URL        e.g. redis://:password@cache.example:6379 (unset: localhost:6379)
//   STORE=redis-cluster  the same on a Redis Cluster
//                     REDIS_CLUSTER_URLS  its nodes, comma-separated (redis://10.0.0.1:6379,...)
//
//   SESSION_TABLE   the table for sqlite and postgres (default cart_sessions)
//   SESSION_PREFIX  the key prefix for redis (default cart:)
//
// For example, with PostgreSQL running on this machine:
//   DATABASE_URL=postgres://postgres@localhost:5432/postgres STORE=postgres npm start
// Start the same command twice on different PORTs and both servers share every cart.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as plainSession from 'plain-session';

const { MemoryStore, SqliteStore, PostgresStore, RedisStore, CookieStore } = plainSession;

/**
 * Opens the store named `kind`. Returns `{ store, label, close }`: `label` says where sessions
 * live, and `close()` (after `sessions.close()`) lets go of the database connection, if any, so
 * the process can exit.
 */
export async function makeStore(kind) {
  const table = process.env.SESSION_TABLE || 'cart_sessions';
  switch (kind) {
    case 'memory':
      return { store: new MemoryStore(), label: 'in memory, so a restart empties every cart', close: async () => {} };

    case 'cookie': {
      if (CookieStore === undefined) throw new Error('STORE=cookie: this build of plain-session has no CookieStore yet');
      const secret = process.env.SESSION_SECRET || localSecret();
      return { store: new CookieStore({ secret }), label: 'sealed in the cookie, nothing kept on the server', close: async () => {} };
    }

    case 'sqlite': {
      const file = process.env.SQLITE_FILE || join(tmpdir(), 'plain-session-cart.sqlite');
      const { db, driver } = await openSqlite(file);
      // Several processes on one file take turns writing: a process that finds the file locked waits
      // up to 5 s instead of failing at once. First, before anything else touches the file: even the
      // switch to WAL below takes a lock, and node:sqlite (unlike better-sqlite3) waits for none by
      // default, so processes started together would fail with "database is locked".
      db.exec('PRAGMA busy_timeout = 5000');
      // WAL: readers never wait for the writer, and a crash cannot leave the file half-written.
      db.exec('PRAGMA journal_mode = WAL');
      return {
        store: new SqliteStore(db, { table }),
        label: `in SQLite (${file}, via ${driver}), so carts survive a restart`,
        close: async () => db.close(),
      };
    }

    case 'postgres': {
      const { Pool } = (await import('pg')).default;
      // connectionTimeoutMillis: while the database is down, fail a request after 2 s (503)
      // rather than let it wait.
      const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 5, connectionTimeoutMillis: 2000 });
      // pg reports an idle connection the server dropped (a restart) as an 'error' event; with no
      // listener that would end the process. The pool replaces the connection by itself.
      const onError = quietly('PostgreSQL');
      pool.on('error', onError).on('connect', () => onError.reset());
      return {
        store: new PostgresStore(pool, { table }),
        label: `in PostgreSQL (table ${table}), shared by every server process and kept across restarts`,
        close: () => pool.end(),
      };
    }

    case 'redis':
    case 'redis-cluster': {
      const { createClient, createCluster } = await import('redis');
      // disableOfflineQueue: while Redis is down, commands fail at once (the visitor gets 503)
      // instead of queueing until it is back. The client reconnects by itself.
      const nodes = kind === 'redis-cluster' ? (process.env.REDIS_CLUSTER_URLS ?? '').split(',') : undefined;
      const client = nodes
        ? createCluster({ rootNodes: nodes.map((url) => ({ url })), defaults: { disableOfflineQueue: true } })
        : createClient({ url: process.env.REDIS_URL, disableOfflineQueue: true });
      // Without an 'error' listener, a lost connection would end the process.
      const onError = quietly('Redis');
      client.on('error', onError).on('ready', () => onError.reset());
      await client.connect();
      const prefix = process.env.SESSION_PREFIX || 'cart:';
      return {
        store: new RedisStore(client, { prefix }),
        label: `in Redis${nodes ? ' Cluster' : ''} (keys ${prefix}…), shared by every server process`,
        close: () => client.close(),
      };
    }

    default:
      throw new Error(`STORE=${kind} is not known; use memory, cookie, sqlite, postgres, redis or redis-cluster`);
  }
}

/** SQLite from Node itself when it has it (node:sqlite, Node ≥ 22.5), else better-sqlite3. */
async function openSqlite(file) {
  try {
    const { DatabaseSync } = await import('node:sqlite');
    return { db: new DatabaseSync(file), driver: 'node:sqlite' };
  } catch (error) {
    // Node 20, or 22 before node:sqlite lost its flag: fall through to the npm driver.
    if (error?.code !== 'ERR_UNKNOWN_BUILTIN_MODULE') throw error;
  }
  const { default: Database } = await import('better-sqlite3');
  return { db: new Database(file), driver: 'better-sqlite3' };
}

/**
 * A secret for trying the cookie store on your own machine: made once and kept in a file readable
 * only by you, so restarting the server keeps everyone's cart (a new secret would make every
 * cookie unreadable). In production, set SESSION_SECRET from your secret manager instead.
 */
function localSecret() {
  const file = join(tmpdir(), 'plain-session-cart.secret');
  let secret;
  try {
    secret = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
    secret = randomBytes(32).toString('base64url');
    writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  }
  console.warn(`note: SESSION_SECRET is not set, so the cookies are sealed with a random secret kept in ${file}`);
  return secret;
}

/**
 * An error listener that prints each different message once, not once per reconnect attempt.
 * `reset()` (when the connection is back) lets the next outage be reported again.
 */
function quietly(what) {
  let last;
  const onError = (error) => {
    if (error.message === last) return;
    last = error.message;
    console.error(`${what}: ${error.message} (requests get 503 until it is back)`);
  };
  onError.reset = () => (last = undefined);
  return onError;
}
