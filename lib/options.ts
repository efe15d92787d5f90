/**
 * The options of `createSessions`, their defaults, and the checks that turn a mistake in them into
 * an error at startup rather than a mystery on the first request.
 *
 * The default timeouts follow OWASP's Session Management Cheat Sheet ("Session Expiration"):
 * an idle timeout of 15–30 minutes and an absolute one of 4–8 hours for low-risk applications.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { isIP } from 'node:net';
import { checkKeys } from './check-options.js';
import { stringifySetCookie } from './cookie.js';
import { MemoryStore } from './stores/memory.js';
import { isSealingStore, MAX_TIMER_MS, type AnyStore } from './store.js';

export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;

export interface SessionCookieOptions {
  /** The cookie's name. Default `'sid'`. A `__Host-` prefix makes the browser enforce Secure, Path=/ and no Domain. */
  name?: string;
  /** Default `'/'`: the whole site. Must start with `/`: browsers ignore any other Path (RFC 6265 §5.2.4). */
  path?: string;
  /** Default unset: only the exact host that set it. */
  domain?: string;
  /**
   * Default `'auto'`: Secure when the request came over TLS. Behind a proxy that terminates TLS,
   * the connection to Node is plain HTTP, so set `true` there. `sameSite: 'none'` and the
   * `__Host-`/`__Secure-` prefixes need `true`: browsers drop such a cookie without Secure.
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

export interface SessionsOptions<S extends AnyStore = AnyStore> {
  /** Where sessions live. Default: a new `MemoryStore()`. */
  store?: S;
  /** Milliseconds a session may go unused before it dies. Default 30 minutes. */
  idleTimeout?: number;
  /** Milliseconds a session may live at most, however active. Default 8 hours. `Infinity` for none. */
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

export type CookieSettings = Required<Omit<SessionCookieOptions, 'domain'>> & { domain: string | undefined };

export interface Settings {
  store: AnyStore;
  idleTimeout: number;
  absoluteTimeout: number;
  /** How far the expiry must move before it is written again: throttles touches and cookies. */
  renewStep: number;
  cookie: CookieSettings;
  onError: NonNullable<SessionsOptions['onError']>;
  storeTimeout: number;
}

const MINUTE = 60_000;

/** Fills in the defaults and checks every option; throws a TypeError/RangeError that says the fix. */
export function resolveOptions(options: SessionsOptions<AnyStore>): Settings {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('createSessions(options): options must be an object, e.g. { store: new MemoryStore() }');
  }
  checkKeys(options, ['store', 'idleTimeout', 'absoluteTimeout', 'cookie', 'onError', 'storeTimeout'], 'createSessions');
  const store = options.store ?? new MemoryStore();
  if (!isSealingStore(store) && !['get', 'set', 'touch', 'delete'].every((m) => typeof (store as unknown as Record<string, unknown>)?.[m] === 'function')) {
    throw new TypeError('createSessions: store must implement get/set/touch/delete (see lib/store.ts) or be a CookieStore');
  }
  const onError = options.onError ?? ((error) => console.error('plain-session:', error));
  if (typeof onError !== 'function') throw new TypeError('createSessions: onError must be a function (error, req, res) => void');

  const idleTimeout = checkDuration('idleTimeout', options.idleTimeout ?? 30 * MINUTE, false);
  return {
    store,
    idleTimeout,
    absoluteTimeout: checkDuration('absoluteTimeout', options.absoluteTimeout ?? 480 * MINUTE, true),
    // Moving the expiry on every request would cost a store write each time; moving it once it has
    // slipped by 1% of the idle timeout (at most a minute) is as good and far cheaper. The step
    // scales with the idle timeout, so even a 1-second session is kept alive by its reads.
    renewStep: Math.min(idleTimeout / 100, MINUTE),
    cookie: checkCookieOptions(options.cookie ?? {}),
    onError,
    // Checked even for the MemoryStore, which cannot hang and gets no timeout: a bad value is a bug either way.
    storeTimeout: Math.max(checkDuration('storeTimeout', options.storeTimeout ?? 5000, true), store instanceof MemoryStore ? Infinity : 0),
  };
}

function checkDuration(name: string, value: number, infinityOk: boolean): number {
  if (typeof value !== 'number' || !(value > 0) || (value > MAX_TIMER_MS && value !== Infinity) || (!infinityOk && !Number.isFinite(value))) {
    throw new RangeError(
      `createSessions: ${name} must be a positive number of milliseconds up to ${MAX_TIMER_MS} (about 24.8 days)${infinityOk ? ', or Infinity' : ''}, got ${String(value)}`,
    );
  }
  return value;
}

function checkCookieOptions(options: SessionCookieOptions): CookieSettings {
  if (options === null || typeof options !== 'object') throw new TypeError('createSessions: cookie must be an object, e.g. { name: "sid" }');
  checkKeys(options, ['name', 'path', 'domain', 'secure', 'sameSite', 'httpOnly', 'persistent'], 'createSessions: cookie');
  const cookie: CookieSettings = {
    name: options.name ?? 'sid',
    path: options.path ?? '/',
    domain: options.domain,
    secure: options.secure ?? 'auto',
    sameSite: options.sameSite ?? 'lax',
    httpOnly: options.httpOnly ?? true,
    persistent: options.persistent ?? true,
  };
  if (cookie.secure !== 'auto' && typeof cookie.secure !== 'boolean') {
    throw new TypeError(`createSessions: cookie.secure must be true, false or 'auto', got ${String(cookie.secure)}`);
  }
  for (const name of ['httpOnly', 'persistent'] as const) {
    if (typeof cookie[name] !== 'boolean') throw new TypeError(`createSessions: cookie.${name} must be true or false, got ${String(cookie[name])}`);
  }
  // RFC 6265 §5.2.4: a browser ignores a Path that does not start with '/' and scopes the cookie to
  // the directory of the page that set it instead, so the session would exist on some pages only.
  if (typeof cookie.path !== 'string' || !cookie.path.startsWith('/')) {
    const fix = typeof cookie.path === 'string' ? `write ${JSON.stringify(`/${cookie.path}`)}` : "give a string such as '/app'";
    throw new TypeError(`createSessions: cookie.path must start with '/' (browsers ignore any other Path), got ${JSON.stringify(cookie.path)}; ${fix}, or leave path out for '/'`);
  }
  // Browsers drop a cookie that breaks these rules without a word, and every session would then
  // silently vanish; refuse the configuration instead. 'auto' is not enough: behind a proxy that
  // terminates TLS, or in development over plain HTTP, it would send the cookie without Secure.
  // Prefixes are matched whatever their case (RFC 6265bis §4.1.3, §5.7 step 19-20).
  const prefix = cookie.name.toLowerCase();
  if (prefix.startsWith('__host-') && (cookie.secure !== true || cookie.path !== '/' || cookie.domain !== undefined)) {
    throw new TypeError("createSessions: a '__Host-' cookie needs secure: true (HTTPS, or a proxy that terminates it), path: '/' and no domain");
  }
  if (prefix.startsWith('__secure-') && cookie.secure !== true) {
    throw new TypeError("createSessions: a '__Secure-' cookie needs secure: true (HTTPS, or a proxy that terminates it)");
  }
  if (cookie.sameSite === 'none' && cookie.secure !== true) {
    throw new TypeError("createSessions: sameSite: 'none' needs secure: true; browsers refuse a SameSite=None cookie without Secure");
  }
  if (cookie.domain !== undefined) checkDomain(cookie.domain);
  // Check every attribute once now, so a typo fails at startup and not on the first request.
  stringifySetCookie(cookie.name, 'x', { path: cookie.path, sameSite: cookie.sameSite, ...(cookie.domain === undefined ? {} : { domain: cookie.domain }) });
  return cookie;
}

/**
 * A cookie's Domain must be a host name a browser will accept (RFC 6265 §5.2.3, §5.3 step 5-6):
 * labels of letters, digits and inner hyphens, no empty label, no dot at either end, and not an IP
 * address (a cookie for an IP belongs to that host alone: leave the domain out).
 */
function checkDomain(domain: unknown): void {
  const fix = 'give a host name such as example.com, or leave domain out to keep the cookie to this host';
  if (typeof domain !== 'string' || domain === '') throw new TypeError(`createSessions: cookie.domain must be a non-empty string; ${fix}`);
  if (isIP(domain.replace(/^\[|\]$/g, '')) !== 0) throw new TypeError(`createSessions: cookie.domain ${JSON.stringify(domain)} is an IP address; leave domain out for a cookie of this host alone`);
  if (domain.length > 253) throw new TypeError(`createSessions: cookie.domain is longer than 253 characters; ${fix}`);
  for (const label of domain.split('.')) {
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label)) {
      throw new TypeError(`createSessions: cookie.domain ${JSON.stringify(domain)} has ${label === '' ? 'an empty label (a dot at an end, or two in a row)' : `the label ${JSON.stringify(label)}`}; ${fix}`);
    }
  }
}
