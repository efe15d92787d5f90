/**
 * The session manager: the part that turns a stateless HTTP request into "this visitor's session".
 *
 * For every request it does what the tutorial does by hand, carefully:
 *   1. `load(req)`: read the session cookie, check the ID's shape, then look it up in the store. An
 *      ID the store does not hold is never adopted (OWASP cheat sheet, "Session ID Generation and
 *      Verification: Permissive and Strict Session Management"): the visitor gets a new session.
 *      The request gets its own copy of the session; nothing is shared with other requests.
 *   2. your handler reads and changes `session.data`;
 *   3. `cookieHeader(session, req)`, when the response headers go out: the `Set-Cookie` the
 *      response must carry, if any;
 *   4. `save(session)`, before the response ends: write what this request changed.
 * `commit(session, res)` is steps 3 and 4 together, and `wrap(handler)` does it all for you at the
 * right moments (lib/wrap.ts).
 *
 * When a server-side store sets the cookie: only when the ID changes (a new session with something
 * in it, or `regenerate()`), and it clears it only in the request that called `destroy()`. The
 * cookie lives as long as the session's absolute lifetime, and the server enforces the idle
 * timeout. So ordinary requests send no `Set-Cookie`, and a request still running with an old ID
 * after a login can never overwrite the browser's new cookie with the old one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeData, diffData, diffTexts, emptyTexts, encodeData, hasContent } from './data.js';
import { debug, shortId, tracing } from './debug.js';
import { generateId, isWellFormedId } from './id.js';
import { resolveOptions, SessionError, type AnyRequest, type AnyResponse, type SessionsOptions, type Settings } from './options.js';
import { PatchByHand } from './patch-by-hand.js';
import { freshState, Session, stateOf, type SessionOwner, type SessionState } from './session.js';
import { appendSetCookie, isSecure, SessionCookie } from './session-cookie.js';
import { StoreGuard } from './store-guard.js';
import { isSealingStore, type AnyStore, type SealingStore, type SessionPatch, type SessionRecord, type Store, type StoredData } from './store.js';
import { MemoryStore } from './stores/memory.js';
import { middlewareOf, wrapHandler, type SessionHandler } from './wrap.js';

export type { SessionHandler } from './wrap.js';
export { SessionError } from './options.js';
export type { AnyRequest, AnyResponse, SessionCookieOptions, SessionsOptions } from './options.js';

declare module 'node:http' {
  interface IncomingMessage {
    /** The request's session, set by plain-session for code written in the express style. */
    session?: Session<Record<string, unknown>>;
  }
}

/**
 * Creates the session manager. `T` is the shape of your session data.
 *
 * ```ts
 * const sessions = createSessions<{ cart: string[] }>();
 * createServer(sessions.wrap((req, res, session) => { ... })).listen(3000);
 * ```
 *
 * `sessions.store` keeps the type of the store you pass (when `T` is inferred; with `T` given,
 * name the store's type too: `createSessions<Data, RedisStore>({ store })`).
 */
export function createSessions<T extends object = Record<string, unknown>>(
  options?: SessionsOptions<MemoryStore> & { store?: MemoryStore | undefined },
): SessionManager<T, MemoryStore>;
export function createSessions<T extends object = Record<string, unknown>, S extends AnyStore = AnyStore>(options: SessionsOptions<S>): SessionManager<T, S>;
export function createSessions<T extends object, S extends AnyStore>(options: SessionsOptions<S> = {}): SessionManager<T, S> {
  return new SessionManager<T, S>(options);
}

export class SessionManager<T extends object = Record<string, unknown>, S extends AnyStore = AnyStore> {
  /** The store sessions live in, for what goes past one request (`store.deleteUser(id)`, say). */
  readonly store: S;
  readonly #server: Store | undefined;
  readonly #sealer: SealingStore | undefined;
  readonly #settings: Settings;
  readonly #cookie: SessionCookie;
  readonly #guard: StoreGuard;
  readonly #inProcess: boolean;
  readonly #owner: SessionOwner;
  /** For a server store without `patch`: read, merge and write, as safely as one process can (lib/patch-by-hand.ts). */
  readonly #byHand: PatchByHand | undefined;

  constructor(options: SessionsOptions<S> = {}) {
    this.#settings = resolveOptions(options);
    this.store = this.#settings.store as S;
    if (isSealingStore(this.store)) this.#sealer = this.store;
    else this.#server = this.store;
    // What a cookie value must look like to be worth a store lookup or an open (see SessionCookie.read).
    const sealer = this.#sealer;
    let isCandidate: (value: string) => boolean = isWellFormedId;
    if (sealer !== undefined) isCandidate = sealer.isWellFormed ? (value) => sealer.isWellFormed!(value) : () => true;
    this.#cookie = new SessionCookie(this.#settings.cookie, isCandidate);
    this.#guard = new StoreGuard(this.#settings.storeTimeout);
    if (this.#server !== undefined && typeof this.#server.patch !== 'function') this.#byHand = new PatchByHand(this.#server, this.#guard);
    // Exactly our MemoryStore (a subclass may do anything in its methods): see #storeCall.
    this.#inProcess = this.#server !== undefined && Object.getPrototypeOf(this.#server) === MemoryStore.prototype;
    // A handler that forgets to `await session.destroy()` must lose nothing: a failed removal fails
    // the save too, which answers 503 and tells onError (see #remove). So the promise it dropped
    // is marked handled, or Node would also end the process over it as an unhandled rejection.
    // Whoever awaits it still gets the error.
    this.#owner = {
      regenerate: (state) => handled(this.#regenerate(state)),
      destroy: (state) => handled(this.#destroy(state)),
    };
  }

  /**
   * Wraps a request handler: `createServer(sessions.wrap(handler))`. Works with `node:http`,
   * `node:https` and the `node:http2` compatibility API (there, name the types:
   * `wrap<Http2ServerRequest, Http2ServerResponse>(…)`); the handler may be sync or async.
   * The handler's response is exactly what it would be without `wrap`, plus the session cookie.
   */
  wrap<Req extends AnyRequest = IncomingMessage, Res extends AnyResponse = ServerResponse>(
    handler: SessionHandler<T, Req, Res>,
  ): (req: Req, res: Res) => void {
    if (typeof handler !== 'function') throw new TypeError('sessions.wrap(handler): handler must be a function (req, res, session)');
    return wrapHandler(this, handler, this.#settings.onError);
  }

  /**
   * The same for Express and Connect: `app.use(sessions.middleware())`, then `req.session` in every
   * route after it. The session is saved as the response ends, exactly as with `wrap`; a store that
   * fails while loading goes to `next(error)`, for the app's error handler.
   */
  middleware<Req extends AnyRequest = IncomingMessage, Res extends AnyResponse = ServerResponse>(): (
    req: Req,
    res: Res,
    next: (error?: unknown) => void,
  ) => void {
    return middlewareOf<T, Req, Res>(this, this.#settings.onError);
  }

  /**
   * Reads the request's session: the one its cookie names, or a new empty one. Every call asks the
   * store, and every call gives a session of its own. Rejects only when the store fails; a bad,
   * unknown or expired cookie gives a new session, never an error.
   */
  async load(req: AnyRequest): Promise<Session<T>> {
    const values = this.#cookie.read(req);
    let state: SessionState | undefined;
    if (this.#sealer !== undefined) {
      if (values.length > 0) state = this.#openSealed(values, this.#sealer);
    } else {
      // Each well-formed ID in turn, until one names a live session (see SessionCookie.read). The
      // loop is here rather than in a helper of its own: one async function fewer on every request.
      for (const id of values) {
        if (!isWellFormedId(id)) {
          debug('cookie %s: not a well-formed session ID; rejected without a store lookup', this.#cookie.name);
          continue;
        }
        const server = this.#server!;
        let record: SessionRecord | undefined;
        try {
          record = await this.#storeCall(() => server.get(id));
        } catch (error) {
          throw storeFailure('loading', error);
        }
        state = record && this.#loaded(id, record, Date.now());
        if (state !== undefined) {
          if (tracing) debug('session %s: loaded', shortId(id));
          break;
        }
        debug('session %s: unknown or expired; not adopted', shortId(id));
      }
    }
    state ??= freshState(this, true); // no cookie, or one naming nothing: left alone (see #destroy)
    const session = new Session<T>(state, this.#owner);
    (req as IncomingMessage).session = session as unknown as Session<Record<string, unknown>>;
    return session;
  }

  /**
   * The `Set-Cookie` value the response must carry for this session, or `undefined` when the
   * browser's cookie is right as it is. Call it once the handler is done changing the session and
   * the headers are about to be sent (`commit` and `wrap` do). It counts the cookie as sent: a second
   * call answers `undefined` unless the session changed again in a way the browser must learn.
   * Throws a `RangeError` when a sealed cookie would pass 4096 bytes, and a `TypeError` when the
   * data cannot be serialized (a BigInt, a cycle).
   */
  cookieHeader(session: Session<T>, req: AnyRequest): string | undefined {
    const state = this.#stateOf(session, 'sessions.cookieHeader(session, req)');
    const secure = isSecure(req);
    if (this.#sealer !== undefined) return this.#seal(state, this.#sealer, secure);

    if (state.base === undefined && !state.cookieSent && !state.gone && (hasContent(state.data) || state.userId !== undefined)) {
      // A new session (or a regenerated one) with something in it: tell the browser its ID. The
      // cookie lives as long as the session may; the server enforces the idle timeout.
      state.cookieSent = true;
      state.cookieToClear = false;
      state.id ??= generateId();
      return this.#cookie.line(state.id, state.createdAt + this.#settings.absoluteTimeout - Date.now(), secure);
    }
    if (state.cookieToClear) {
      state.cookieToClear = false;
      return this.#cookie.clearLine(secure);
    }
    return undefined;
  }

  /**
   * Writes what this request changed: a new session is stored whole, a loaded one gets a patch of
   * its changed keys (or only a new expiry, once it has moved by a renewal step). A session that
   * is gone from the store meanwhile (destroyed, regenerated, expired elsewhere) stays gone, and
   * this request's changes are dropped. Rejects with a `SessionError` (503) when the store fails.
   */
  save(session: Session<T>): Promise<void> {
    // Not `async`: the promise of #save is handed on as it is, one turn of the microtask queue
    // fewer on every request. A misused argument still rejects rather than throws.
    let state: SessionState;
    try {
      state = this.#stateOf(session, 'sessions.save(session)');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#sealer === undefined ? this.#save(state, this.#server!) : this.#checkSealed(state);
  }

  /**
   * Sets the session cookie on `res` (if the headers are not sent yet) and saves the session.
   * Call it before `res.end()` when you do not use `wrap`. Rejects when the store fails, and
   * throws a `RangeError` when a sealed cookie would pass 4096 bytes.
   */
  commit(session: Session<T>, res: AnyResponse): Promise<void> {
    if (!res.headersSent) {
      try {
        const line = this.cookieHeader(session, (res as { req: AnyRequest }).req);
        if (line !== undefined) appendSetCookie(res, line);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.save(session);
  }

  /** Stops the timers and closes the store, so the process can exit. */
  async close(): Promise<void> {
    this.#guard.close();
    await this.store.close?.();
  }

  // --- Loading -------------------------------------------------------------------------------

  #openSealed(values: string[], sealer: SealingStore): SessionState | undefined {
    const now = Date.now();
    for (const value of values) {
      const opened = sealer.unseal(value, now, this.#cookie.name);
      const state = opened && this.#loaded(opened.id, opened.record, now);
      if (state !== undefined) {
        state.cookieStale = opened!.stale; // an old key or format: reseal with the current one
        if (tracing) debug('cookie %s: sealed session %s opened', this.#cookie.name, shortId(opened!.id));
        return state;
      }
    }
    debug('cookie %s: sealed session rejected (tampered, old key, other cookie, or expired); new session', this.#cookie.name);
    return undefined;
  }

  /** A state from a stored record, or `undefined` when the record is past its lifetime or corrupt. */
  #loaded(id: string, record: SessionRecord, now: number): SessionState | undefined {
    if (!(record.expiresAt > now) || !(record.createdAt + this.#settings.absoluteTimeout > now)) return undefined;
    const data = decodeData(record.data);
    if (data === undefined) return undefined;
    const state = freshState(this, false);
    state.id = id;
    state.data = data;
    state.base = record.data;
    state.createdAt = record.createdAt;
    state.expiresAt = record.expiresAt;
    state.userId = state.baseUserId = record.userId ?? undefined;
    state.hadCookie = true;
    return state;
  }

  // --- Saving ----------------------------------------------------------------------------------

  async #save(state: SessionState, server: Store): Promise<void> {
    if (state.pending !== undefined) await state.pending; // the old ID must be gone before anything is written (regenerate, destroy)
    if (state.gone) return;
    const now = Date.now();
    const expiresAt = this.#expiry(state, now);

    if (state.base === undefined) {
      if (!hasContent(state.data) && state.userId === undefined) return; // nothing worth keeping (lazy sessions)
      if (!state.cookieSent) return tooLate(); // the browser never got the ID: nobody could name this session
      const texts = encodeData(state.data);
      const id = state.id!;
      const record: SessionRecord = { data: texts, createdAt: state.createdAt, expiresAt, userId: state.userId };
      if (tracing) debug('session %s: stored', shortId(id));
      try {
        // An insert the visitor was told failed (storeTimeout) must not turn up later.
        await this.#storeCall(() => server.set(id, record), () => void server.delete(id).catch(() => {}));
      } catch (error) {
        throw storeFailure('saving', error);
      }
      this.#saved(state, texts, expiresAt);
      return;
    }

    const id = state.id!;
    const diff = diffData(state.base, state.data);
    const userChanged = state.userId !== state.baseUserId;
    const renew = expiresAt - state.expiresAt >= this.#settings.renewStep;
    if (diff === undefined && !userChanged) {
      if (!renew) return;
      if (tracing) debug('session %s: touch', shortId(id));
      try {
        await this.#storeCall(() => server.touch(id, expiresAt));
      } catch (error) {
        throw storeFailure('saving', error);
      }
      state.expiresAt = expiresAt;
      return;
    }
    const patch: SessionPatch = {
      set: diff?.set ?? emptyTexts(),
      remove: diff?.remove ?? [],
      // A session that joins a user gets its expiry too, so a user index can be kept exact.
      expiresAt: renew || userChanged ? expiresAt : undefined,
      userId: userChanged ? state.userId : undefined,
    };
    if (tracing) debug('session %s: patch %s', shortId(id), [...Object.keys(patch.set), ...patch.remove.map((key) => `-${key}`)].join(' '));
    let applied: boolean;
    try {
      const byHand = this.#byHand;
      applied = byHand === undefined
        ? await this.#storeCall(() => server.patch!(id, patch))
        : // A merge that passed storeTimeout and lands after a logout of this process is undone.
          await this.#storeCall(() => byHand.patch(id, patch), () => byHand.wasDestroyed(id) && void server.delete(id).catch(() => {}));
    } catch (error) {
      throw storeFailure('saving', error);
    }
    if (!applied) {
      state.gone = true;
      debug('session %s: gone from the store (logged out, regenerated or expired meanwhile); this request\'s changes are dropped', shortId(id));
      return;
    }
    this.#saved(state, diff?.texts ?? state.base, patch.expiresAt ?? state.expiresAt);
  }

  #saved(state: SessionState, texts: StoredData, expiresAt: number): void {
    state.base = texts;
    state.baseUserId = state.userId;
    state.expiresAt = expiresAt;
  }

  /** For a cookie session, `cookieHeader` did the saving; a change made after it can no longer reach the browser. */
  async #checkSealed(state: SessionState): Promise<void> {
    if (!state.cookieSent && state.base === undefined && !hasContent(state.data) && state.userId === undefined) return;
    const base = state.base ?? emptyTexts();
    if (diffData(base, state.data) !== undefined || state.userId !== state.baseUserId) tooLate();
  }

  /** Seals the session into its cookie when the browser's copy must change, or answers `undefined`. */
  #seal(state: SessionState, sealer: SealingStore, secure: boolean): string | undefined {
    if (state.base === undefined && !hasContent(state.data) && state.userId === undefined) {
      if (!state.cookieToClear) return undefined;
      state.cookieToClear = false;
      return this.#cookie.clearLine(secure);
    }
    const texts = encodeData(state.data);
    const now = Date.now();
    const expiresAt = this.#expiry(state, now);
    const changed = state.base === undefined || diffTexts(state.base, texts) !== undefined || state.userId !== state.baseUserId;
    if (!changed && !state.cookieStale && expiresAt - state.expiresAt < this.#settings.renewStep) return undefined;
    state.id ??= generateId();
    const record: SessionRecord = { data: texts, createdAt: state.createdAt, expiresAt, userId: state.userId };
    const line = this.#cookie.line(sealer.seal(state.id, record, this.#cookie.name), expiresAt - now, secure);
    if (tracing) debug('session %s: sealed into the cookie', shortId(state.id));
    this.#saved(state, texts, expiresAt);
    state.cookieSent = true;
    state.cookieStale = false;
    state.cookieToClear = false;
    return line;
  }

  /** When a session used now expires: the idle timeout from now, but never past its absolute lifetime. */
  #expiry(state: SessionState, now: number): number {
    return Math.min(now + this.#settings.idleTimeout, state.createdAt + this.#settings.absoluteTimeout);
  }

  // --- regenerate() and destroy() -------------------------------------------------------------

  async #regenerate(state: SessionState): Promise<void> {
    const oldId = state.base !== undefined ? state.id : undefined;
    // The absolute lifetime (OWASP cheat sheet, "Absolute Timeout") counts from the sign-in: a
    // signed-in session that only rotates its ID keeps its age, or rotating now and then would let
    // it live forever; a session signing someone in (login) starts a new lifetime.
    const rotating = state.baseUserId !== undefined && state.userId === state.baseUserId;
    state.id = generateId();
    state.base = undefined;
    state.baseUserId = undefined;
    if (!rotating) state.createdAt = Date.now();
    state.expiresAt = 0;
    state.cookieSent = false;
    state.gone = false;
    debug('session %s: regenerated as %s', oldId ? shortId(oldId) : '(new)', shortId(state.id));
    if (oldId === undefined) return;
    if (await this.#remove(state, oldId)) return;
    // The old session was gone already: logged out, or "log out everywhere", by another request
    // while this one ran. Carrying its data and user to a new ID would undo that logout, so this
    // request goes on with a new, empty session, as if its cookie had named nothing.
    debug('session %s: gone from the store before regenerate() could move it; a new, empty session instead', shortId(oldId));
    Object.assign(state, freshState(this, true), { hadCookie: state.hadCookie, pending: state.pending });
  }

  async #destroy(state: SessionState): Promise<void> {
    const oldId = state.base !== undefined ? state.id : undefined;
    // Expire the browser's cookie if it has one from us. A cookie naming a session we do not hold is
    // left alone otherwise: clearing it could delete the cookie a login just set in another tab.
    const hadCookie = state.hadCookie || state.cookieSent;
    Object.assign(state, freshState(this, true), { hadCookie, cookieToClear: hadCookie, pending: state.pending });
    debug('session %s: destroyed', oldId ? shortId(oldId) : '(new)');
    if (oldId !== undefined) await this.#remove(state, oldId);
  }

  /** Deletes `id` from the store, and answers whether a live session was there (see Store.delete). */
  #remove(state: SessionState, id: string): Promise<boolean> {
    const server = this.#server;
    if (server === undefined) return Promise.resolve(true); // a sealed cookie cannot be taken back (see stores/cookie.ts)
    let before = state.pending ?? Promise.resolve();
    // A store without patch(): no later merge may write the ID back, and the delete comes after the merges in flight.
    if (this.#byHand !== undefined) before = Promise.all([before, this.#byHand.destroying(id)]).then(() => {});
    const removal = before.then(() =>
      this.#storeCall(() => server.delete(id)).then(
        (answer) => answer !== false,
        (error: unknown) => {
          throw storeFailure('removing', error);
        },
      ),
    );
    // The save waits for the removal, and fails with it: a logout the store did not carry out must
    // not answer as if it had (the response becomes a 503, through the save).
    state.pending = removal.then(() => {});
    state.pending.catch(() => {}); // reported by the save; a session never saved has nothing to report it to
    return removal;
  }

  // --- helpers ---------------------------------------------------------------------------------

  #stateOf(session: Session<T>, caller: string): SessionState {
    const state = stateOf(session, caller);
    if (state.owner !== this) throw new TypeError(`${caller}: this session was loaded by another createSessions() manager`);
    return state;
  }

  /**
   * Runs a store call under `storeTimeout`, and answers the store's own promise: its callers turn a
   * failure into a `SessionError` (503) with `storeFailure`, each around its own `await`, so that no
   * promise stands between them and the store. Our own MemoryStore, a Map in this process, cannot
   * hang: its calls go unwatched, which saves a promise and a turn of the microtask queue each.
   */
  #storeCall<R>(call: () => Promise<R>, onLate?: () => void): Promise<R> {
    return this.#inProcess ? call() : this.#guard.call(call, onLate);
  }
}

/** A failed store call, as the request sees it: 503, with the store's error as the cause. */
function storeFailure(what: 'loading' | 'saving' | 'removing', error: unknown): SessionError {
  return new SessionError(`session store failed while ${what} a session`, 503, { cause: error });
}

/** `promise`, with a handler attached so that nobody awaiting it is not an unhandled rejection. */
function handled<R>(promise: Promise<R>): Promise<R> {
  promise.catch(() => {});
  return promise;
}

function tooLate(): void {
  process.emitWarning(
    'plain-session: the session changed after the response headers were sent, so the change could not be saved. Change the session before writing the body.',
    { code: 'PLAIN_SESSION_TOO_LATE' },
  );
}
