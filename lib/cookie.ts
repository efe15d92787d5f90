/**
 * The cookie headers: reading `Cookie` and writing `Set-Cookie`.
 *
 * Every session technique starts with a cookie. The rules are in RFC 6265
 * (https://www.rfc-editor.org/rfc/rfc6265): §4.1 says what a server may send, §5.4 and §4.2 what a
 * browser sends back. Reading is lenient, because the header comes from clients we do not control
 * and must never crash the server. Writing is strict, because a stray `;`, CR or LF in a value
 * would let an attacker add attributes or whole headers (header injection).
 */

/** The cookies of a request, by name. Inherits nothing, so `__proto__` is just another name. */
export type Cookies = Record<string, string>;

// An object whose prototype chain holds nothing: no inherited `toString`, and `__proto__` is an
// ordinary key. Made by a constructor rather than `Object.create(null)`, which V8 keeps in slow
// dictionary mode: ten times faster for a header of one cookie (the trick is jshttp/cookie's).
const NullObject = function () {} as unknown as new () => Cookies;
NullObject.prototype = Object.create(null);

/**
 * Parses `Cookie` request headers into `{ name: value }`.
 *
 * Takes one header or several (HTTP/2 may send the cookies as separate header fields; RFC 9113
 * §8.2.3). Never throws on client input:
 * - pairs are split on `;`, names and values trimmed of spaces and tabs;
 * - a pair without `=` or with an empty name is skipped;
 * - the first of duplicate names wins (RFC 6265 §5.4 orders the more specific cookie first);
 * - a value in double quotes loses the quotes;
 * - a value with `%` is percent-decoded, and a bad escape keeps the raw value.
 */
export function parseCookie(header: string | readonly string[] | undefined): Cookies {
  const cookies = new NullObject();
  if (header === undefined) return cookies;
  if (typeof header === 'string') {
    parseInto(cookies, header);
  } else {
    for (const h of header) if (typeof h === 'string') parseInto(cookies, h);
  }
  return cookies;
}

/**
 * Finds the raw values of one cookie without building the whole record: what the session manager
 * does on every request. Same rules as `parseCookie` (quotes removed) except that values are not
 * percent-decoded, and that duplicates are all kept, in the order the browser sent them (RFC 6265
 * §5.4: the cookie with the longer path first), up to `max` of them. A browser sends two cookies of
 * one name when another path or a parent domain set one too, which an attacker on a sibling
 * subdomain can do: the caller decides which value to trust.
 *
 * With `isCandidate`, only the values it accepts are kept and counted toward `max`, so values that
 * cannot be what the caller wants never push a good one past the cap. When it accepts none, the
 * first value found is answered alone, so the caller can still say why it refused the cookie.
 * `isCandidate` must not throw; then neither does this, whatever the header holds.
 */
export function findCookies(
  header: string | readonly string[] | undefined,
  name: string,
  max: number,
  isCandidate?: (value: string) => boolean,
): string[] {
  const found: Found = { values: [], other: undefined, max, isCandidate };
  if (header === undefined) return found.values;
  if (typeof header === 'string') findIn(header, name, found);
  else for (const h of header) if (typeof h === 'string' && found.values.length < max) findIn(h, name, found);
  return found.values.length === 0 && found.other !== undefined ? [found.other] : found.values;
}

/** What `findCookies` has found so far, across the header lines. */
interface Found {
  values: string[];
  /** The first value `isCandidate` refused. */
  other: string | undefined;
  readonly max: number;
  readonly isCandidate: ((value: string) => boolean) | undefined;
}

// The scanners use indexOf/charCodeAt rather than a regular expression: linear in the header's
// length whatever it holds, and about twice as fast (the idea is jshttp/cookie's).

function parseInto(cookies: Cookies, header: string): void {
  const length = header.length;
  let start = 0;
  while (start < length) {
    const eq = header.indexOf('=', start);
    if (eq === -1) return; // no pair left
    let end = header.indexOf(';', start);
    if (end === -1) end = length;
    if (eq > end) {
      // Pairs without `=` lie before this `=`: skip to the one holding it, without rescanning
      // them (looking for `=` from every `;` would make a header of `;;;;` cost quadratic time).
      start = header.lastIndexOf(';', eq - 1) + 1;
      continue;
    }
    const name = trimmed(header, start, eq);
    if (name !== '' && cookies[name] === undefined) {
      cookies[name] = decode(unquote(trimmed(header, eq + 1, end)));
    }
    start = end + 1;
  }
}

function findIn(header: string, name: string, found: Found): void {
  const { values, max, isCandidate } = found;
  const length = header.length;
  let start = 0;
  while (start < length && values.length < max) {
    const eq = header.indexOf('=', start);
    if (eq === -1) return;
    let end = header.indexOf(';', start);
    if (end === -1) end = length;
    if (eq > end) {
      start = header.lastIndexOf(';', eq - 1) + 1; // as in parseInto
      continue;
    }
    if (trimmed(header, start, eq) === name) {
      const value = unquote(trimmed(header, eq + 1, end));
      if (isCandidate === undefined || isCandidate(value)) values.push(value);
      else found.other ??= value;
    }
    start = end + 1;
  }
}

/** `header.slice(start, end)` without the spaces and tabs around it (RFC 6265 §5.2 step 4–5). */
function trimmed(header: string, start: number, end: number): string {
  while (start < end && isBlank(header.charCodeAt(start))) start++;
  while (end > start && isBlank(header.charCodeAt(end - 1))) end--;
  return header.slice(start, end);
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** RFC 6265 §4.1.1 lets a value be wrapped in DQUOTEs; they are not part of the value. */
function unquote(value: string): string {
  return value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22
    ? value.slice(1, -1)
    : value;
}

function decode(value: string): string {
  if (value.indexOf('%') === -1) return value; // the common case costs nothing
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // a bad escape is the client's problem, not a reason to fail the request
  }
}

/** The attributes of a `Set-Cookie` header (RFC 6265 §4.1.2, plus SameSite and Partitioned). */
export interface SetCookieOptions {
  /** Seconds until the cookie expires, as the `Max-Age` attribute counts them. 0 deletes it. */
  maxAge?: number;
  /** When the cookie expires. Older browsers read only `Expires`, so send both for persistence. */
  expires?: Date;
  /** Which paths get the cookie. Defaults to none sent (the browser uses the request's directory). */
  path?: string;
  /** Which host and subdomains get the cookie. Leave unset to keep it to this exact host. */
  domain?: string;
  /** Only sent over HTTPS. */
  secure?: boolean;
  /** Hidden from `document.cookie`, so a cross-site script cannot read it. */
  httpOnly?: boolean;
  /** Whether the cookie rides along on cross-site requests (a CSRF defence). */
  sameSite?: 'strict' | 'lax' | 'none';
  /** Keyed to the top-level site (CHIPS). Requires `secure`. */
  partitioned?: boolean;
}

/**
 * Builds one `Set-Cookie` header value. Strict: anything that could split the header or smuggle in
 * an attribute throws a `TypeError` naming the field, so bad input never reaches the socket.
 *
 * The value is written as given; it must already be made of cookie-octets (RFC 6265 §4.1.1: no
 * spaces, `"`, `,`, `;`, `\`, controls or non-ASCII). Encode anything else first, for example with
 * `encodeURIComponent`; `parseCookie` decodes it again.
 */
export function stringifySetCookie(name: string, value: string, options: SetCookieOptions = {}): string {
  if (typeof name !== 'string' || !isToken(name)) {
    throw new TypeError(`cookie name is invalid: ${JSON.stringify(name)}; use letters, digits and !#$%&'*+-.^_\`|~ only`);
  }
  if (typeof value !== 'string' || !isCookieValue(value)) {
    throw new TypeError(`cookie value is invalid for ${name}; encode it first, e.g. with encodeURIComponent()`);
  }
  let header = `${name}=${value}`;

  if (options.maxAge !== undefined) {
    if (!Number.isInteger(options.maxAge)) {
      throw new TypeError(`option maxAge is invalid: ${options.maxAge}; give whole seconds`);
    }
    header += `; Max-Age=${options.maxAge}`;
  }
  if (options.expires !== undefined) {
    if (!(options.expires instanceof Date) || !Number.isFinite(options.expires.getTime())) {
      throw new TypeError(`option expires is invalid: ${String(options.expires)}; give a valid Date`);
    }
    header += `; Expires=${options.expires.toUTCString()}`;
  }
  if (options.domain !== undefined) {
    if (typeof options.domain !== 'string' || !isDomain(options.domain)) {
      throw new TypeError(`option domain is invalid: ${JSON.stringify(options.domain)}; give a host name such as example.com`);
    }
    header += `; Domain=${options.domain}`;
  }
  if (options.path !== undefined) {
    if (typeof options.path !== 'string' || !isPath(options.path)) {
      throw new TypeError(`option path is invalid: ${JSON.stringify(options.path)}; no ';' or control characters, ASCII only`);
    }
    header += `; Path=${options.path}`;
  }
  if (options.httpOnly) header += '; HttpOnly';
  if (options.secure) header += '; Secure';
  if (options.partitioned) header += '; Partitioned';
  if (options.sameSite !== undefined) {
    const sameSite = Object.hasOwn(SAME_SITE, options.sameSite) ? SAME_SITE[options.sameSite] : undefined;
    if (sameSite === undefined) {
      throw new TypeError(`option sameSite is invalid: ${JSON.stringify(options.sameSite)}; use 'lax', 'strict' or 'none'`);
    }
    header += `; SameSite=${sameSite}`;
  }
  return header;
}

const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const;

/** RFC 9110 §5.6.2 token: the characters a cookie name may use. */
function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || '()<>@,;:\\"/[]?={}'.includes(s[i]!)) return false;
  }
  return true;
}

/** RFC 6265 §4.1.1 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E. */
function isCookieValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x22 || c === 0x2c || c === 0x3b || c === 0x5c) return false;
  }
  return true;
}

/** RFC 1034 §3.5 host names (letters, digits, hyphens, dots), with RFC 6265's optional leading dot. */
function isDomain(s: string): boolean {
  if (s.length === 0 || s.length > 255) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e;
    if (!ok) return false;
  }
  return true;
}

/** RFC 6265 §4.1.1 path-value: any CHAR except CTLs or `;`. */
function isPath(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x3b) return false;
  }
  return true;
}
