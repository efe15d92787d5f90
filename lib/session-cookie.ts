/**
 * The session cookie: finding it in a request and writing it on a response.
 *
 * For a server-side store the cookie holds only the session ID; for the CookieStore it holds the
 * sealed session. Either way it gets the same protective attributes (OWASP cheat sheet, "Cookies"):
 * HttpOnly, SameSite=Lax, Path=/, and Secure whenever the request came over TLS.
 */
import type { TLSSocket } from 'node:tls';
import { findCookie, stringifySetCookie, type SetCookieOptions } from './cookie.js';
import { debug } from './debug.js';
import type { AnyRequest, AnyResponse, CookieSettings } from './options.js';

/** Browsers promise to keep a cookie of at least 4096 bytes, name and attributes included (RFC 6265 §6.1). */
export const COOKIE_SIZE_LIMIT = 4096;

export class SessionCookie {
  constructor(readonly settings: CookieSettings) {}

  get name(): string {
    return this.settings.name;
  }

  /** The raw value of the session cookie in `req`, if it has one. */
  read(req: AnyRequest): string | undefined {
    return findCookie(req.headers.cookie, this.settings.name);
  }

  /**
   * Sets the cookie to `value`, living `lifetimeMs`. Throws a RangeError past 4096 bytes rather
   * than let the browser drop the cookie without a word (iron-session's old bug).
   */
  send(res: AnyResponse, value: string, lifetimeMs: number, secure: boolean): void {
    const options = this.#attributes(secure);
    if (this.settings.persistent) options.maxAge = Math.max(0, Math.ceil(lifetimeMs / 1000));
    const header = stringifySetCookie(this.settings.name, value, options);
    if (header.length > COOKIE_SIZE_LIMIT) {
      throw new RangeError(
        `plain-session: the session cookie would be ${header.length} bytes, over the ${COOKIE_SIZE_LIMIT}-byte limit browsers promise (RFC 6265 §6.1). ` +
          'Keep less in the session, or use a server-side store (MemoryStore or a database store).',
      );
    }
    append(res, header);
    debug('cookie %s set (%d bytes)', this.settings.name, header.length);
  }

  /** Tells the browser to forget the cookie (logout, or a cookie naming no session). */
  clear(res: AnyResponse, secure: boolean): void {
    const options = this.#attributes(secure);
    options.maxAge = 0;
    options.expires = new Date(0); // for browsers that predate Max-Age
    append(res, stringifySetCookie(this.settings.name, '', options));
    debug('cookie %s cleared', this.settings.name);
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

/** Adds a `Set-Cookie` header next to those the handler set, never over them (iron-session #112). */
function append(res: AnyResponse, header: string): void {
  const previous = res.getHeader('set-cookie');
  if (previous === undefined) res.setHeader('set-cookie', header);
  else if (Array.isArray(previous)) res.setHeader('set-cookie', [...previous, header]);
  else res.setHeader('set-cookie', [String(previous), header]);
  // A response that sets a session cookie must not be cached and replayed to someone else
  // (OWASP cheat sheet, "Web Content Caching"). The handler's own choice wins.
  if (!res.hasHeader('cache-control')) res.setHeader('cache-control', 'no-store');
}

/**
 * `res.writeHead(status, { 'Set-Cookie': … })` replaces headers of the same name set earlier with
 * `setHeader`, which would drop ours. Merge ours into the argument instead.
 */
export function keepCookiesThroughWriteHead(res: AnyResponse, args: unknown[]): void {
  const headers = args.find((arg, i) => i > 0 && arg !== null && typeof arg === 'object' && !Array.isArray(arg)) as Record<string, unknown> | undefined;
  if (headers === undefined) return;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === 'set-cookie');
  const ours = res.getHeader('set-cookie');
  if (key === undefined || ours === undefined) return;
  const theirs = headers[key];
  const merged = [...(Array.isArray(theirs) ? theirs : [theirs]), ...(Array.isArray(ours) ? ours : [ours])];
  headers[key] = merged.filter((value, i) => merged.indexOf(value) === i);
}
