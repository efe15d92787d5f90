/**
 * The database technique on SQLite: sessions in a table of a local file, so they survive a restart
 * of the server with nothing to install or run. One machine only (a file is not shared by hosts);
 * reach for PostgreSQL or Redis when several machines serve the site.
 *
 * You open the database and hand it over; this package depends on no driver. Any synchronous
 * handle with `prepare(sql)` and `exec(sql)` works: `DatabaseSync` from `node:sqlite` (Node ≥ 22.5)
 * or a `better-sqlite3` (12.x) `Database`. Queries run synchronously, so keep the file local
 * and consider `PRAGMA journal_mode = WAL` (readers then never wait for the writer).
 *
 * What is kept, in one table (default name `sessions`; see `SqliteStore.schema()`):
 * - `id`: SHA-256 of the session ID (`hashId`), never the ID itself. A leaked database file then
 *   holds no cookie anyone could replay (OWASP Session Management Cheat Sheet, "Session ID
 *   storage": https://cheatsheetseries.owasp.org/cheatsheets/Session_Management_Cheat_Sheet.html).
 * - `data`: a JSON object mapping each key of `session.data` to the JSON text of its value.
 * - `user_id` as given; `created_at`, `expires_at` as INTEGER epoch milliseconds.
 *
 * A save is one `UPDATE … SET data = json_patch(data, ?)` with the changed keys (and `null` for the
 * removed ones): SQLite merges them into whatever the row holds, inside the statement, so two
 * processes changing different keys of one session both keep their change; and `WHERE expires_at >
 * now` makes it update-only, so a deleted or expired session is never written back. Several
 * processes on one file need `PRAGMA busy_timeout` on their handles, or a write that meets
 * another's lock fails at once with SQLITE_BUSY.
 *
 * Expired rows are invisible at once (every read asks for `expires_at > now`) and deleted by a
 * sweep on an `unref()`ed, jittered timer, in batches of 1000 with a turn of the event loop
 * between them, so a sweep never holds the write lock for long.
 */
import { checkKeys } from '../check-options.js';
import { debug } from '../debug.js';
import { hashId } from '../id.js';
import { checkPruneInterval, type SessionPatch, type SessionRecord, type Store } from '../store.js';
import { checkTableName, logPruneError, mergePatchOf, SQL_STORE_OPTIONS, PRUNE_BATCH, PRUNE_MAX_BATCHES, startPruneTimer, textsOf, type PruneTimer, type SqlStoreOptions } from './sql.js';

/** The part of a prepared statement we use (`node:sqlite` StatementSync, better-sqlite3 Statement). */
export interface SqliteStatement {
  run(...params: SqliteValue[]): { changes: number | bigint };
  get(...params: SqliteValue[]): unknown;
  all(...params: SqliteValue[]): unknown[];
}

/** The part of a synchronous SQLite handle we use (`node:sqlite` DatabaseSync, better-sqlite3 Database). */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
}

type SqliteValue = string | number | null;

export type SqliteStoreOptions = SqlStoreOptions;

/** The prepared statements, made once the table exists. */
interface Statements {
  get: SqliteStatement;
  set: SqliteStatement;
  patch: SqliteStatement;
  touch: SqliteStatement;
  delete: SqliteStatement;
  idsOfUser: SqliteStatement;
  deleteUser: SqliteStatement;
  prune: SqliteStatement;
}

interface Row {
  data: string;
  created_at: number | bigint;
  expires_at: number | bigint;
  user_id: string | null;
}

export class SqliteStore implements Store {
  /**
   * The SQL that creates the table and its indexes, for a migration tool (then use
   * `createTable: false`). Throws a `TypeError` for an unsafe table name.
   */
  static schema(table = 'sessions'): string {
    const t = checkTableName(table, 'SqliteStore.schema');
    // The partial index on user_id skips the many sessions nobody has logged in to.
    return `CREATE TABLE IF NOT EXISTS "${t}" (
  id TEXT PRIMARY KEY NOT NULL,
  data TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  user_id TEXT
);
CREATE INDEX IF NOT EXISTS "${t}_expires_at" ON "${t}" (expires_at);
CREATE INDEX IF NOT EXISTS "${t}_user_id" ON "${t}" (user_id) WHERE user_id IS NOT NULL;
`;
  }

  readonly #db: SqliteDatabase;
  readonly #table: string;
  readonly #timer: PruneTimer;
  readonly #createTable: boolean;
  #statements: Statements | undefined;
  #closed = false;

  /**
   * `db` stays yours: `close()` stops the sweep but does not close the database.
   * Throws a `TypeError` for a handle without `prepare`/`exec` or an unsafe table name.
   */
  constructor(db: SqliteDatabase, options: SqliteStoreOptions = {}) {
    checkKeys(options, SQL_STORE_OPTIONS, 'SqliteStore');
    const { table = 'sessions', pruneInterval = 60_000, onPruneError = logPruneError, createTable = true } = options;
    if (typeof db?.prepare !== 'function' || typeof db.exec !== 'function') {
      throw new TypeError(
        'SqliteStore: pass a synchronous SQLite handle, e.g. new DatabaseSync(file) from node:sqlite or new Database(file) from better-sqlite3',
      );
    }
    if (typeof createTable !== 'boolean') throw new TypeError(`SqliteStore: option createTable must be true or false, got ${String(createTable)}`);
    this.#db = db;
    this.#table = checkTableName(table, 'SqliteStore');
    this.#createTable = createTable;
    this.#timer = startPruneTimer(() => this.prune(), checkPruneInterval(pruneInterval, 'SqliteStore'), onPruneError);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const row = this.#prepared().get.get(hashId(id), Date.now()) as Row | undefined;
    const data = row && textsOf(row.data);
    if (row === undefined || data === undefined) return undefined;
    const record: SessionRecord = {
      data,
      createdAt: Number(row.created_at), // better-sqlite3 with safeIntegers() gives bigint
      expiresAt: Number(row.expires_at),
    };
    if (row.user_id !== null) record.userId = row.user_id;
    return record;
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    this.#prepared().set.run(
      hashId(id),
      JSON.stringify(record.data),
      Math.floor(record.createdAt),
      Math.floor(record.expiresAt),
      record.userId ?? null,
    );
  }

  async patch(id: string, patch: SessionPatch): Promise<boolean> {
    const { changes } = this.#prepared().patch.run(
      mergePatchOf(patch.set, patch.remove),
      patch.expiresAt === undefined ? null : Math.floor(patch.expiresAt),
      patch.userId ?? null,
      hashId(id),
      Date.now(),
    );
    return Number(changes) > 0;
  }

  async touch(id: string, expiresAt: number): Promise<void> {
    // `expires_at > now`: an expired row that is not swept yet must stay dead, not come back.
    this.#prepared().touch.run(Math.floor(expiresAt), hashId(id), Date.now());
  }

  async delete(id: string): Promise<boolean> {
    const row = this.#prepared().delete.get(hashId(id), Date.now()) as { live: number } | undefined;
    return row?.live === 1;
  }

  /**
   * The live sessions bound to `userId`, as their *hashed* keys: the IDs themselves are not kept.
   * The keys are opaque handles, good for counting or listing devices, not for use as cookies.
   */
  async idsOfUser(userId: string): Promise<string[]> {
    const rows = this.#prepared().idsOfUser.all(userId, Date.now()) as { id: string }[];
    return rows.map((row) => row.id);
  }

  async deleteUser(userId: string): Promise<number> {
    const { changes } = this.#prepared().deleteUser.run(userId, Date.now());
    return Number(changes);
  }

  /** Stops the sweep timer (waiting for a sweep under way). The database stays open: it is yours. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#timer.stop();
  }

  /**
   * Deletes expired rows and says how many. Runs by itself on the timer; call it from a job of your
   * own when `pruneInterval` is 0. Works in batches of 1000 rows, yielding to the event loop
   * between them, for at most 100 batches a call (the rest waits for the next sweep).
   */
  async prune(): Promise<number> {
    const statement = this.#prepared().prune;
    let removed = 0;
    for (let batch = 0; batch < PRUNE_MAX_BATCHES && !this.#closed; batch++) {
      const changes = Number(statement.run(Date.now(), PRUNE_BATCH).changes);
      removed += changes;
      if (changes < PRUNE_BATCH) break;
      await new Promise((resolve) => setImmediate(resolve)); // let requests in between batches
    }
    debug('prune %s: removed %d expired sessions', this.#table, removed);
    return removed;
  }

  /** Creates the table on first use (unless `createTable: false`) and prepares the statements (once, unless it throws). */
  #prepared(): Statements {
    if (this.#statements !== undefined) return this.#statements;
    const t = `"${this.#table}"`;
    if (this.#createTable) this.#db.exec(SqliteStore.schema(this.#table));
    const prepare = (sql: string) => this.#db.prepare(sql);
    this.#statements = {
      get: prepare(`SELECT data, created_at, expires_at, user_id FROM ${t} WHERE id = ? AND expires_at > ?`),
      set: prepare(
        `INSERT INTO ${t} (id, data, created_at, expires_at, user_id) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET data = excluded.data, created_at = excluded.created_at,
           expires_at = excluded.expires_at, user_id = excluded.user_id`,
      ),
      patch: prepare(
        `UPDATE ${t} SET data = json_patch(data, ?), expires_at = COALESCE(?, expires_at), user_id = COALESCE(?, user_id)
         WHERE id = ? AND expires_at > ?`,
      ),
      touch: prepare(`UPDATE ${t} SET expires_at = ? WHERE id = ? AND expires_at > ?`),
      // Whatever its expiry, the row goes; the answer says whether it was a live session.
      delete: prepare(`DELETE FROM ${t} WHERE id = ? RETURNING expires_at > ? AS live`),
      idsOfUser: prepare(`SELECT id FROM ${t} WHERE user_id = ? AND expires_at > ?`),
      deleteUser: prepare(`DELETE FROM ${t} WHERE user_id = ? AND expires_at > ?`),
      // SQLite's DELETE … LIMIT is a compile-time option, so the batch is chosen by a subquery.
      prune: prepare(`DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} WHERE expires_at <= ? LIMIT ?)`),
    };
    return this.#statements;
  }
}
