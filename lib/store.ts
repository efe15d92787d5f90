/**
 * The store contract: where a server-side session lives between requests.
 *
 * A store is a small async key-value map with expiry. It never sees cookies or HTTP, and it never
 * looks inside a session: `record.data` is a string the manager produced (JSON today) and gets
 * back unchanged. Keeping the store this dumb is what lets the same manager run on a `Map`, SQLite,
 * PostgreSQL or Redis, and lets you write your own store in a few dozen lines (the idea comes from
 * alexedwards/scs and express-session's Store).
 *
 * Run `test/store-contract.ts` against your own store to check it keeps this contract.
 */

/** What a store keeps for one session. */
export interface SessionRecord {
  /** The serialized session data. Opaque to the store: keep it and give it back byte for byte. */
  data: string;
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

/**
 * The interface every server-side store implements. All methods may reject; the manager answers
 * such a request with 503 and the server keeps serving.
 *
 * IDs given to a store are already checked to be well-formed session IDs.
 */
export interface Store {
  /** The record for `id`, or `undefined` if there is none or it has expired. */
  get(id: string): Promise<SessionRecord | undefined>;
  /** Creates or replaces the record for `id`. */
  set(id: string, record: SessionRecord): Promise<void>;
  /**
   * Moves the expiry of an existing record without rewriting its data (the session was used, so
   * its idle timeout starts again). If there is no record for `id`, does nothing.
   */
  touch(id: string, expiresAt: number): Promise<void>;
  /** Removes the record for `id`. If there is none, does nothing. */
  delete(id: string): Promise<void>;
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
  /** Seals the session into a cookie value (URL-safe, so it needs no escaping). */
  seal(id: string, record: SessionRecord): string;
  /**
   * Opens a cookie value. Answers `undefined` for anything it cannot trust: tampered, truncated,
   * sealed with an unknown key or format version, or expired at `now` (epoch ms). Never throws on
   * such input. `stale` is true when the cookie was sealed with an old key and should be resealed.
   */
  unseal(value: string, now: number): { id: string; record: SessionRecord; stale: boolean } | undefined;
  close?(): Promise<void>;
}

/** What `createSessions({ store })` accepts. */
export type AnyStore = Store | SealingStore;

/** Whether a store keeps its sessions in the cookie rather than on the server. */
export function isSealingStore(store: AnyStore): store is SealingStore {
  return (store as SealingStore).kind === 'cookie';
}
