/**
 * The session manager: the part that turns a stateless HTTP request into "this visitor's session".
 *
 * For every request it does what the tutorial does by hand, carefully:
 *   1. read the session cookie from the `Cookie` header (lib/cookie.ts);
 *   2. check the ID's shape, then look it up in the store; an ID the store does not hold is never
 *      adopted (OWASP cheat sheet, "Session ID Generation and Verification: Permissive and Strict
 *      Session Management"): the visitor gets a new session instead;
 *   3. hand the session to your handler;
 *   4. when the response starts, decide the `Set-Cookie`; before it ends, save (lib/wrap.ts).
 *
 * Saving waits for the store, and the response only ends after that, so a redirect right after
 * login already sees the login on the next request (read-your-writes).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { debug, shortId, tracing } from './debug.js';
import { generateId, isWellFormedId } from './id.js';
import { resolveOptions, SessionError, type AnyRequest, type AnyResponse, type SessionsOptions, type Settings } from './options.js';
import { Session, SessionCore, type SessionOwner } from './session.js';
import { isSecure, SessionCookie } from './session-cookie.js';
import { StoreGuard } from './store-guard.js';
import { isSealingStore, type AnyStore, type SealingStore, type Store } from './store.js';
import { answerFailure, runWrapped, type Committer } from './wrap.js';

export { SessionError } from './options.js';
export type { AnyRequest, AnyResponse, SessionCookieOptions, SessionsOptions } from './options.js';

declare module 'node:http' {
  interface IncomingMessage {
    /** The request's session, set by plain-session for code written in the express style. */
    session?: Session<Record<string, unknown>>;
  }
}

/** A handler as `wrap` takes it: an ordinary request listener with the session as third argument. */
export type SessionHandler<T extends object, Req extends AnyRequest, Res extends AnyResponse> = (
  req: Req,
  res: Res,
  session: Session<T>,
) => void | Promise<void>;

/**
 * Creates the session manager. `T` is the shape of your session data.
 *
 * ```ts
 * const sessions = createSessions<{ cart: string[] }>();
 * createServer(sessions.wrap((req, res, session) => { ... })).listen(3000);
 * ```
 */
export function createSessions<T extends object = Record<string, unknown>>(options: SessionsOptions = {}): SessionManager<T> {
  return new SessionManager<T>(options);
}

export class SessionManager<T extends object = Record<string, unknown>> implements SessionOwner, Committer {
  /** The store sessions live in, for what goes past one request (`store.deleteUser(id)`, say). */
  readonly store: AnyStore;
  readonly #server: Store | undefined;
  readonly #sealer: SealingStore | undefined;
  readonly #settings: Settings;
  readonly #cookie: SessionCookie;
  readonly #guard: StoreGuard;
  /** Sessions some request of this process is using right now, by ID (see SessionCore). */
  readonly #active = new Map<string, SessionCore>();

  constructor(options: SessionsOptions) {
    this.#settings = resolveOptions(options);
    this.store = this.#settings.store;
    if (isSealingStore(this.store)) this.#sealer = this.store;
    else this.#server = this.store;
    this.#cookie = new SessionCookie(this.#settings.cookie);
    this.#guard = new StoreGuard(this.#settings.storeTimeout);
  }

  /**
   * Wraps a request handler: `createServer(sessions.wrap(handler))`. Works with `node:http`,
   * `node:https` and the `node:http2` compatibility API (there, name the types:
   * `wrap<Http2ServerRequest, Http2ServerResponse>(…)`); the handler may be sync or async.
   * Change the session before the response starts; it is saved when the response ends.
   */
  wrap<Req extends AnyRequest = IncomingMessage, Res extends AnyResponse = ServerResponse>(
    handler: SessionHandler<T, Req, Res>,
  ): (req: Req, res: Res) => void {
    if (typeof handler !== 'function') throw new TypeError('sessions.wrap(handler): handler must be a function (req, res, session)');
    return (req, res) => {
      this.load(req).then(
        (session) => runWrapped(this, handler, req, res, session),
        (error: unknown) => answerFailure(this.onError, new SessionError('session store failed while loading', 503, { cause: error }), req, res, undefined),
      );
    };
  }

  /**
   * Reads the request's session: the one its cookie names, or a new empty one. Rejects only when
   * the store fails; a bad, unknown or expired cookie gives a new session, never an error.
   */
  async load(req: AnyRequest): Promise<Session<T>> {
    const core = await this.#open(req);
    const session = new Session<T>(core, this);
    (req as IncomingMessage).session = session as unknown as Session<Record<string, unknown>>;
    return session;
  }

  /**
   * Sets the session cookie on `res` (if the response has not started) and saves the session.
   * Call it before `res.end()` when you do not use `wrap`. Rejects when the store fails, and
   * throws a `RangeError` when a sealed cookie would pass 4096 bytes.
   */
  async commit(session: Session<T>, res: AnyResponse): Promise<void> {
    if (session.released) return;
    try {
      await this.settle(session.core, res, !res.headersSent, isSecure(res.req as AnyRequest | undefined));
    } finally {
      this.release(session);
    }
  }

  /** Stops the timers and closes the store, so the process can exit. */
  async close(): Promise<void> {
    this.#guard.close();
    await this.store.close?.();
  }

  /** @internal */
  get onError(): Settings['onError'] {
    return this.#settings.onError;
  }

  /** @internal */
  isSecure(req: AnyRequest): boolean {
    return isSecure(req);
  }

  // --- Loading -------------------------------------------------------------------------------

  async #open(req: AnyRequest): Promise<SessionCore> {
    const value = this.#cookie.read(req);
    if (value === undefined) return this.#fresh(false);
    const now = Date.now();

    if (this.#sealer !== undefined) {
      const opened = this.#sealer.unseal(value, now);
      const data = opened && parseData(opened.record.data);
      if (!opened || !data) {
        debug('cookie %s: sealed session rejected (tampered, old key, or expired); new session', this.#cookie.name);
        return this.#fresh(true);
      }
      const { record } = opened;
      const core = new SessionCore(opened.id, data, record.createdAt, record.expiresAt, record.data, record.userId);
      core.cookieDue = opened.stale; // opened with an old key: reseal with the current one
      debug('cookie %s: sealed session %s opened', this.#cookie.name, shortId(opened.id));
      return core;
    }

    if (!isWellFormedId(value)) {
      debug('cookie %s: not a well-formed session ID; rejected without a store lookup', this.#cookie.name);
      return this.#fresh(true);
    }
    const active = this.#hold(value);
    if (active !== undefined) return active;

    const server = this.#server!;
    const record = await this.#guard.call(() => server.get(value));
    const raced = this.#hold(value); // another request may have loaded it while we waited
    if (raced !== undefined) return raced;
    const data = record !== undefined && record.createdAt + this.#settings.absoluteTimeout > now ? parseData(record.data) : undefined;
    if (record === undefined || data === undefined) {
      debug('session %s: unknown or expired; not adopted, new session', shortId(value));
      return this.#fresh(true);
    }
    if (tracing) debug('session %s: loaded', shortId(value));
    const core = new SessionCore(value, data, record.createdAt, record.expiresAt, record.data, record.userId);
    core.holders = 1;
    this.#active.set(value, core);
    return core;
  }

  #hold(id: string): SessionCore | undefined {
    const core = this.#active.get(id);
    if (core !== undefined) core.holders++;
    return core;
  }

  #fresh(staleCookie: boolean): SessionCore {
    const core = new SessionCore(undefined, {}, Date.now(), 0, undefined, undefined);
    core.staleCookie = staleCookie;
    return core;
  }

  /** @internal Lets go of the shared core once this request is done with it. */
  release(session: Session<object>): void {
    if (session.released) return;
    session.released = true;
    const core = session.core;
    if (--core.holders <= 0 && core.hasId && this.#active.get(core.id) === core) this.#active.delete(core.id);
  }

  // --- Committing -----------------------------------------------------------------------------

  /**
   * Decides what the response must say about the session and what the store must do, sets the
   * cookie if `headersOpen`, and starts the save. Returns the save, or `undefined` when there is
   * nothing to wait for. Throws (synchronously) only for programmer errors.
   * @internal
   */
  settle(core: SessionCore, res: AnyResponse, headersOpen: boolean, secure: boolean): Promise<void> | undefined {
    const json = JSON.stringify(core.data);
    const unsaved = core.stored === undefined; // never stored under this ID
    if (unsaved && json === '{}' && core.userId === undefined) {
      // Nothing worth keeping: store nothing, set no cookie (lazy sessions), and clear a cookie
      // that names a session we do not have, so the browser stops sending it.
      if (core.staleCookie && headersOpen) this.#cookie.clear(res, secure);
      core.staleCookie = false;
      return undefined;
    }

    const now = Date.now();
    const expiresAt = Math.min(now + this.#settings.idleTimeout, core.createdAt + this.#settings.absoluteTimeout);
    const renewed = unsaved || expiresAt - core.expiresAt >= this.#settings.renewStep;
    if (renewed) {
      core.expiresAt = expiresAt;
      core.cookieDue = true;
    }
    const changed = unsaved || json !== core.stored || core.userId !== core.storedUserId;

    if (this.#sealer !== undefined) {
      if (!changed && !core.cookieDue) return undefined;
      if (!headersOpen) {
        // The session *is* the cookie, and the headers are gone: there is no way left to save it.
        if (changed) tooLate();
        return undefined;
      }
      const value = this.#sealer.seal(core.id, { data: json, createdAt: core.createdAt, expiresAt: core.expiresAt, userId: core.userId });
      this.#cookie.send(res, value, core.expiresAt - now, secure);
      core.stored = json;
      core.storedUserId = core.userId;
      core.cookieDue = false;
      return undefined;
    }

    if (core.cookieDue) {
      if (headersOpen) {
        this.#cookie.send(res, core.id, core.expiresAt - now, secure);
        core.cookieDue = false;
      } else if (unsaved) {
        tooLate(); // nobody could ever name this session again, so there is no point storing it
        return undefined;
      }
    }
    if (changed) return this.#write(core, json);
    if (renewed) return this.#queue(core, (id) => this.#server!.touch(id, expiresAt), 'touch');
    return core.writing; // a save started earlier (at writeHead, or by a concurrent request) must finish first
  }

  /**
   * Saves the whole record. The record is read from the session when the save gets its turn, so a
   * save still waiting behind another one carries the changes of every request that commits
   * meanwhile, and those requests just wait for it: one write for a burst, not one each.
   */
  #write(core: SessionCore, json: string): Promise<void> {
    core.stored = json;
    core.storedUserId = core.userId;
    const id = core.id;
    const waiting = core.waitingSave;
    if (waiting !== undefined && waiting.id === id) return waiting.done;

    const turn = { id, done: Promise.resolve() };
    const runsNow = core.writing === undefined; // then `json` is the session as it is
    let written = json;
    const save = (): Promise<void> => {
      if (core.waitingSave === turn) core.waitingSave = undefined;
      if (!runsNow && core.id === id) written = core.stored = JSON.stringify(core.data);
      return this.#server!.set(id, { data: written, createdAt: core.createdAt, expiresAt: core.expiresAt, userId: core.userId });
    };
    const onFailure = () => {
      if (core.stored === written) core.stored = '\0unsaved'; // force a rewrite next time
    };
    core.waitingSave = turn;
    turn.done = this.#queue(core, save, 'save', onFailure);
    return turn.done;
  }

  /**
   * Runs store writes of one session one after another, so that concurrent requests reach the
   * store in the order they committed and the last one carries everything.
   */
  #queue(core: SessionCore, write: (id: string) => Promise<void>, what: string, onFailure?: () => void): Promise<void> {
    const id = core.id;
    const run = () => {
      if (tracing) debug('session %s: %s', shortId(id), what);
      return this.#guard.call(() => write(id));
    };
    const previous = core.writing;
    const current = previous === undefined ? run() : previous.then(run, run);
    core.writing = current;
    current.then(
      () => {
        if (core.writing === current) core.writing = undefined;
      },
      () => {
        if (core.writing === current) core.writing = undefined;
        onFailure?.();
      },
    );
    return current;
  }

  // --- regenerate() and destroy() -------------------------------------------------------------

  /** @internal Used by `session.regenerate()`. */
  async regenerate(core: SessionCore): Promise<void> {
    const oldId = core.hasId ? core.id : undefined;
    const wasStored = core.stored !== undefined;
    this.#forget(core);
    core.renameTo(generateId());
    core.createdAt = Date.now(); // a new session as far as the absolute lifetime goes
    if (core.holders > 0) this.#active.set(core.id, core);
    debug('session %s: regenerated as %s', oldId ? shortId(oldId) : '(new)', shortId(core.id));
    if (oldId !== undefined && wasStored) await this.#remove(core, oldId);
  }

  /** @internal Used by `session.destroy()`. */
  async destroy(core: SessionCore): Promise<void> {
    const oldId = core.hasId ? core.id : undefined;
    const wasStored = core.stored !== undefined;
    this.#forget(core);
    core.renameTo(undefined);
    core.cookieDue = false;
    core.staleCookie = true; // expire the browser's cookie, unless the handler starts anew
    core.isNew = true;
    core.data = {};
    core.userId = undefined;
    core.createdAt = Date.now();
    debug('session %s: destroyed', oldId ? shortId(oldId) : '(new)');
    if (oldId !== undefined && wasStored) await this.#remove(core, oldId);
  }

  #forget(core: SessionCore): void {
    if (core.hasId && this.#active.get(core.id) === core) this.#active.delete(core.id);
  }

  async #remove(core: SessionCore, id: string): Promise<void> {
    // Wait for writes in flight under the old ID, or one of them could bring it back to life.
    await core.writing?.catch(() => {});
    const server = this.#server;
    if (server === undefined) return; // a sealed cookie cannot be taken back (see cookie-store.ts)
    try {
      await this.#guard.call(() => server.delete(id));
    } catch (error) {
      throw new SessionError('session store failed while removing a session', 503, { cause: error });
    }
  }
}

/** The stored data, or `undefined` if it is not a JSON object (a corrupt or foreign record). */
function parseData(json: string): Record<string, unknown> | undefined {
  try {
    const data: unknown = JSON.parse(json);
    return data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function tooLate(): void {
  process.emitWarning('plain-session: the session changed after the response headers were sent, so the change could not be saved. Change the session before writing the body.', { code: 'PLAIN_SESSION_TOO_LATE' });
}
