// The three session techniques of the tutorial, set up side by side. Each one gets its own store,
// its own session manager and its own cookie, scoped with `Path` to its own pages, so the three
// carts never mix and each page's Cookie header holds only that technique's cookie.
//
//   cookie     the whole session sealed inside the cookie; the server keeps nothing
//   memory     an ID in the cookie, the data in a Map in this process
//   database   an ID in the cookie, the data in a SQLite file (under the ID's SHA-256)
//
// The attack lab runs its experiments on the same techniques: `technique.variant({ path, … })`
// makes another session manager on the same store (the same Map, the same table, the same
// secret) with its own cookie path and, where an experiment needs it, its own timeouts.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CookieStore, MemoryStore, SqliteStore, createSessions, hashId } from 'plain-session';
import { clock, note, watchSealer, watchStore } from './trace.js';

/** Where the demo keeps its cookie secret and its database: the system's temp folder by default. */
const DIR = process.env.DEMO_DIR ?? tmpdir();

/** The timeouts of the shop pages: OWASP's 30 idle minutes and 8 hours at most (plain-session's defaults, written out). */
const TIMING = { idleTimeout: 30 * 60_000, absoluteTimeout: 8 * 3_600_000, persistent: true };

/** Builds the three techniques. Call `close()` on each when the server stops. */
export async function setUpTechniques() {
  return [makeCookie(), makeMemory(), await makeDatabase()];
}

/** The session manager of one technique variant: its store watched by the trace, its cookie on `path`. */
function manager(store, cookieName, { path, idleTimeout, absoluteTimeout, persistent }) {
  // Every variant writes its timeouts out, so the inspector can say what a Max-Age means.
  return createSessions({ store, idleTimeout, absoluteTimeout, cookie: { name: cookieName, path, persistent } });
}

function makeMemory() {
  const about = {
    key: 'memory',
    title: 'In memory',
    cookieName: 'memory_sid',
    where: 'in the Map',
    summary: 'The cookie holds a random ID; the cart lives in a Map inside this Node.js process.',
    good: 'The fastest, with nothing to install, and the cart never leaves the server.',
    limits: 'Lost on every restart, and not shared between two server processes.',
    restart: 'A restart empties the Map: every memory cart is gone, and the browser’s ID now names nothing, so it is refused and replaced.',
  };
  const closers = [];
  const build = (store, settings) => {
    const sessions = manager(watchStore(store, about.where), about.cookieName, settings);
    return {
      ...about,
      ...settings,
      sessions,
      /** What the server holds for the session the browser's cookie names. */
      async holds(id) {
        const record = id === undefined ? undefined : await store.get(id);
        return { kind: 'memory', id, record, count: store.size };
      },
      /** What the store holds, without loading anything: the Map only counts (expired entries too, until pruned). */
      peek: async () => ({ kind: 'memory', count: store.size }),
      prune: () => store.prune(),
      variant: (changes) => {
        const { ownStore, ...rest } = changes;
        let own = store;
        if (ownStore) {
          own = new MemoryStore({ pruneInterval: ownStore.pruneInterval });
          closers.push(() => own.close());
        }
        return build(own, { ...settings, ...rest });
      },
      close: async () => {
        await sessions.close();
        await Promise.all(closers.map((close) => close()));
      },
    };
  };
  return build(new MemoryStore(), { path: '/memory', ...TIMING });
}

function makeCookie() {
  const { secret, source } = cookieSecret();
  const about = {
    key: 'cookie',
    title: 'In the cookie',
    cookieName: 'cookie_session',
    sealed: true,
    where: 'in the cookie',
    summary: 'The whole cart travels in the cookie, encrypted and signed; the server keeps nothing.',
    good: 'Nothing to store or clean up, and any server with the secret can read it.',
    limits: 'About 4 KB at most, sent with every request, and logging out cannot recall a copy of the cookie.',
    restart: 'A restart changes nothing: the cart is in your browser, and the secret that opens it is kept in a file.',
    secretSource: source,
  };
  // A second store on the same secret, without hooks, to look inside a cookie for the inspector
  // without adding lines to the trace of the request being shown. (The cookie's name goes along:
  // newer versions bind each seal to the name of the cookie it travels in.)
  const reader = new CookieStore({ secret });
  const onReject = (reason) => note('load', `seal refused (${reason}): the visitor starts a fresh, empty session`, { kind: 'seal-refused', reason });
  const build = (settings, isRevoked) => {
    const store = new CookieStore({ secret, onReject, ...(isRevoked ? { isRevoked } : {}) });
    const sessions = manager(watchSealer(store), about.cookieName, settings);
    return {
      ...about,
      ...settings,
      sessions,
      async holds(value) {
        // Opening the seal here only shows what is inside; the server does not keep it.
        const opened = value === undefined ? undefined : reader.unseal(value, Date.now(), about.cookieName);
        return { kind: 'cookie', opened, secretSource: source };
      },
      /** Opens a seal as it was at `at` (epoch ms), to show what an expired cookie held. */
      openAt: (value, at) => reader.unseal(value, at, about.cookieName),
      peek: async () => ({ kind: 'cookie' }),
      prune: async () => 0, // nothing on the server to sweep
      variant: (changes) => {
        const { ownStore, isRevoked: revoked, ...rest } = changes; // nothing to own: the server keeps nothing
        return build({ ...settings, ...rest }, revoked ?? isRevoked);
      },
      close: () => sessions.close(),
    };
  };
  return build({ path: '/cookie', ...TIMING });
}

async function makeDatabase() {
  const file = join(DIR, 'plain-session-demo.sqlite');
  const { db, driver } = await openSqlite(file);
  db.exec('PRAGMA busy_timeout = 5000'); // first: even the switch to WAL takes a lock (see examples/cart/store.js)
  db.exec('PRAGMA journal_mode = WAL');
  const about = {
    key: 'database',
    title: 'In a database',
    cookieName: 'database_sid',
    where: 'in the database',
    summary: 'The cookie holds a random ID; the cart lives in a row of a SQLite table, keyed by the ID’s SHA-256.',
    good: 'Survives restarts, and every process using the database shares the sessions.',
    limits: 'A database query on every request, and a table to sweep.',
    restart: 'A restart changes nothing: the row is in the file, and the next request finds it again.',
    file,
    driver,
  };
  const stores = [];
  const open = async (table, pruneInterval) => {
    const store = new SqliteStore(db, { table, pruneInterval });
    await store.prune(); // sweeps rows that expired while the demo was stopped (and creates the table)
    stores.push(store);
    // Reading the table directly, as you would with the sqlite3 shell: the key is the hash.
    const rowOf = db.prepare(`SELECT * FROM ${table} WHERE id = ?`);
    const countRows = db.prepare(`SELECT count(*) AS n FROM ${table}`);
    return { store, table, row: (id) => rowOf.get(hashId(id)), count: () => Number(countRows.get().n) };
  };
  const build = (t, settings) => {
    const sessions = manager(watchStore(t.store, about.where, hashId), about.cookieName, settings);
    return {
      ...about,
      ...settings,
      table: t.table,
      sessions,
      async holds(id) {
        const row = id === undefined ? undefined : t.row(id);
        return { kind: 'database', id, key: id && hashId(id), row, count: t.count(), table: t.table, file, driver };
      },
      peek: async (id) => ({ kind: 'database', row: id === undefined ? undefined : t.row(id), count: t.count(), table: t.table }),
      prune: () => t.store.prune(),
      variant: async (changes) => {
        const { ownStore, ...rest } = changes;
        const own = ownStore ? await open(ownStore.table, ownStore.pruneInterval) : t;
        return build(own, { ...settings, ...rest });
      },
      close: async () => {
        await sessions.close();
        await Promise.all(stores.map((s) => s.close()));
        db.close();
      },
    };
  };
  return build(await open('sessions', 60_000), { path: '/database', ...TIMING });
}

/**
 * The cookie store's secret. It must outlive the process, or a restart would make every sealed
 * cookie unreadable: SESSION_SECRET if set, or else a random one made once and kept in a file.
 */
function cookieSecret() {
  if (process.env.SESSION_SECRET) return { secret: process.env.SESSION_SECRET, source: 'the SESSION_SECRET environment variable' };
  const file = join(DIR, 'plain-session-demo-secret');
  try {
    return { secret: readFileSync(file, 'utf8').trim(), source: file };
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  const secret = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' }); // readable by you only
    // A fact that stays true for as long as this process runs, unlike "just now".
    return { secret, source: `${file} (made by this demo process when it started, at ${clock(Date.now())})` };
  } catch (error) {
    if (error.code !== 'EEXIST') throw error;
    return { secret: readFileSync(file, 'utf8').trim(), source: file }; // another process won the race
  }
}

/** Opens the SQLite file with `node:sqlite` (Node 22.5 and later), or else with better-sqlite3. */
async function openSqlite(file) {
  let sqlite;
  try {
    sqlite = await import('node:sqlite');
  } catch {
    const { default: Database } = await import('better-sqlite3');
    return { db: new Database(file), driver: 'better-sqlite3' };
  }
  return { db: new sqlite.DatabaseSync(file), driver: 'node:sqlite' };
}

/** The three techniques again, each on a path of the lab's: what most experiments run on. */
export async function threeVariants(base, pathOf) {
  return [
    await base.cookie.variant({ path: pathOf('cookie') }),
    await base.memory.variant({ path: pathOf('memory') }),
    await base.database.variant({ path: pathOf('database') }),
  ];
}
