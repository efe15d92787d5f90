/**
 * The store contract: where a server-side session lives between requests.
 *
 * A store is a small async map with expiry. It never sees cookies or HTTP, and it never looks inside
 * a value: `record.data` maps each top-level key of `session.data` to the JSON text of its value,
 * and the store keeps those texts and gives them back unchanged. Keeping the store this dumb is what
 * lets the same manager run on a `Map`, SQLite, PostgreSQL or Redis, and lets you write your own
 * store in a few dozen lines (the idea comes from alexedwards/scs and express-session's Store).
 *
 * Why one text per key rather than one text for the whole session: a request that changed only
 * `cart` then writes only `cart` (`patch`), so two requests of one visitor that change different
 * keys at the same moment both keep their change, in one process or in many.
 *
 * Check your own store with the contract suite: `runStoreContract` from `plain-session/testing`.
 */

/** A session's data as stores keep it: each top-level key of `session.data`, to the JSON text of its value. */
export type StoredData = Record<string, string>;

/** What a store keeps for one session. */
export interface SessionRecord {
  /** The session's data, one JSON text per key. Opaque to the store: keep it and give it back unchanged. */
  data: StoredData;
  /** When the session was created, in epoch milliseconds. Used for the absolute lifetime. */
  createdAt: number;
  /**
   * When the record dies, in epoch milliseconds. From that instant `get` must answer `undefined`,
   * whether or not the record has been pruned yet.
   */
  expiresAt: number;
  /** The user this session is bound to, if any (see `session.bindUser`). Stores may index it. */
  userId?: string | undefined;
}

/** What one request changed in an existing session: the argument of `store.patch`. */
export interface SessionPatch {
  /** Keys to set, to these JSON texts (added or replaced). */
  set: StoredData;
  /** Keys to remove. Never also in `set`. */
  remove: string[];
  /** The new expiry in epoch milliseconds, when it moves; otherwise the stored one stays. */
  expiresAt?: number | undefined;
  /** The user to bind the session to, when it changes; otherwise the stored one stays. */
  userId?: string | undefined;
}

/**
 * The interface every server-side store implements. All methods may reject; the manager answers
 * such a request with 503 and the server keeps serving. IDs given to a store are already checked
 * to be well-formed session IDs.
 */
export interface Store {
  /** The record for `id`, or `undefined` if there is none or it has expired. A copy: changing it changes nothing stored. */
  get(id: string): Promise<SessionRecord | undefined>;
  /** Creates or replaces the record for `id`. The manager calls it only for IDs it has just made. */
  set(id: string, record: SessionRecord): Promise<void>;
  /**
   * Applies one request's changes to an existing, live record, atomically: the keys of `patch.set`
   * are set, those of `patch.remove` removed, every other key left as it is, even if another
   * request patched it a moment ago. Moves the expiry and binds the user when the patch says so.
   *
   * Update-only: when there is no live record for `id` (never set, deleted, expired, pruned),
   * nothing is written and the answer is `false`. This is what keeps a logged-out session logged
   * out while older requests of it are still running.
   *
   * Optional. Without it the manager does `get`, merges, then `set`: correct within one process
   * (it remembers the IDs it destroyed lately), but two processes saving one session at the same
   * moment may then lose one's keys, and a session destroyed by another process between that `get`
   * and `set` can come back.
   */
  patch?(id: string, patch: SessionPatch): Promise<boolean>;
  /**
   * Moves the expiry of an existing, live record without rewriting its data (the session was used,
   * so its idle timeout starts again). If there is no live record for `id`, does nothing.
   */
  touch(id: string, expiresAt: number): Promise<void>;
  /**
   * Removes the record for `id`, and answers whether a live session was there: `false` when there
   * was none, or only an expired one. `regenerate()` relies on the answer: a session that another
   * request logged out meanwhile must not be carried over to a new ID. A store that answers nothing
   * (`void`) is taken to have held a live session.
   */
  delete(id: string): Promise<boolean | void>;
  /**
   * The live sessions bound to `userId`, for counting or a "your devices" page. Optional. A store
   * that hashes IDs at rest lists the hashed keys: handles to show, never cookies to replay.
   */
  idsOfUser?(userId: string): Promise<string[]>;
  /** Deletes every session bound to `userId` ("log out everywhere") and says how many. Optional. */
  deleteUser?(userId: string): Promise<number>;
  /** Stops timers and lets go of resources; called by `sessions.close()`. Optional. */
  close?(): Promise<void>;
}

/**
 * A store that keeps nothing on the server: the whole session travels sealed in the cookie
 * (the CookieStore). The manager sends `seal(...)` as the cookie value instead of the ID, and
 * reads the session back with `unseal(...)`.
 */
export interface SealingStore {
  readonly kind: 'cookie';
  /**
   * Seals the session into a cookie value (URL-safe, so it needs no escaping). `cookieName` is
   * bound into the seal, so a cookie sealed for one name never opens under another.
   */
  seal(id: string, record: SessionRecord, cookieName: string): string;
  /**
   * Opens a cookie value. Answers `undefined` for anything it cannot trust: tampered, truncated,
   * sealed with an unknown key or format version, for another cookie name, or expired at `now`
   * (epoch ms). Never throws on such input. `stale` is true when the cookie should be resealed
   * (an old key or an old format).
   */
  unseal(value: string, now: number, cookieName: string): { id: string; record: SessionRecord; stale: boolean } | undefined;
  /**
   * Whether `value` has the shape of a value `seal` writes, from cheap checks alone (no crypto).
   * When a request sends the session cookie more than once, a value that is not is skipped and does
   * not count toward the few that are tried (see the README's "Security defaults"). Optional: without
   * it every value counts. Never throws.
   */
  isWellFormed?(value: string): boolean;
  close?(): Promise<void>;
}

/** What `createSessions({ store })` accepts. */
export type AnyStore = Store | SealingStore;

/** Whether a store keeps its sessions in the cookie rather than on the server. */
export function isSealingStore(store: AnyStore): store is SealingStore {
  return (store as SealingStore).kind === 'cookie';
}

/**
 * Checks a `pruneInterval` option: milliseconds between sweeps, or 0 for no timer (prune from a
 * cron job instead, by calling the store's `prune()`).
 */
export function checkPruneInterval(value: unknown, owner: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS) {
    throw new RangeError(
      `${owner}: option pruneInterval must be a number of milliseconds from 0 (no timer) to ${MAX_TIMER_MS} (Node's longest timer, about 24.8 days), got ${String(value)}`,
    );
  }
  return value;
}

/** The longest delay Node's timers hold: a longer one fires after 1 ms instead (2^31 − 1 ms). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
