/**
 * One visitor's session, as a request handler sees it: `session.data` plus the two operations
 * OWASP asks for (Session Management Cheat Sheet, "Renew the Session ID After Any Privilege Level
 * Change" and "Manual Session Expiration"): `regenerate()` on login and `destroy()` on logout.
 *
 * A session knows its own state, and the manager's commit follows from it: a new session that
 * nobody filled is never stored and sets no cookie; a session read but not changed is not
 * rewritten; a changed one is saved; a regenerated one moves to a new ID.
 */
import { generateId } from './id.js';

/**
 * The state behind a session, shared by every request of that session that one process is serving
 * at the same time. Two concurrent requests that each add to the cart then change the same object,
 * so neither write can undo the other (express-session loses one of them).
 */
export class SessionCore {
  /** The session ID, created only when first needed: an untouched new session never costs one. */
  #id: string | undefined;
  data: Record<string, unknown>;
  createdAt: number;
  /** The expiry the store and the cookie currently hold (0 for a session not yet stored). */
  expiresAt: number;
  userId: string | undefined;
  /** The data as the store holds it, to tell whether a handler changed anything. */
  stored: string | undefined;
  storedUserId: string | undefined;
  /** The cookie must be (re)sent: a new ID, a resealed cookie, a moved expiry. */
  cookieDue = false;
  /** The cookie the browser sent and that no longer names a live session: clear it if unused. */
  staleCookie = false;
  isNew: boolean;
  /** Requests of this process holding the core right now (see SessionCore's comment). */
  holders = 0;
  /** The last write started, so the writes of concurrent requests reach the store in order. */
  writing: Promise<void> | undefined;
  /** A save queued behind `writing` that has not started yet (see SessionManager's #write). */
  waitingSave: { id: string; done: Promise<void> } | undefined;

  constructor(id: string | undefined, data: Record<string, unknown>, createdAt: number, expiresAt: number, stored: string | undefined, userId: string | undefined) {
    this.#id = id;
    this.data = data;
    this.createdAt = createdAt;
    this.expiresAt = expiresAt;
    this.stored = stored;
    this.userId = userId;
    this.storedUserId = userId;
    this.isNew = id === undefined;
  }

  get id(): string {
    return (this.#id ??= generateId());
  }

  /** Whether an ID was ever handed out (a fresh session may never need one). */
  get hasId(): boolean {
    return this.#id !== undefined;
  }

  /** Starts over under a new ID, which the store has never seen. */
  renameTo(id: string | undefined): void {
    this.#id = id;
    this.stored = undefined;
    this.expiresAt = 0;
    this.cookieDue = true;
  }
}

/** What `regenerate()` and `destroy()` need from the manager, which owns the store. */
export interface SessionOwner {
  regenerate(core: SessionCore): Promise<void>;
  destroy(core: SessionCore): Promise<void>;
}

/**
 * A visitor's session. `T` is the shape of your data: `createSessions<{ cart: string[] }>()`.
 * A new session starts empty, so every field of `data` may be missing.
 */
export class Session<T extends object = Record<string, unknown>> {
  readonly #core: SessionCore;
  readonly #owner: SessionOwner;
  /** Whether this request has let go of the core (see `SessionManager.commit`). */
  released = false;

  constructor(core: SessionCore, owner: SessionOwner) {
    this.#core = core;
    this.#owner = owner;
  }

  /** The session ID (what the cookie names for server-side stores). Changes on `regenerate()`. */
  get id(): string {
    return this.#core.id;
  }

  /** The session's data. Change it freely; it is saved when the response ends, if it changed. */
  get data(): Partial<T> {
    return this.#core.data as Partial<T>;
  }

  /** True when this request started the session (no valid cookie came with it). */
  get isNew(): boolean {
    return this.#core.isNew;
  }

  /** The user this session is bound to by `bindUser`, if any. */
  get userId(): string | undefined {
    return this.#core.userId;
  }

  /**
   * Moves the session to a fresh ID and keeps its data. The old ID stops working at once. Call it
   * whenever privileges change, above all on login, so that an ID an attacker planted or saw
   * before the login is worthless after it (session fixation; OWASP cheat sheet, "Renew the
   * Session ID After Any Privilege Level Change").
   */
  regenerate(): Promise<void> {
    return this.#owner.regenerate(this.#core);
  }

  /**
   * Ends the session: its stored entry is removed at once and the cookie is expired. The request
   * goes on with a new, empty session, which is saved only if the handler puts something in it
   * (a "you have been logged out" message, say).
   */
  destroy(): Promise<void> {
    return this.#owner.destroy(this.#core);
  }

  /**
   * Binds the session to a user, so that `store.deleteUser(userId)` can end all of that user's
   * sessions ("log out everywhere", or after a password change). Never use the user's ID *as*
   * the session ID, as the tutorial suggests: it can be guessed.
   */
  bindUser(userId: string): void {
    if (typeof userId !== 'string' || userId === '') {
      throw new TypeError('session.bindUser(userId): userId must be a non-empty string');
    }
    this.#core.userId = userId;
  }

  /** @internal The shared state, for the manager. */
  get core(): SessionCore {
    return this.#core;
  }
}
