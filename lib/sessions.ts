/**
 * The session manager: the part that turns a stateless HTTP request into "this visitor's session".
 *
 * For every request it does what the tutorial does by hand, carefully:
 *   1. read the session cookie from the `Cookie` header (lib/cookie.ts);
 *   2. check the ID's shape, then look it up in the store; an ID the store does not hold is never
 *      adopted (OWASP cheat sheet, "Session ID Generation and Verification: Permissive and Strict
 *      Session Management"): the visitor gets a new session instead;
 *   3. hand the session to your handler;
 *   4. when the response is about to start, decide the `Set-Cookie`, and before it ends, save.
 *
 * Saving waits for the store, and the response only ends after that, so a redirect right after
 * login already sees the login on the next request (read-your-writes). Nothing is buffered and no
 * bytes are held back: `res.write`, streaming and `pipe()` work as usual.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { findCookie, stringifySetCookie, type SetCookieOptions } from './cookie.js';
import { debug, shortId } from './debug.js';
import { generateId, isWellFormedId } from './id.js';
import { MemoryStore } from './memory-store.js';
import { Session, SessionCore, type SessionOwner } from './session.js';
import { isSealingStore, type AnyStore, type SealingStore, type Store } from './store.js';

export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;

declare module 'node:http' {
  interface IncomingMessage {
    /** The request's session, set by plain-session for code written in the express style. */
    session?: Session<Record<string, unknown>>;
  }
}

export interface SessionCookieOptions {
  /** The cookie's name. Default `'sid'`. A `__Host-` prefix makes the browser enforce Secure, Path=/ and no Domain. */
  name?: string;
  /** Default `'/'`: the whole site. */
  path?: string;
  /** Default unset: only the exact host that set it. */
  domain?: string;
  /**
   * Default `'auto'`: Secure when the request came over TLS. Behind a proxy that terminates TLS,
   * the connection to Node is plain HTTP, so set `true` there.
   */
  secure?: boolean | 'auto';
  /** Default `'lax'`: not sent on cross-site POSTs, a defence against CSRF. */
  sameSite?: 'lax' | 'strict' | 'none';
  /** Default `true`: scripts cannot read the cookie, so an XSS bug cannot steal the session. */
  httpOnly?: boolean;
  /**
   * Default `true`: the cookie carries `Max-Age` equal to the session's expiry, so the browser
   * forgets it when the server would. `false` sends a browser-session cookie instead (gone when
   * the browser closes; OWASP's preference for high-value sites).
   */
  persistent?: boolean;
}

export interface SessionsOptions {
  /** Where sessions live. Default: a new `MemoryStore()`. */
  store?: AnyStore;
  /** Milliseconds a session may go unused before it dies. Default 30 minutes (OWASP: 15–30 min for low-risk sites). */
  idleTimeout?: number;
  /** Milliseconds a session may live at most, however active. Default 8 hours (OWASP: 4–8 h). `Infinity` for none. */
  absoluteTimeout?: number;
  cookie?: SessionCookieOptions;
  /**
   * Called when a handler fails (status 500) or the store fails (status 503). If it does not answer
   * the request itself, plain-session does. Default: `console.error`.
   */
  onError?: (error: SessionError, req: AnyRequest, res: AnyResponse) => void;
  /**
   * Milliseconds a store call may take before the request is answered 503 anyway, so a hung
   * database cannot pile up requests forever. Default 5000. Not applied to the `MemoryStore`,
   * which cannot hang.
   */
  storeTimeout?: number;
}

/** An error on the way through a request; `statusCode` says what the visitor was answered. */
export class SessionError extends Error {
  constructor(
    message: string,
    readonly statusCode: 500 | 503,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SessionError';
  }
}

/** Browsers promise to keep a cookie of at least 4096 bytes, name and attributes included (RFC 6265 §6.1). */
export const COOKIE_SIZE_LIMIT = 4096;

const MINUTE = 60_000;

/** A handler as `wrap` takes it: an ordinary request listener with the session as third argument. */
export type SessionHandler<T extends object, Req extends AnyRequest, Res extends AnyResponse> = (
  req: Req,
  res: Res,
  session: Session<T>,
) => void | Promise<void>;

// What one request holds while it runs: the hooks wrap() put on `res` and where they stand.
interface Flight {
  session: Session<object>;
  secure: boolean;
  end: (...args: unknown[]) => unknown;
  headersDone: boolean;
  ending: boolean;
  failed: boolean;
}

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

export class SessionManager<T extends object = Record<string, unknown>> implements SessionOwner {
  /** The store sessions live in, for what goes past one request (`store.deleteUser(id)`, say). */
  readonly store: AnyStore;
  readonly #server: Store | undefined;
  readonly #sealer: SealingStore | undefined;
  readonly #idle: number;
  readonly #absolute: number;
  /** How far the expiry must move before it is written again: throttles touches and cookies. */
  readonly #renewStep: number;
  readonly #cookie: Required<Omit<SessionCookieOptions, 'domain'>> & { domain: string | undefined };
  readonly #onError: NonNullable<SessionsOptions['onError']>;
  /** Sessions some request of this process is using right now, by ID (see SessionCore). */
  readonly #active = new Map<string, SessionCore>();
  readonly #storeTimeout: number;
  /** Store calls in flight, watched by one timer rather than a timer per call. */
  readonly #calls = new Set<{ deadline: number; fail: (error: Error) => void }>();
  #watchdog: NodeJS.Timeout | undefined;

  constructor(options: SessionsOptions) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('createSessions(options): options must be an object, e.g. { store: new MemoryStore() }');
    }
    this.store = options.store ?? new MemoryStore();
    if (isSealingStore(this.store)) this.#sealer = this.store;
    else if (typeof this.store?.get === 'function' && typeof this.store.set === 'function') this.#server = this.store;
    else throw new TypeError('createSessions: store must implement get/set/touch/delete (see lib/store.ts) or be a CookieStore');

    this.#idle = checkDuration('idleTimeout', options.idleTimeout ?? 30 * MINUTE, false);
    this.#absolute = checkDuration('absoluteTimeout', options.absoluteTimeout ?? 480 * MINUTE, true);
    this.#renewStep = Math.max(1000, Math.min(this.#idle / 100, MINUTE));
    this.#cookie = checkCookieOptions(options.cookie ?? {});
    this.#onError = options.onError ?? ((error) => console.error('plain-session:', error));
    if (typeof this.#onError !== 'function') throw new TypeError('createSessions: onError must be a function (error, req, res) => void');
    this.#storeTimeout = this.store instanceof MemoryStore ? Infinity : checkDuration('storeTimeout', options.storeTimeout ?? 5000, true);
  }

  /**
   * Wraps a request handler: `createServer(sessions.wrap(handler))`. Works with `node:http`,
   * `node:https` and the `node:http2` compatibility API; the handler may be sync or async.
   * The session is saved when the response ends.
   */
  wrap<Req extends AnyRequest = IncomingMessage, Res extends AnyResponse = ServerResponse>(
    handler: SessionHandler<T, Req, Res>,
  ): (req: Req, res: Res) => void {
    if (typeof handler !== 'function') throw new TypeError('sessions.wrap(handler): handler must be a function (req, res, session)');
    return (req, res) => {
      this.load(req).then(
        (session) => this.#run(handler, req, res, session),
        (error: unknown) => this.#fail(new SessionError('session store failed while loading', 503, { cause: error }), req, res, undefined),
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
      const secure = this.#isSecure(res.req as AnyRequest);
      await this.#settle(session.core, res, !res.headersSent, secure);
    } finally {
      this.#release(session);
    }
  }

  /** Stops the store's timers and closes it, so the process can exit. */
  async close(): Promise<void> {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    await this.store.close?.();
  }

  /**
   * Calls the store and makes sure the answer is a promise that settles within `storeTimeout`,
   * whatever the store does: return a value, throw synchronously, or never answer.
   */
  #call<R>(call: () => R | Promise<R>): Promise<R> {
    let answer: Promise<R>;
    try {
      answer = Promise.resolve(call());
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#storeTimeout === Infinity) return answer;
    return new Promise<R>((resolve, reject) => {
      const pending = { deadline: Date.now() + this.#storeTimeout, fail: reject };
      this.#calls.add(pending);
      answer.then(
        (value) => (this.#calls.delete(pending), resolve(value)),
        (error: unknown) => (this.#calls.delete(pending), reject(error)),
      );
      this.#watchdog ??= setInterval(() => this.#expireCalls(), Math.max(10, Math.min(this.#storeTimeout / 4, 1000))).unref();
    });
  }

  #expireCalls(): void {
    const now = Date.now();
    for (const pending of this.#calls) {
      if (pending.deadline > now) continue;
      this.#calls.delete(pending);
      pending.fail(new Error(`session store did not answer within ${this.#storeTimeout} ms (storeTimeout)`));
    }
  }

  // --- Loading -------------------------------------------------------------------------------

  async #open(req: AnyRequest): Promise<SessionCore> {
    const value = findCookie(req.headers.cookie, this.#cookie.name);
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
    const record = await this.#call(() => server.get(value));
    const raced = this.#hold(value); // another request may have loaded it while we waited
    if (raced !== undefined) return raced;
    const data = record !== undefined && record.createdAt + this.#absolute > now ? parseData(record.data) : undefined;
    if (record === undefined || data === undefined) {
      debug('session %s: unknown or expired; not adopted, new session', shortId(value));
      return this.#fresh(true);
    }
    debug('session %s: loaded', shortId(value));
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

  #release(session: Session<object>): void {
    if (session.released) return;
    session.released = true;
    const core = session.core;
    if (--core.holders <= 0 && core.hasId && this.#active.get(core.id) === core) this.#active.delete(core.id);
  }

  // --- Running a wrapped request --------------------------------------------------------------

  async #run<Req extends AnyRequest, Res extends AnyResponse>(handler: SessionHandler<T, Req, Res>, req: Req, res: Res, session: Session<T>): Promise<void> {
    const flight = this.#hook(req, res, session);
    try {
      await handler(req, res, session);
    } catch (error) {
      if (!flight.ending) this.#release(session);
      const failure = error instanceof SessionError ? error : new SessionError('request handler failed', 500, { cause: error });
      this.#fail(failure, req, res, flight);
    }
  }

  /**
   * Puts two hooks on this one response: `writeHead` (every way of starting a response goes
   * through it) sets the cookie while headers can still change, and `end` waits for the save.
   */
  #hook(req: AnyRequest, res: AnyResponse, session: Session<T>): Flight {
    const writeHead = res.writeHead as (...args: unknown[]) => AnyResponse;
    const flight: Flight = { session, secure: this.#isSecure(req), end: res.end as Flight['end'], headersDone: false, ending: false, failed: false };
    if (session.core.holders > 0) res.once('close', () => this.#release(session)); // also when the client goes away

    res.writeHead = ((...args: unknown[]) => {
      if (!flight.headersDone && !flight.failed) {
        flight.headersDone = true;
        try {
          const saving = this.#settle(session.core, res, true, flight.secure);
          saving?.catch(() => {}); // awaited again in end(), where a failure is reported
          moveCookiesIntoHeadArgument(res, args);
        } catch (error) {
          this.#fail(new SessionError('session could not be committed', 500, { cause: error }), req, res, flight);
          return res;
        }
      }
      return writeHead.apply(res, args);
    }) as typeof res.writeHead;

    res.end = ((...args: unknown[]) => {
      if (flight.failed || flight.ending) return flight.end.apply(res, args);
      flight.ending = true;
      let saving: Promise<void> | undefined;
      try {
        saving = this.#settle(session.core, res, !flight.headersDone && !res.headersSent, flight.secure);
        flight.headersDone = true;
      } catch (error) {
        this.#release(session);
        this.#fail(new SessionError('session could not be committed', 500, { cause: error }), req, res, flight);
        return res;
      }
      if (saving === undefined) {
        this.#release(session);
        return flight.end.apply(res, args);
      }
      saving.then(
        () => {
          this.#release(session);
          flight.end.apply(res, args);
        },
        (error: unknown) => {
          this.#release(session);
          this.#fail(new SessionError('session store failed while saving', 503, { cause: error }), req, res, flight);
        },
      );
      return res;
    }) as typeof res.end;
    return flight;
  }

  #fail(error: SessionError, req: AnyRequest, res: AnyResponse, flight: Flight | undefined): void {
    if (flight !== undefined) {
      if (flight.failed) return; // one failure, one answer
      flight.failed = true;
    }
    try {
      this.#onError(error, req, res);
    } catch (hookError) {
      console.error('plain-session: onError threw', hookError);
    }
    const end = (flight?.end ?? res.end).bind(res) as (body: string) => void;
    if (res.writableEnded || res.destroyed) return; // onError answered, or the client is gone
    if (res.headersSent) {
      res.destroy(); // half a response is worse than none: the client sees the cut
      return;
    }
    res.removeHeader('set-cookie');
    res.statusCode = error.statusCode;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    end(error.statusCode === 503 ? 'Service Unavailable' : 'Internal Server Error');
  }

  // --- Committing -----------------------------------------------------------------------------

  /**
   * Decides what the response must say about the session and what the store must do, sets the
   * cookie if `headersOpen`, and starts the save. Returns the save, or `undefined` when there is
   * nothing to wait for. Throws (synchronously) only for programmer errors.
   */
  #settle(core: SessionCore, res: AnyResponse, headersOpen: boolean, secure: boolean): Promise<void> | undefined {
    const json = JSON.stringify(core.data);
    const unsaved = core.stored === undefined; // never stored under this ID
    if (unsaved && json === '{}' && core.userId === undefined) {
      // Nothing worth keeping: store nothing, set no cookie (lazy sessions), and clear a cookie
      // that names a session we do not have, so the browser stops sending it.
      if (core.staleCookie && headersOpen) this.#clearCookie(res, secure);
      core.staleCookie = false;
      return undefined;
    }

    const now = Date.now();
    const expiresAt = Math.min(now + this.#idle, core.createdAt + this.#absolute);
    const renewed = unsaved || expiresAt - core.expiresAt >= this.#renewStep;
    if (renewed) {
      core.expiresAt = expiresAt;
      core.cookieDue = true;
    }
    const changed = unsaved || json !== core.stored || core.userId !== core.storedUserId;

    if (this.#sealer !== undefined) {
      // The session *is* the cookie: without open headers there is no way left to save it.
      if ((!changed && !core.cookieDue) || !headersOpen) return undefined;
      const value = this.#sealer.seal(core.id, { data: json, createdAt: core.createdAt, expiresAt: core.expiresAt, userId: core.userId });
      this.#sendCookie(res, value, core.expiresAt - now, secure);
      core.stored = json;
      core.storedUserId = core.userId;
      core.cookieDue = false;
      return undefined;
    }

    if (core.cookieDue) {
      if (headersOpen) {
        this.#sendCookie(res, core.id, core.expiresAt - now, secure);
        core.cookieDue = false;
      } else if (unsaved) {
        // Nobody could ever name this session again, so there is no point storing it.
        process.emitWarning('plain-session: a new session was filled after the response headers were sent, so it was not saved. Change the session before writing the body.', { code: 'PLAIN_SESSION_TOO_LATE' });
        return undefined;
      }
    }
    if (changed) return this.#write(core, json);
    if (renewed) return this.#queue(core, (id) => this.#server!.touch(id, expiresAt), 'touch');
    return core.writing; // a save started earlier (at writeHead, or by a concurrent request) must finish first
  }

  /** Saves the whole record. */
  #write(core: SessionCore, json: string): Promise<void> {
    const record = { data: json, createdAt: core.createdAt, expiresAt: core.expiresAt, userId: core.userId };
    core.stored = json;
    core.storedUserId = core.userId;
    const saving = this.#queue(core, (id) => this.#server!.set(id, record), 'save');
    saving.catch(() => {
      if (core.stored === json) core.stored = '\0unsaved'; // force a rewrite next time
    });
    return saving;
  }

  /**
   * Runs store writes of one session one after another, so that concurrent requests reach the
   * store in the order they committed and the last one carries everything.
   */
  #queue(core: SessionCore, write: (id: string) => Promise<void>, what: string): Promise<void> {
    const id = core.id;
    const run = () => {
      debug('session %s: %s', shortId(id), what);
      return this.#call(() => write(id));
    };
    const previous = core.writing;
    const current = previous === undefined ? run() : previous.then(run, run);
    core.writing = current;
    const done = () => {
      if (core.writing === current) core.writing = undefined;
    };
    current.then(done, done);
    return current;
  }

  #sendCookie(res: AnyResponse, value: string, lifetimeMs: number, secure: boolean): void {
    const c = this.#cookie;
    const options: SetCookieOptions = { path: c.path, httpOnly: c.httpOnly, sameSite: c.sameSite, secure: c.secure === 'auto' ? secure : c.secure };
    if (c.domain !== undefined) options.domain = c.domain;
    if (c.persistent) options.maxAge = Math.max(0, Math.ceil(lifetimeMs / 1000));
    const header = stringifySetCookie(c.name, value, options);
    if (header.length > COOKIE_SIZE_LIMIT) {
      throw new RangeError(
        `plain-session: the session cookie would be ${header.length} bytes, over the ${COOKIE_SIZE_LIMIT}-byte limit browsers promise (RFC 6265 §6.1). ` +
          'Keep less in the session, or use a server-side store (MemoryStore or a database store).',
      );
    }
    appendSetCookie(res, header);
    // A page that sets a session cookie must not be cached and replayed to someone else
    // (OWASP cheat sheet, "Web Content Caching").
    if (!res.hasHeader('cache-control')) res.setHeader('cache-control', 'no-store');
    debug('cookie %s set (%d bytes)', c.name, header.length);
  }

  #clearCookie(res: AnyResponse, secure: boolean): void {
    const c = this.#cookie;
    const options: SetCookieOptions = { path: c.path, httpOnly: c.httpOnly, sameSite: c.sameSite, secure: c.secure === 'auto' ? secure : c.secure, maxAge: 0, expires: new Date(0) };
    if (c.domain !== undefined) options.domain = c.domain;
    appendSetCookie(res, stringifySetCookie(c.name, '', options));
    debug('cookie %s cleared', c.name);
  }

  #isSecure(req: AnyRequest | undefined): boolean {
    return (req?.socket as TLSSocket | undefined)?.encrypted === true;
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
    const sealer = this.#sealer;
    try {
      if (server !== undefined) await this.#call(() => server.delete(id));
      else await this.#call(() => sealer?.revoke?.(id, core.expiresAt));
    } catch (error) {
      throw new SessionError('session store failed while removing a session', 503, { cause: error });
    }
  }
}

function checkDuration(name: string, value: number, infinityOk: boolean): number {
  if (typeof value !== 'number' || !(value > 0) || (!infinityOk && !Number.isFinite(value))) {
    throw new RangeError(`createSessions: ${name} must be a positive number of milliseconds${infinityOk ? ' (or Infinity)' : ''}, got ${String(value)}`);
  }
  return value;
}

function checkCookieOptions(options: SessionCookieOptions) {
  const cookie = {
    name: options.name ?? 'sid',
    path: options.path ?? '/',
    domain: options.domain,
    secure: options.secure ?? 'auto',
    sameSite: options.sameSite ?? 'lax',
    httpOnly: options.httpOnly ?? true,
    persistent: options.persistent ?? true,
  } as const;
  // Cookie prefixes (RFC 6265bis §4.1.3): the browser refuses a cookie that breaks their rules,
  // which would make every session silently vanish. Refuse the configuration instead.
  if (cookie.name.startsWith('__Host-') && (cookie.secure === false || cookie.path !== '/' || cookie.domain !== undefined)) {
    throw new TypeError("createSessions: a '__Host-' cookie needs secure: true or 'auto' (and HTTPS), path: '/' and no domain");
  }
  if (cookie.name.startsWith('__Secure-') && cookie.secure === false) {
    throw new TypeError("createSessions: a '__Secure-' cookie needs secure: true or 'auto' (and HTTPS)");
  }
  if (cookie.sameSite === 'none' && cookie.secure === false) {
    throw new TypeError("createSessions: sameSite: 'none' needs secure: true; browsers reject it otherwise");
  }
  if (cookie.secure !== 'auto' && typeof cookie.secure !== 'boolean') {
    throw new TypeError(`createSessions: cookie.secure must be true, false or 'auto', got ${String(cookie.secure)}`);
  }
  // Check every attribute once now, so a typo fails at startup and not on the first request.
  stringifySetCookie(cookie.name, 'x', { path: cookie.path, sameSite: cookie.sameSite, ...(cookie.domain === undefined ? {} : { domain: cookie.domain }) });
  return cookie;
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

/** Adds a `Set-Cookie` header next to those the handler set, never over them. */
function appendSetCookie(res: AnyResponse, header: string): void {
  const previous = res.getHeader('set-cookie');
  if (previous === undefined) res.setHeader('set-cookie', header);
  else if (Array.isArray(previous)) res.setHeader('set-cookie', [...previous, header]);
  else res.setHeader('set-cookie', [String(previous), header]);
}

/**
 * `res.writeHead(status, { 'Set-Cookie': … })` replaces headers of the same name set earlier with
 * `setHeader`, which would drop ours. Merge ours into the argument instead.
 */
function moveCookiesIntoHeadArgument(res: AnyResponse, args: unknown[]): void {
  const headers = args.find((arg, i) => i > 0 && arg !== null && typeof arg === 'object' && !Array.isArray(arg)) as Record<string, unknown> | undefined;
  if (headers === undefined) return;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === 'set-cookie');
  const ours = res.getHeader('set-cookie');
  if (key === undefined || ours === undefined) return;
  const theirs = headers[key];
  headers[key] = [...(Array.isArray(theirs) ? theirs : [theirs]), ...(Array.isArray(ours) ? ours : [ours])].filter((v, i, all) => all.indexOf(v) === i);
}
