/**
 * The session cookie: finding it in a request and writing it on a response.
 *
 * For a server-side store the cookie holds only the session ID; for the CookieStore it holds the
 * sealed session. Either way it gets the same protective attributes (OWASP cheat sheet, "Cookies"):
 * HttpOnly, SameSite=Lax, Path=/, and Secure whenever the request came over TLS.
 */
import type { TLSSocket } from 'node:tls';
import { findCookies, stringifySetCookie, type SetCookieOptions } from './cookie.js';
import { debug, tracing } from './debug.js';
import type { AnyRequest, AnyResponse, CookieSettings } from './options.js';

/** Browsers promise to keep a cookie of at least 4096 bytes, name and attributes included (RFC 6265 §6.1). */
export const COOKIE_SIZE_LIMIT = 4096;

/** The longest `Max-Age` browsers keep: 400 days (RFC 6265bis §5.6.2). */
const MAX_AGE_CAP_MS = 400 * 24 * 3_600_000;

/**
 * How many values of the session cookie that could be a session (a well-formed ID, or a value shaped
 * like a sealed cookie) a request may offer before we stop looking. A browser sends more than one
 * when a parent domain or another path set one too (RFC 6265 §5.4), and a sibling subdomain can plant
 * such values on purpose, so we try several, in order. But each one tried costs a store lookup or an
 * AES-GCM open, so without a cap one request of a few kilobytes could cost hundreds of them. Values
 * that cannot be a session are skipped for the price of a look at their characters and never
 * count: junk cannot push the real cookie out of reach. An attacker who plants this many
 * well-formed values before the real one can still log a visitor out; the `__Host-` prefix stops
 * subdomains from planting at all.
 */
const MAX_CANDIDATES = 8;

export class SessionCookie {
  /**
   * `isCandidate` tells, from its shape alone, whether a value could name a session: `isWellFormedId`
   * for a server-side store, the sealing store's `isWellFormed` for cookie sessions.
   */
  constructor(
    readonly settings: CookieSettings,
    readonly isCandidate: (value: string) => boolean,
  ) {}

  get name(): string {
    return this.settings.name;
  }

  /**
   * The values of the session cookie in `req` that could name a session, in the order the browser
   * sent them, at most `MAX_CANDIDATES`. Usually one; more when a duplicate was planted from a
   * sibling subdomain (`sid=junk` before the real `sid`), so the manager tries each rather than give
   * up on the first. When none could, the first value alone, so that the store can say why it was
   * refused (a trace line, the CookieStore's `onReject`).
   */
  read(req: AnyRequest): string[] {
    return findCookies(req.headers.cookie, this.settings.name, MAX_CANDIDATES, this.isCandidate);
  }

  /**
   * The `Set-Cookie` value that sets the cookie to `value`, living `lifetimeMs` when the cookie is
   * persistent. Throws a RangeError past 4096 bytes rather than let the browser drop the cookie
   * without a word (iron-session's old bug).
   */
  line(value: string, lifetimeMs: number, secure: boolean): string {
    const options = this.#attributes(secure);
    if (this.settings.persistent) options.maxAge = Math.max(0, Math.ceil(Math.min(lifetimeMs, MAX_AGE_CAP_MS) / 1000));
    const header = stringifySetCookie(this.settings.name, value, options);
    if (header.length > COOKIE_SIZE_LIMIT) {
      throw new RangeError(
        `plain-session: the session cookie would be ${header.length} bytes, over the ${COOKIE_SIZE_LIMIT}-byte limit browsers promise (RFC 6265 §6.1). ` +
          'Keep less in the session, or use a server-side store (MemoryStore or a database store).',
      );
    }
    if (tracing) debug('cookie %s set (%d bytes)', this.settings.name, header.length);
    return header;
  }

  /** The `Set-Cookie` value that tells the browser to forget the cookie (logout). */
  clearLine(secure: boolean): string {
    const options = this.#attributes(secure);
    options.maxAge = 0;
    options.expires = new Date(0); // for browsers that predate Max-Age
    debug('cookie %s cleared', this.settings.name);
    return stringifySetCookie(this.settings.name, '', options);
  }

  #attributes(secure: boolean): SetCookieOptions {
    const { path, httpOnly, sameSite, domain } = this.settings;
    const options: SetCookieOptions = { path, httpOnly, sameSite, secure: this.settings.secure === 'auto' ? secure : this.settings.secure };
    if (domain !== undefined) options.domain = domain;
    return options;
  }
}

/** Whether the request came over TLS (HTTPS, or HTTP/2 over TLS). */
export function isSecure(req: AnyRequest | undefined): boolean {
  return (req?.socket as TLSSocket | undefined)?.encrypted === true;
}

/**
 * Adds a `Set-Cookie` header next to those the response already has, never over them
 * (iron-session #112), and `Cache-Control: no-store` unless the response chose its own: a response
 * that sets a session cookie must not be cached and replayed to someone else (OWASP cheat sheet,
 * "Web Content Caching"). For `commit(session, res)` before the headers are written.
 */
export function appendSetCookie(res: AnyResponse, line: string): void {
  appendHeader(res, 'Set-Cookie', line);
  const own = res.getHeader('cache-control');
  if (own === undefined) res.setHeader('Cache-Control', 'no-store');
  else warnIfSharedCacheable([own]);
}

/** The Cache-Control values warned about already: once each, so a busy route does not flood the log. */
const warnedCacheControl = new Set<string>();

/**
 * The handler's own Cache-Control is kept, as `wrap` promises; but if it lets a shared cache (a CDN,
 * a proxy) store a response that sets the session cookie, that cache may hand the cookie, and with
 * it the session, to every visitor it serves the copy to (RFC 9111, Security Considerations:
 * Set-Cookie does not stop caching; OWASP cheat sheet, "Web Content Caching"). Only `private` or
 * `no-store` prevent it.
 */
function warnIfSharedCacheable(values: unknown[]): void {
  const value = values.flat().map(String).join(', ');
  if (/(^|[\s,])(private|no-store)\b/i.test(value) || warnedCacheControl.has(value)) return;
  if (warnedCacheControl.size < 100) warnedCacheControl.add(value);
  process.emitWarning(
    `plain-session: a response that sets the session cookie has "Cache-Control: ${value}", which lets a shared cache store it and give the cookie to other visitors. Add "private" or "no-store" to responses that may start or change a session.`,
    { code: 'PLAIN_SESSION_SHARED_CACHE' },
  );
}

function appendHeader(res: AnyResponse, name: string, value: string): void {
  const previous = res.getHeader(name);
  if (previous === undefined) res.setHeader(name, value);
  else res.setHeader(name, [...(Array.isArray(previous) ? previous : [String(previous)]), value]);
}

/**
 * The arguments for the real `res.writeHead(...)` with the session's `Set-Cookie` lines added, so
 * that the response carries exactly the handler's headers plus ours, whichever form the handler
 * used. `writeHead(status, headers)` *replaces* headers of the same name set earlier with
 * `setHeader`, so a cookie set beforehand could be dropped; and how it does so depends on the form
 * of `headers` (an object, a flat `[name, value, …]` array or an array of pairs) and on whether
 * `setHeader` was used before (Node's "progressive" path). So:
 *
 * - when `headers` names `Set-Cookie` itself, ours join the last such entry of a *copy* (never the
 *   handler's own object, which it may reuse for every response);
 * - otherwise, when headers were set progressively, ours are appended to the response first, where
 *   `writeHead` leaves them alone;
 * - otherwise ours go at the end of a copy of `headers`, in its own form, so Node takes the same
 *   path, writes the same bytes in the same order, and throws the same errors as without us.
 *
 * `http2` is true for HTTP/2's compatibility API, which always merges into existing headers.
 */
export function withSessionHeaders(res: AnyResponse, args: unknown[], lines: readonly string[], http2: boolean): unknown[] {
  if (lines.length === 0) return args;
  // Node's own reading of writeHead(statusCode, reason?, headers?).
  const slot = typeof args[1] === 'string' || args[2] !== undefined ? 2 : 1;
  const headers = args[slot];
  const progressive = http2 || res.getHeaderNames().length > 0;
  const own = [res.getHeader('cache-control'), ...valuesOf(headers, 'cache-control')].filter((value) => value !== undefined);
  const addCacheControl = own.length === 0;
  if (!addCacheControl) warnIfSharedCacheable(own);
  const withHeaders = (value: unknown): unknown[] => {
    const copy = args.slice(0, Math.max(args.length, slot + 1));
    copy[slot] = value;
    return copy;
  };
  const appendFirst = (): unknown[] => {
    for (const line of lines) appendHeader(res, 'Set-Cookie', line);
    if (addCacheControl) res.setHeader('Cache-Control', 'no-store');
    return args;
  };

  if (Array.isArray(headers)) {
    const pairs = headers.length > 0 && Array.isArray(headers[0]);
    if (pairs && progressive && !http2) return args; // Node 20 and 24 throw for this form after setHeader; let them
    if (progressive && !names(headers, 'set-cookie')) return appendFirst();
    if (pairs) {
      const copy = (headers as unknown[][]).slice();
      const last = findLastIndex(copy, (pair) => isName(pair[0], 'set-cookie'));
      if (last >= 0) copy[last] = [copy[last]![0], [...asList(copy[last]![1]), ...lines]];
      else copy.push(['Set-Cookie', [...lines]]);
      if (addCacheControl) copy.push(['Cache-Control', 'no-store']);
      return withHeaders(copy);
    }
    const copy = headers.slice();
    let last = -1;
    for (let i = 0; i < copy.length; i += 2) if (isName(copy[i], 'set-cookie')) last = i;
    if (last >= 0) copy[last + 1] = [...asList(copy[last + 1]), ...lines];
    else copy.push('Set-Cookie', [...lines]);
    if (addCacheControl) copy.push('Cache-Control', 'no-store');
    return withHeaders(copy);
  }

  if (headers !== null && typeof headers === 'object') {
    const copy: Record<string, unknown> = { ...(headers as Record<string, unknown>) };
    const keys = Object.keys(copy);
    const last = findLastIndex(keys, (name) => isName(name, 'set-cookie'));
    if (last < 0 && progressive) {
      appendFirst();
      return withHeaders(copy);
    }
    if (last >= 0) copy[keys[last]!] = [...asList(copy[keys[last]!]), ...lines];
    else copy['Set-Cookie'] = [...lines];
    if (addCacheControl) copy['Cache-Control'] = 'no-store';
    return withHeaders(copy);
  }

  if (progressive) return appendFirst();
  return withHeaders(addCacheControl ? { 'Set-Cookie': [...lines], 'Cache-Control': 'no-store' } : { 'Set-Cookie': [...lines] });
}

function isName(name: unknown, wanted: string): boolean {
  return typeof name === 'string' && name.toLowerCase() === wanted;
}

/** Whether writeHead's `headers` argument, in any of its forms, names the header `wanted` (lower case). */
function names(headers: unknown, wanted: string): boolean {
  return valuesOf(headers, wanted).length > 0;
}

/** The values writeHead's `headers` argument, in any of its forms, gives the header `wanted` (lower case). */
function valuesOf(headers: unknown, wanted: string): unknown[] {
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      return headers.filter((pair) => Array.isArray(pair) && isName(pair[0], wanted)).map((pair) => (pair as unknown[])[1]);
    }
    const values: unknown[] = [];
    for (let i = 0; i < headers.length; i += 2) if (isName(headers[i], wanted)) values.push(headers[i + 1]);
    return values;
  }
  if (headers === null || typeof headers !== 'object') return [];
  return Object.entries(headers).filter(([name]) => isName(name, wanted)).map(([, value]) => value);
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

function findLastIndex<T>(list: readonly T[], test: (item: T) => boolean): number {
  for (let i = list.length - 1; i >= 0; i--) if (test(list[i]!)) return i;
  return -1;
}
