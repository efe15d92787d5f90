// The session layers under test, each written the way its README shows, on plain node:http.
//
// Every variant serves the same tiny app: a view counter. What the app does with the session
// depends on the scenario (see `modeFor`):
//   'modify'  reads `views`, adds one, saves it and answers the new count;
//   'read'    answers `views` without changing the session;
//   'none'    answers "ok" and never touches the session.
// `GET /setup` always modifies: the harness uses it to create the session a returning visitor has.
// `GET /peek` always reads: the harness uses it to check a count without changing it.
//
// A variant is `async (scenario) => ({ handler(req, res), close?() })`. A variant that cannot run
// here (plain-session not built yet, no REDIS_URL or DATABASE_URL) throws a `Skip` with the reason.
//
// Database variants come in pairs on the same server: plain-session's store and express-session's
// store for that database, each with its own key prefix or table. Each clears its keys or table
// when it starts (a run that was killed leaves nothing behind for the next) and when it closes.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlain } from '../lib/plain.js';

const require = createRequire(import.meta.url);

/** One secret for every library, longer than the 32 characters they all ask for. */
export const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/**
 * many-modify, many-read: many visitors, N sessions made up front, each request names the next one.
 * returning-modify, returning-read: one returning visitor whose requests all carry the same cookie.
 * anonymous: no cookie, the session is never touched. new: no cookie, a session made every request.
 */
export const SCENARIOS = ['many-modify', 'many-read', 'returning-modify', 'returning-read', 'anonymous', 'new'];

/** The scenarios with many visitors, each holding its own session. */
export const isManyVisitors = (scenario) => scenario.startsWith('many-');

/** A variant that cannot run in this environment; the reason is reported, not thrown further. */
export class Skip extends Error {}

/** What the app does with the session for a request to `url` in `scenario`. */
export function modeFor(scenario, url) {
  if (url === '/setup') return 'modify';
  if (url === '/peek') return 'read';
  if (scenario === 'returning-read' || scenario === 'many-read') return 'read';
  if (scenario === 'anonymous') return 'none';
  return 'modify'; // 'returning-modify', 'many-modify', and 'new' (no cookie: every request creates a session)
}

function send(res, body) {
  res.setHeader('Content-Type', 'text/plain');
  res.end(body);
}

function fail(res, error) {
  console.error(error);
  if (!res.headersSent) res.statusCode = 500;
  res.end();
}

/** The view counter written against an express-style `req.session` (express-session, cookie-session). */
function expressStyleApp(scenario) {
  return (req, res) => {
    const mode = modeFor(scenario, req.url);
    if (mode === 'none') return send(res, 'ok');
    if (mode === 'read') return send(res, String(req.session.views ?? 0));
    req.session.views = (req.session.views ?? 0) + 1;
    send(res, String(req.session.views));
  };
}

/** Runs connect-style middleware on a raw node:http listener, as their READMEs allow. */
function withMiddleware(middleware, app) {
  return (req, res) => middleware(req, res, (error) => (error ? fail(res, error) : app(req, res)));
}

/**
 * express-session with the store `makeStore(session)` returns, as its README shows. `cleanup` runs
 * after the store is closed (the database variants drop their keys or table and end their client).
 */
async function expressSession(scenario, makeStore, cleanup = async () => {}) {
  const session = require('express-session');
  const store = await makeStore(session);
  const middleware = session({ secret: SECRET, resave: false, saveUninitialized: false, store });
  return {
    handler: withMiddleware(middleware, expressStyleApp(scenario)),
    close: async () => {
      await store.close?.();
      await cleanup();
    },
  };
}

/** The plain-session view counter: `wrap` gives the handler its session. */
function plainApp(sessions, scenario) {
  return sessions.wrap((req, res, session) => {
    const mode = modeFor(scenario, req.url);
    if (mode === 'none') return send(res, 'ok');
    if (mode === 'read') return send(res, String(session.data.views ?? 0));
    session.data.views = (session.data.views ?? 0) + 1;
    send(res, String(session.data.views));
  });
}

/**
 * plain-session with the store `makeStore(plain)` returns. Only the public API is used
 * (`createSessions`, `wrap`, `close` and the store constructors), so this survives the core rewrite.
 */
async function plainSession(scenario, storeName, makeStore = (plain) => new plain[storeName](), cleanup = async () => {}) {
  const plain = await loadPlain(['createSessions', storeName]);
  if (plain.skipped) throw new Skip(plain.skipped);
  // pruneInterval is left at its default: the timer is part of what a real server pays for.
  const store = await makeStore(plain);
  // The load generator speaks plain HTTP on loopback, so the cookie must not be Secure-only.
  const sessions = plain.createSessions({ store, cookie: { secure: false } });
  return {
    handler: plainApp(sessions, scenario),
    close: async () => {
      await sessions.close();
      await cleanup();
    },
  };
}

// --- the database servers: one Redis (REDIS_URL), one PostgreSQL (DATABASE_URL), SQLite files ---

/**
 * A connected node-redis client with no keys under `prefix` left from an earlier run. Both Redis
 * variants get the same client settings: node-redis's own per-command timeout off (`timeout: 0`),
 * as plain-session recommends, since its `storeTimeout` already bounds every store call. With the
 * default, each command costs about three times the CPU (the "node-redis" section of RESULTS.md).
 */
async function redisClient(prefix) {
  if (!process.env.REDIS_URL) throw new Skip('set REDIS_URL to run the Redis variants');
  const { createClient } = require('redis');
  const client = createClient({ url: process.env.REDIS_URL, commandOptions: { timeout: 0 } });
  await client.connect();
  await deleteRedisKeys(client, prefix);
  return client;
}

/** Deletes every key under `prefix` (SCAN, never KEYS: it does not block the server). */
async function deleteRedisKeys(client, prefix) {
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
    if (keys.length > 0) await client.unlink(keys);
  }
}

/** What the Redis variants run when they close: their keys go, then the client. */
const closeRedis = (client, prefix) => async () => {
  await deleteRedisKeys(client, prefix);
  await client.quit();
};

/**
 * A `pg` Pool on DATABASE_URL with `table` dropped. Both PostgreSQL variants get the same pool
 * settings (pg's defaults: at most 10 connections, one per load connection).
 */
async function postgresPool(table) {
  if (!process.env.DATABASE_URL) throw new Skip('set DATABASE_URL to run the PostgreSQL variants');
  const { Pool } = require('pg');
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, application_name: 'plain-session-bench' });
  pool.on('error', (error) => console.error('bench: idle PostgreSQL connection failed:', error.message));
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  return pool;
}

const closePostgres = (pool, table) => async () => {
  // Queries of requests still in flight first (bounded: the server exits a few seconds later anyway).
  for (let i = 0; i < 100 && (pool.waitingCount > 0 || pool.idleCount < pool.totalCount); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  await pool.end();
};

/**
 * A better-sqlite3 database in a new file of its own, in WAL mode (what plain-session's docs and
 * most SQLite deployments use; both SQLite variants get the same). The harness sets BENCH_TMPDIR
 * to a folder it removes when it exits, so even a killed server leaves no file behind.
 */
function sqliteDatabase() {
  let Database;
  try {
    Database = require('better-sqlite3');
    new Database(':memory:').close(); // loading the native addon is what fails on another Node ABI
  } catch (error) {
    throw new Skip(`better-sqlite3 does not load here: ${error.message.split('\n')[0]}`);
  }
  const dir = mkdtempSync(join(process.env.BENCH_TMPDIR ?? tmpdir(), 'sqlite-'));
  const db = new Database(join(dir, 'sessions.db'));
  db.pragma('journal_mode = WAL');
  const remove = async () => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { db, remove };
}

export const VARIANTS = {
  /** node:http alone; the "session" is one counter for the whole process. The baseline. */
  raw: async (scenario) => {
    let views = 0;
    return {
      handler(req, res) {
        const mode = modeFor(scenario, req.url);
        if (mode === 'none') return send(res, 'ok');
        if (mode === 'read') return send(res, String(views));
        send(res, String(++views));
      },
    };
  },

  /** The classic tutorial: `sessions = {}`, a regex over the Cookie header, a random UUID as the ID. */
  tutorial: async (scenario) => {
    const sessions = {};
    const sessionIdPattern = /(?:^|;\s*)session-id=([^;]*)/;
    return {
      handler(req, res) {
        const match = sessionIdPattern.exec(req.headers.cookie ?? '');
        let session = match ? sessions[match[1]] : undefined;
        const mode = modeFor(scenario, req.url);
        if (mode === 'none') return send(res, 'ok');
        if (mode === 'read') return send(res, String(session?.views ?? 0));
        if (session === undefined) {
          const id = randomUUID();
          session = sessions[id] = { views: 0 };
          res.setHeader('Set-Cookie', `session-id=${id}; Path=/; HttpOnly`);
        }
        session.views += 1;
        send(res, String(session.views));
      },
    };
  },

  'express-session': (scenario) => expressSession(scenario, (session) => new session.MemoryStore()),

  'express-session+memorystore': (scenario) =>
    expressSession(scenario, (session) => {
      const MemoryStore = require('memorystore')(session);
      const store = new MemoryStore({ checkPeriod: 24 * 60 * 60 * 1000 });
      store.close = () => store.stopInterval();
      return store;
    }),

  'express-session+connect-redis': async (scenario) => {
    const prefix = 'bench-es:';
    const client = await redisClient(prefix);
    const { RedisStore } = require('connect-redis');
    return expressSession(scenario, () => new RedisStore({ client, prefix }), closeRedis(client, prefix));
  },

  /** connect-pg-simple on the same PostgreSQL, creating its own table as its README offers. */
  'express-session+connect-pg-simple': async (scenario) => {
    const tableName = 'bench_es_sessions';
    const pool = await postgresPool(tableName);
    const PgStore = require('connect-pg-simple');
    return expressSession(
      scenario,
      (session) => new (PgStore(session))({ pool, tableName, createTableIfMissing: true }),
      closePostgres(pool, tableName),
    );
  },

  /** better-sqlite3-session-store on the same driver as plain-session's SqliteStore (see README: why this one). */
  'express-session+better-sqlite3-session-store': async (scenario) => {
    const { db, remove } = sqliteDatabase();
    const SqliteStore = require('better-sqlite3-session-store');
    // Its README's options; its sweep timer has no stop, so the process exit ends it.
    return expressSession(
      scenario,
      (session) => new (SqliteStore(session))({ client: db, expired: { clear: true, intervalMs: 900_000 } }),
      remove,
    );
  },

  'cookie-session': async (scenario) => {
    const cookieSession = require('cookie-session');
    const middleware = cookieSession({ name: 'session', keys: [SECRET] });
    return { handler: withMiddleware(middleware, expressStyleApp(scenario)) };
  },

  /** iron-session's own API for node:http: `getIronSession(req, res, options)`, then `save()`. */
  'iron-session': async (scenario) => {
    const { getIronSession } = await import('iron-session');
    const options = { password: SECRET, cookieName: 'iron', cookieOptions: { secure: false } };
    return {
      async handler(req, res) {
        try {
          // Called on every request, as middleware would: the layer's cost when it is not used counts too.
          const session = await getIronSession(req, res, options);
          const mode = modeFor(scenario, req.url);
          if (mode === 'none') return send(res, 'ok');
          if (mode === 'read') return send(res, String(session.views ?? 0));
          session.views = (session.views ?? 0) + 1;
          await session.save();
          send(res, String(session.views));
        } catch (error) {
          fail(res, error);
        }
      },
    };
  },

  'plain-session-memory': (scenario) => plainSession(scenario, 'MemoryStore'),
  'plain-session-cookie': (scenario) =>
    plainSession(scenario, 'CookieStore', (plain) => new plain.CookieStore({ secret: SECRET })),

  /** The same Redis as connect-redis, with a node-redis client: `new RedisStore(client, { prefix })`. */
  'plain-session-redis': async (scenario) => {
    const prefix = 'bench-ps:';
    const client = await redisClient(prefix);
    return plainSession(scenario, 'RedisStore', (plain) => new plain.RedisStore(client, { prefix }), closeRedis(client, prefix));
  },

  /** The same PostgreSQL as connect-pg-simple, with a `pg` Pool: `new PostgresStore(pool, { table })`. */
  'plain-session-postgres': async (scenario) => {
    const table = 'bench_ps_sessions';
    const pool = await postgresPool(table);
    const makeStore = (plain) => new plain.PostgresStore(pool, { table });
    return plainSession(scenario, 'PostgresStore', makeStore, closePostgres(pool, table));
  },

  /** A better-sqlite3 file like the one the express-session SQLite variant gets: `new SqliteStore(db)`. */
  'plain-session-sqlite': async (scenario) => {
    const { db, remove } = sqliteDatabase();
    return plainSession(scenario, 'SqliteStore', (plain) => new plain.SqliteStore(db), remove);
  },
};

/**
 * What each variant keeps where, for the checks and the report:
 * - `database`: the server it needs ('redis', 'postgres') or 'sqlite' (a file, in process). A
 *   database variant whose server is missing is skipped, unless CI=true, where that is an error.
 * - `clientSide`: the session lives in the cookie. A load that sends the same cookie again and
 *   again never sees its own changes, so the many-visitors check cannot count them up.
 * - `noSessions`: raw, one counter for the whole process.
 */
export const VARIANT_INFO = {
  raw: { noSessions: true },
  'express-session+connect-redis': { database: 'redis' },
  'express-session+connect-pg-simple': { database: 'postgres' },
  'express-session+better-sqlite3-session-store': { database: 'sqlite' },
  'cookie-session': { clientSide: true },
  'iron-session': { clientSide: true },
  'plain-session-cookie': { clientSide: true },
  'plain-session-redis': { database: 'redis' },
  'plain-session-postgres': { database: 'postgres' },
  'plain-session-sqlite': { database: 'sqlite' },
};

export const infoOf = (variant) => VARIANT_INFO[variant] ?? {};

/** The variants in report order. Database variants are always listed; they skip when their server is missing. */
export function variantNames() {
  return Object.keys(VARIANTS);
}
