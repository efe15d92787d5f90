/**
 * The database technique on PostgreSQL: sessions in a table every process and every machine can
 * reach, so they survive restarts and a load balancer may send each request anywhere.
 *
 * You create the pool and hand it over; this package depends on no driver. Anything with
 * `query(text, params)` resolving to `{ rows, rowCount }` works, such as `pg`'s `Pool` or `Client`.
 * Each query goes as a named prepared statement, `query({ name, text, values })`, the form `pg`
 * takes: PostgreSQL then parses and plans it once per connection instead of on every request, which
 * halves the server's CPU per request. A client that only takes `(text, params)` (or a pooler in
 * transaction mode that cannot keep prepared statements, like PgBouncer before 1.21) needs
 * `preparedStatements: false`.
 * Give a pool an error listener (`pool.on('error', log)`): pg emits one when the server drops an
 * idle connection (a restart), and an error event nobody listens to ends the process. A pool also
 * reconnects by itself, so the store serves again as soon as the database is back.
 *
 * What is kept, in one table (default name `sessions`; see `PostgresStore.schema()`):
 * - `id`: SHA-256 of the session ID (`hashId`), never the ID itself. A leaked table or backup then
 *   holds no cookie anyone could replay (OWASP Session Management Cheat Sheet, "Session ID
 *   storage": https://cheatsheetseries.owasp.org/cheatsheets/Session_Management_Cheat_Sheet.html).
 * - `data` (jsonb): an object mapping each key of `session.data` to the JSON text of its value.
 *   Keeping the texts as strings means no value is ever refused (jsonb rejects `\u0000` in its own
 *   strings, which JavaScript allows) and every text comes back byte for byte; the rare key jsonb
 *   cannot hold is written in its JSON form (see `storableKey` in lib/data.ts).
 * - `user_id` (text, indexed); `created_at`, `expires_at` as BIGINT epoch milliseconds, the unit of
 *   `SessionRecord`, read with the clock of the Node process (keep the servers' clocks in sync, as
 *   NTP does).
 *
 * A save is one `UPDATE … SET data = data || $set - $removed`: PostgreSQL merges the changed keys
 * into whatever the row holds at that moment, under the row's lock, so two processes changing
 * different keys of one session both keep their change; and `WHERE expires_at > now` makes it
 * update-only, so a deleted or expired session is never written back. Such an update changes no
 * indexed column unless the expiry moves (once per renewal step), so PostgreSQL can make it a HOT
 * update (heap-only tuple: the new row version goes on the same page and no index is touched), as
 * long as the page has room: the table keeps 10% of each page free for that (`fillfactor = 90`).
 *
 * Expired rows are invisible at once (every read asks for `expires_at > now`). Each process also
 * sweeps them on an `unref()`ed timer jittered by ±20%, in DELETEs of at most 1000 rows chosen
 * with `FOR UPDATE SKIP LOCKED`: each statement holds its row locks briefly, and two processes
 * sweeping at once take different rows instead of waiting for each other.
 */
import { keyFromStorable, storableKey, storableTexts } from '../data.js';
import { checkKeys } from '../check-options.js';
import { debug } from '../debug.js';
import { hashId } from '../id.js';
import { checkPruneInterval, type SessionPatch, type SessionRecord, type Store } from '../store.js';
import { checkTableName, logPruneError, SQL_STORE_OPTIONS, PRUNE_BATCH, PRUNE_MAX_BATCHES, startPruneTimer, textsOf, type PruneTimer, type SqlStoreOptions } from './sql.js';

/** A named prepared statement, as `pg` takes it: prepared once per connection under `name`. */
export interface PostgresQueryConfig {
  name: string;
  text: string;
  values: unknown[];
}

/**
 * The part of a `pg` `Pool` or `Client` we use: `query(text, params)`, and `query({ name, text,
 * values })` unless the store was made with `preparedStatements: false`.
 */
export interface PostgresClient {
  query(text: string | PostgresQueryConfig, params?: unknown[]): Promise<{ rows: unknown[]; rowCount?: number | null }>;
}

export interface PostgresStoreOptions extends SqlStoreOptions {
  /**
   * Default `true`: send each query as a named prepared statement (`{ name, text, values }`), which
   * `pg` prepares once per connection. `false` sends `(text, params)`, for a client that takes only
   * that, or for a pooler in transaction mode that cannot keep prepared statements.
   */
  preparedStatements?: boolean;
}

/** One statement of a store: its SQL, and the name it is prepared under. */
interface Statement {
  name: string;
  text: string;
}

/** The statements of one store. */
interface Statements {
  get: Statement;
  set: Statement;
  patch: Statement;
  touch: Statement;
  delete: Statement;
  idsOfUser: Statement;
  deleteUser: Statement;
  prune: Statement;
}

interface Row {
  data: unknown; // pg parses jsonb into an object
  created_at: string | number; // pg returns BIGINT as a string, to lose no precision
  expires_at: string | number;
  user_id: string | null;
}

export class PostgresStore implements Store {
  /**
   * The SQL that creates the table and its indexes, for a migration tool: run it as the table's
   * owner, then give the application's role `SELECT, INSERT, UPDATE, DELETE` on the table and use
   * `createTable: false`. Throws a `TypeError` for an unsafe table name.
   */
  static schema(table = 'sessions'): string {
    const t = checkTableName(table, 'PostgresStore.schema');
    // The partial index on user_id skips the many sessions nobody has logged in to. fillfactor 90
    // keeps room on each page for the next version of its rows, so that saves stay HOT updates.
    return `CREATE TABLE IF NOT EXISTS "${t}" (
  id TEXT PRIMARY KEY,
  data JSONB NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  user_id TEXT
) WITH (fillfactor = 90);
CREATE INDEX IF NOT EXISTS "${t}_expires_at" ON "${t}" (expires_at);
CREATE INDEX IF NOT EXISTS "${t}_user_id" ON "${t}" (user_id) WHERE user_id IS NOT NULL;
`;
  }

  readonly #pool: PostgresClient;
  readonly #table: string;
  readonly #timer: PruneTimer;
  readonly #statements: Statements;
  readonly #prepared: boolean;
  /** The table creation under way; `undefined` before the first call or after a failed one. */
  #ready: Promise<void> | undefined;
  /** The table exists (or is not ours to create): queries go straight to the pool. */
  #isReady = false;
  #closed = false;

  /**
   * `pool` stays yours: `close()` stops the sweep but does not end the pool.
   * Throws a `TypeError` for a client without `query` or an unsafe table name.
   */
  constructor(pool: PostgresClient, options: PostgresStoreOptions = {}) {
    checkKeys(options, [...SQL_STORE_OPTIONS, 'preparedStatements'], 'PostgresStore');
    const { table = 'sessions', pruneInterval = 60_000, onPruneError = logPruneError, createTable = true, preparedStatements = true } = options;
    if (typeof pool?.query !== 'function') {
      throw new TypeError("PostgresStore: pass something with query(text, params), e.g. new Pool() from 'pg'");
    }
    if (typeof createTable !== 'boolean') throw new TypeError(`PostgresStore: option createTable must be true or false, got ${String(createTable)}`);
    if (typeof preparedStatements !== 'boolean') {
      throw new TypeError(`PostgresStore: option preparedStatements must be true or false, got ${String(preparedStatements)}`);
    }
    this.#pool = pool;
    this.#table = checkTableName(table, 'PostgresStore');
    this.#statements = statementsFor(this.#table);
    this.#prepared = preparedStatements;
    this.#isReady = !createTable;
    this.#timer = startPruneTimer(() => this.prune(), checkPruneInterval(pruneInterval, 'PostgresStore'), onPruneError);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.#query(this.#statements.get, [hashId(id), Date.now()]);
    const row = rows[0] as Row | undefined;
    const data = row && textsOf(row.data, keyFromStorable);
    if (row === undefined || data === undefined) return undefined;
    const record: SessionRecord = { data, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) };
    if (row.user_id !== null) record.userId = row.user_id;
    return record;
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    await this.#query(this.#statements.set, [
      hashId(id),
      JSON.stringify(storableTexts(record.data)),
      Math.floor(record.createdAt),
      Math.floor(record.expiresAt),
      record.userId ?? null,
    ]);
  }

  async patch(id: string, patch: SessionPatch): Promise<boolean> {
    const result = await this.#query(this.#statements.patch, [
        JSON.stringify(storableTexts(patch.set)),
        patch.remove.map(storableKey),
        patch.expiresAt === undefined ? null : Math.floor(patch.expiresAt),
        patch.userId ?? null,
        hashId(id),
        Date.now(),
      ],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async touch(id: string, expiresAt: number): Promise<void> {
    // `expires_at > now`: an expired row that is not swept yet must stay dead, not come back.
    await this.#query(this.#statements.touch, [Math.floor(expiresAt), hashId(id), Date.now()]);
  }

  async delete(id: string): Promise<boolean> {
    const { rows } = await this.#query(this.#statements.delete, [hashId(id), Date.now()]);
    return (rows[0] as { live: boolean } | undefined)?.live === true;
  }

  /**
   * The live sessions bound to `userId`, as their *hashed* keys: the IDs themselves are not kept.
   * The keys are opaque handles, good for counting or listing devices, not for use as cookies.
   */
  async idsOfUser(userId: string): Promise<string[]> {
    const { rows } = await this.#query(this.#statements.idsOfUser, [userId, Date.now()]);
    return (rows as { id: string }[]).map((row) => row.id);
  }

  async deleteUser(userId: string): Promise<number> {
    const result = await this.#query(this.#statements.deleteUser, [userId, Date.now()]);
    return result.rowCount ?? result.rows.length;
  }

  /** Stops the sweep timer (waiting for a sweep under way). The pool stays open: it is yours. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#timer.stop();
  }

  /**
   * Deletes expired rows and says how many. Runs by itself on the timer; call it from a job of your
   * own when `pruneInterval` is 0. Works in batches of 1000 rows, at most 100 batches a call.
   */
  async prune(): Promise<number> {
    let removed = 0;
    for (let batch = 0; batch < PRUNE_MAX_BATCHES && !this.#closed; batch++) {
      const result = await this.#query(this.#statements.prune, [Date.now(), PRUNE_BATCH]);
      const changes = result.rowCount ?? result.rows.length;
      removed += changes;
      if (changes < PRUNE_BATCH) break;
    }
    debug('prune %s: removed %d expired sessions', this.#table, removed);
    return removed;
  }

  /** Runs a statement once the table exists: one round trip, or two for the very first call. */
  #query(statement: Statement, values: unknown[]): Promise<{ rows: unknown[]; rowCount?: number | null }> {
    if (!this.#isReady) return this.#createThenQuery(statement, values);
    return this.#prepared
      ? this.#pool.query({ name: statement.name, text: statement.text, values })
      : this.#pool.query(statement.text, values);
  }

  async #createThenQuery(statement: Statement, values: unknown[]): Promise<{ rows: unknown[]; rowCount?: number | null }> {
    // The first call creates the table; if that fails (database down at startup), the next call
    // tries again, so the store recovers without a restart.
    this.#ready ??= this.#createTable().then(
      () => void (this.#isReady = true),
      (error: unknown) => {
        this.#ready = undefined;
        throw error;
      },
    );
    await this.#ready;
    return this.#query(statement, values);
  }

  async #createTable(): Promise<void> {
    // One statement, so it runs in one transaction whatever protocol the client speaks, in one
    // round trip. The advisory lock makes processes starting together take turns: concurrent CREATE
    // TABLE IF NOT EXISTS can otherwise fail on PostgreSQL's catalog unique index. A table made by
    // plain-session before 0.2 keeps the data as text: say how to migrate rather than fail on every
    // request with a type error.
    const t = this.#table;
    await this.#pool.query(`
      DO $plain_session$ BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('plain-session'), hashtext('${t}'));
        ${PostgresStore.schema(t)}
        IF (SELECT data_type FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = '${t}' AND column_name = 'data') <> 'jsonb' THEN
          RAISE EXCEPTION 'PostgresStore: table "${t}" has a data column of type %, made by plain-session before 0.2; migrate it to jsonb as the README says ("Migrating a table from 0.1"), or drop it to log everyone out',
            (SELECT data_type FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = '${t}' AND column_name = 'data');
        END IF;
      END $plain_session$`);
  }
}

/**
 * The SQL of each statement for `table`, with the name it is prepared under. The names start with
 * what differs (`ps_patch_`, …) and stay within PostgreSQL's 63 bytes for any table name we accept,
 * so no two are cut to the same name; `pg` refuses one name for two texts, so the table is in it.
 */
function statementsFor(table: string): Statements {
  const t = `"${table}"`;
  const statement = (name: string, text: string): Statement => ({ name: `ps_${name}_${table}`, text });
  return {
    get: statement('get', `SELECT data, created_at, expires_at, user_id FROM ${t} WHERE id = $1 AND expires_at > $2`),
    set: statement(
      'set',
      `INSERT INTO ${t} (id, data, created_at, expires_at, user_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, created_at = EXCLUDED.created_at,
         expires_at = EXCLUDED.expires_at, user_id = EXCLUDED.user_id`,
    ),
    // `||` adds or replaces the changed keys, `-` removes the removed ones; COALESCE keeps what the
    // patch leaves alone. A row whose expires_at and user stay is updated without touching an
    // indexed column (assigning a column its own value does not count), so it can be a HOT update.
    patch: statement(
      'patch',
      `UPDATE ${t} SET data = (data || $1::jsonb) - $2::text[],
         expires_at = COALESCE($3, expires_at), user_id = COALESCE($4, user_id)
       WHERE id = $5 AND expires_at > $6`,
    ),
    // `expires_at > now`: an expired row that is not swept yet must stay dead, not come back.
    touch: statement('touch', `UPDATE ${t} SET expires_at = $1 WHERE id = $2 AND expires_at > $3`),
    // Whatever its expiry, the row goes; the answer says whether it was a live session.
    delete: statement('delete', `DELETE FROM ${t} WHERE id = $1 RETURNING expires_at > $2 AS live`),
    idsOfUser: statement('ids', `SELECT id FROM ${t} WHERE user_id = $1 AND expires_at > $2`),
    deleteUser: statement('deleteUser', `DELETE FROM ${t} WHERE user_id = $1 AND expires_at > $2`),
    prune: statement(
      'prune',
      `DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    ),
  };
}
