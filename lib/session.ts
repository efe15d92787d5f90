/**
 * One visitor's session, as one request sees it: `session.data` plus the two operations OWASP asks
 * for (Session Management Cheat Sheet, "Renew the Session ID After Any Privilege Level Change" and
 * "Manual Session Expiration"): `regenerate()` on login and `destroy()` on logout.
 *
 * Every request gets its own `Session`, made from what the store holds when the request arrives.
 * Two requests of one visitor never share one: the store is the only shared truth. That is what
 * makes a login, a logout or an expiry apply to the very next request, and what keeps a request
 * that started before a login from ever seeing the logged-in session (session fixation).
 *
 * A session knows its own state, and the manager's commit follows from it: a new session that
 * nobody filled is never stored and sets no cookie; a session read but not changed is not
 * rewritten; a changed one writes only its changed keys; a regenerated one moves to a new ID.
 */
import { generateId } from './id.js';
import type { StoredData } from './store.js';

/** Everything one request knows about its session. Private to the manager (lib/sessions.ts). */
export interface SessionState {
  /** The manager this session came from, so another manager's `commit` can refuse it. */
  readonly owner: object;
  /** The session ID; created only when first needed, so an untouched new session never costs one. */
  id: string | undefined;
  data: Record<string, unknown>;
  /** The data as the store holds it under `id` (for a cookie session: as last sealed). `undefined`: not stored. */
  base: StoredData | undefined;
  createdAt: number;
  /** The expiry the store holds (0 when not stored). */
  expiresAt: number;
  userId: string | undefined;
  /** The user the store holds. */
  baseUserId: string | undefined;
  isNew: boolean;
  /** The request came with a cookie naming this session (so `destroy()` must expire it). */
  hadCookie: boolean;
  /** This request has sent the browser a cookie naming `id` (server stores), or the sealed session. */
  cookieSent: boolean;
  /** The browser's cookie must be replaced even if nothing else changed (sealed with an old key). */
  cookieStale: boolean;
  /** `destroy()` was called: expire the browser's cookie unless a new session takes its place. */
  cookieToClear: boolean;
  /** The session is gone from the store (destroyed elsewhere): this request's changes are dropped. */
  gone: boolean;
  /** Store work of `regenerate()`/`destroy()` that a save must wait for. */
  pending: Promise<void> | undefined;
}

/** What `regenerate()` and `destroy()` need from the manager, which owns the store. */
export interface SessionOwner {
  regenerate(state: SessionState): Promise<void>;
  destroy(state: SessionState): Promise<void>;
}

let readState: (session: Session<object>) => SessionState;

/**
 * A visitor's session. `T` is the shape of your data: `createSessions<{ cart: string[] }>()`.
 * A new session starts empty, so every field of `data` may be missing.
 */
export class Session<T extends object = Record<string, unknown>> {
  readonly #state: SessionState;
  readonly #owner: SessionOwner;

  static {
    readState = (session) => session.#state;
  }

  /** Sessions come from `sessions.load(req)` or `wrap`; there is no reason to make one yourself. */
  constructor(state: SessionState, owner: SessionOwner) {
    this.#state = state;
    this.#owner = owner;
  }

  /** The session ID (what the cookie names for server-side stores). Changes on `regenerate()`. */
  get id(): string {
    return (this.#state.id ??= generateId());
  }

  /** This request's copy of the session's data. Change it freely; the changed keys are saved when the response ends. */
  get data(): Partial<T> {
    return this.#state.data as Partial<T>;
  }

  /** True when this request started the session (no valid cookie came with it, or it was destroyed). */
  get isNew(): boolean {
    return this.#state.isNew;
  }

  /** The user this session is bound to by `bindUser`, if any. */
  get userId(): string | undefined {
    return this.#state.userId;
  }

  /**
   * Moves the session to a fresh ID and keeps its data. The old ID stops working at once, for this
   * request and every other: a request still running with the old ID can no longer change the
   * session, and never learns the new ID. Call it whenever privileges change, above all on login,
   * so that an ID an attacker planted or saw before the login is worthless after it (session
   * fixation; OWASP cheat sheet, "Renew the Session ID After Any Privilege Level Change").
   * If another request ended the session meanwhile (a logout), there is nothing to move: this
   * request goes on with a new, empty session. A signed-in session whose ID only rotates keeps its
   * age; any other starts its absolute lifetime anew.
   */
  regenerate(): Promise<void> {
    return this.#owner.regenerate(this.#state);
  }

  /**
   * Ends the session: its stored entry is removed at once and the cookie is expired. The request
   * goes on with a new, empty session, which is saved only if the handler puts something in it
   * (a "you have been logged out" message, say). When the store fails to remove it, this rejects,
   * and the save fails too (a 503), whether or not the handler awaited it.
   */
  destroy(): Promise<void> {
    return this.#owner.destroy(this.#state);
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
    // Databases keep user IDs as text, which cannot hold NUL or half a surrogate pair.
    if (userId.includes('\u0000') || /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(userId)) {
      throw new TypeError('session.bindUser(userId): userId must be text a database can store (no NUL, no lone surrogate); use the user\'s database ID');
    }
    this.#state.userId = userId;
  }
}

/** The state behind a session, for the manager; a `TypeError` for anything that is not a `Session`. */
export function stateOf(session: Session<object>, caller: string): SessionState {
  try {
    return readState(session);
  } catch {
    throw new TypeError(`${caller}: session must be the Session that sessions.load(req) gave this request`);
  }
}

/** A state for a session that is not stored yet. */
export function freshState(owner: object, isNew: boolean): SessionState {
  return {
    owner,
    id: undefined,
    data: {},
    base: undefined,
    createdAt: Date.now(),
    expiresAt: 0,
    userId: undefined,
    baseUserId: undefined,
    isNew,
    hadCookie: false,
    cookieSent: false,
    cookieStale: false,
    cookieToClear: false,
    gone: false,
    pending: undefined,
  };
}
