/**
 * What the SQL stores (SQLite, PostgreSQL) share: their options, the check of a table name, how a
 * row's `data` is read back, and the background sweep that deletes expired rows every so often.
 *
 * Expired rows are already invisible (every query asks for `expires_at > now`), so pruning is
 * housekeeping, not security, and it must never get in the way of requests:
 * - the timer is `unref()`ed, so it never keeps a process alive on its own;
 * - each wait is jittered by ±20%, so a fleet of processes started together (a deploy) does not
 *   prune in lockstep and hit the database at the same instant forever after;
 * - runs never overlap: the next wait starts when the previous sweep has finished;
 * - a failed sweep is not fatal (the database may be down for a moment); the next one retries.
 */

import { emptyTexts } from '../data.js';
import { debug } from '../debug.js';
import type { StoredData } from '../store.js';

/** The options of `SqliteStore` and `PostgresStore`. */
export interface SqlStoreOptions {
  /** The table's name: letters, digits and `_`, not starting with a digit. Default `sessions`. */
  table?: string;
  /** Milliseconds between sweeps of expired rows (±20%); `0` turns the timer off. Default 60 000. */
  pruneInterval?: number;
  /** Told when a background sweep fails (the next one retries). Default: a `NODE_DEBUG` trace. */
  onPruneError?: (error: unknown) => void;
  /**
   * Default `true`: create the table and its indexes on first use if they are missing. `false`
   * never runs DDL, for an application role that may only read and write the table, with the table
   * created by a migration (the SQL is `Store.schema(table)`).
   */
  createTable?: boolean;
}

/**
 * A row's `data` as texts by key, or `undefined` if it is not what we write (a JSON object whose
 * values are all strings): a row of another program, or of plain-session before 0.2, reads as no
 * session rather than as garbage.
 */
export function textsOf(data: unknown, keyOf: (key: string) => string = (key) => key): StoredData | undefined {
  const object: unknown = typeof data === 'string' ? parseJson(data) : data;
  if (object === null || typeof object !== 'object' || Array.isArray(object)) return undefined;
  const texts = emptyTexts();
  for (const [key, text] of Object.entries(object)) {
    if (typeof text !== 'string') return undefined;
    texts[keyOf(key)] = text;
  }
  return texts;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The argument for the SQL patch: the keys to set with their texts, and the keys to remove as
 * `null`. In SQLite's `json_patch` (RFC 7396) a `null` removes a key; our values are always strings,
 * so a real value can never be mistaken for a removal.
 */
export function mergePatchOf(set: StoredData, remove: readonly string[]): string {
  const patch: Record<string, string | null> = {};
  for (const key in set) defineKey(patch, key, set[key]!);
  for (const key of remove) defineKey(patch, key, null);
  return JSON.stringify(patch);
}

function defineKey(object: Record<string, string | null>, key: string, value: string | null): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The names of `SqlStoreOptions`, for the check of unknown options. */
export const SQL_STORE_OPTIONS = ['table', 'pruneInterval', 'onPruneError', 'createTable'] as const;

/** How many expired rows one DELETE removes, and how many batches one sweep runs at most. */
export const PRUNE_BATCH = 1000;
export const PRUNE_MAX_BATCHES = 100;

/**
 * Checks a table name. It is spliced into SQL (names cannot be bound as parameters), so only plain
 * identifiers are allowed: that rules out SQL injection through a configuration value. The length
 * cap keeps derived index names under PostgreSQL's 63-character limit.
 */
export function checkTableName(table: unknown, owner: string): string {
  if (typeof table !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,47}$/.test(table)) {
    throw new TypeError(
      `${owner}: option table must be 1 to 48 letters, digits or _, not starting with a digit, got ${JSON.stringify(table)}`,
    );
  }
  return table;
}

export function logPruneError(error: unknown): void {
  debug('prune failed, will retry on the next sweep: %s', error);
}

/** A running sweep schedule. */
export interface PruneTimer {
  /** Stops the schedule. Resolves once a sweep that is under way has finished. */
  stop(): Promise<void>;
}

/** How far each wait may stray from the interval, as a fraction of it. */
export const PRUNE_JITTER = 0.2;

/**
 * Calls `sweep` about every `intervalMs` milliseconds (each wait drawn from ±20% around it) until
 * `stop()` is called. `intervalMs` of 0 starts nothing. Errors from `sweep` go to `onError` and
 * do not stop the schedule.
 */
export function startPruneTimer(
  sweep: () => Promise<unknown>,
  intervalMs: number,
  onError: (error: unknown) => void,
): PruneTimer {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const schedule = (): void => {
    if (stopped || intervalMs === 0) return;
    const jitter = 1 - PRUNE_JITTER + Math.random() * 2 * PRUNE_JITTER;
    timer = setTimeout(run, intervalMs * jitter);
    timer.unref();
  };

  const run = (): void => {
    timer = undefined;
    running = sweep().then(
      () => undefined,
      (error: unknown) => {
        try {
          onError(error);
        } catch {
          // A throwing hook must not become an unhandled rejection that takes the server down.
        }
      },
    );
    void running.finally(() => {
      running = undefined;
      schedule();
    });
  };

  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
