// The three session techniques of the tutorial, set up side by side. Each one gets its own store,
// its own session manager and its own cookie, scoped with `Path` to its own pages, so the three
// carts never mix and each page's Cookie header holds only that technique's cookie.
//
//   cookie     the whole session sealed inside the cookie; the server keeps nothing
//   memory     an ID in the cookie, the data in a Map in this process
//   database   an ID in the cookie, the data in a SQLite file (under the ID's SHA-256)
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CookieStore, MemoryStore, SqliteStore, createSessions, hashId } from 'plain-session';
import { note, watchSealer, watchStore } from './trace.js';

/** Where the demo keeps its cookie secret and its database: the system's temp folder by default. */
const DIR = process.env.DEMO_DIR ?? tmpdir();

/** Builds the three techniques. Call `close()` on each when the server stops. */
export async function setUpTechniques() {
  return [makeCookie(), makeMemory(), await makeDatabase()];
}

function makeMemory() {
  const store = new MemoryStore();
  const sessions = createSessions({ store: watchStore(store, 'in the Map'), cookie: { name: 'memory_sid', path: '/memory' } });
  return {
    key: 'memory',
    title: 'In memory',
    path: '/memory',
    cookieName: 'memory_sid',
    summary: 'The cookie holds a random ID; the cart lives in a Map inside this Node.js process.',
    good: 'The fastest, with nothing to install, and the cart never leaves the server.',
    limits: 'Lost on every restart, and not shared between two server processes.',
    restart: 'A restart empties the Map: every memory cart is gone, and the browser’s ID now names nothing, so it is refused and replaced.',
    sessions,
    /** What the server holds for the session the browser's cookie names. */
    async holds(id) {
      const record = id === undefined ? undefined : await store.get(id);
      return { kind: 'memory', id, record, count: store.size };
    },
    close: () => sessions.close(),
  };
}

function makeCookie() {
  const { secret, source } = cookieSecret();
  const store = new CookieStore({
    secret,
    onReject: (reason) => note('load', `seal refused (${reason}): the visitor starts a fresh, empty session`),
  });
  const sessions = createSessions({ store: watchSealer(store), cookie: { name: 'cookie_session', path: '/cookie' } });
  return {
    key: 'cookie',
    title: 'In the cookie',
    path: '/cookie',
    cookieName: 'cookie_session',
    summary: 'The whole cart travels in the cookie, encrypted and signed; the server keeps nothing.',
    good: 'Nothing to store or clean up, and any server with the secret can read it.',
    limits: 'About 4 KB at most, sent with every request, and logging out cannot recall a copy of the cookie.',
    restart: 'A restart changes nothing: the cart is in your browser, and the secret that opens it is kept in a file.',
    secretSource: source,
    sessions,
    async holds(value) {
      // Opening the seal here only shows what is inside; the server does not keep it.
      const opened = value === undefined ? undefined : store.unseal(value, Date.now(), 'cookie_session');
      return { kind: 'cookie', opened, secretSource: source };
    },
    close: () => sessions.close(),
  };
}

async function makeDatabase() {
  const file = join(DIR, 'plain-session-demo.sqlite');
  const { db, driver } = await openSqlite(file);
  db.exec('PRAGMA journal_mode = WAL');
  const store = new SqliteStore(db, { table: 'sessions' });
  await store.prune(); // sweeps rows that expired while the demo was stopped (and creates the table)
  const sessions = createSessions({ store: watchStore(store, 'in the database', hashId), cookie: { name: 'database_sid', path: '/database' } });
  const rowOf = db.prepare('SELECT id, data, created_at, expires_at, user_id FROM sessions WHERE id = ?');
  const countRows = db.prepare('SELECT count(*) AS n FROM sessions');
  return {
    key: 'database',
    title: 'In a database',
    path: '/database',
    cookieName: 'database_sid',
    summary: 'The cookie holds a random ID; the cart lives in a row of a SQLite table, keyed by the ID’s SHA-256.',
    good: 'Survives restarts, and every process using the database shares the sessions.',
    limits: 'A database query on every request, and a table to sweep.',
    restart: 'A restart changes nothing: the row is in the file, and the next request finds it again.',
    file,
    driver,
    sessions,
    async holds(id) {
      // Reading the table directly, as you would with the sqlite3 shell: the key is the hash.
      const key = id === undefined ? undefined : hashId(id);
      const row = key === undefined ? undefined : rowOf.get(key);
      return { kind: 'database', id, key, row, count: Number(countRows.get().n), file, driver };
    },
    close: async () => {
      await sessions.close();
      db.close();
    },
  };
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
    return { secret, source: `${file} (made just now)` };
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
