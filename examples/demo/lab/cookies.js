// What the lab does to cookies from the outside: plant one in the visitor's browser, edit one, and
// read which session a cookie names.
import { stringifySetCookie } from 'plain-session';

/**
 * The Set-Cookie line that puts `value` into the browser as technique `t`'s cookie, on its path:
 * what an attacker who can set cookies for the site (from a sibling subdomain, say), or the
 * visitor's own devtools, can do. Not HttpOnly-protected against that: HttpOnly stops scripts
 * from reading a cookie, not a server from setting one.
 */
export function plantLine(t, value) {
  return stringifySetCookie(t.cookieName, value, { path: t.path, httpOnly: true, sameSite: 'lax' });
}

/** The session ID a cookie value names: the value itself, or the ID inside a seal that opens. */
export function sessionIdOf(t, value, at = Date.now()) {
  if (value === undefined) return undefined;
  if (t.sealed) return t.openAt(value, at)?.id;
  if (t.plain) return undefined;
  return value;
}

/**
 * A cookie value edited by hand: one character changed in the middle of a sealed value or an ID
 * (`A` ↔ `B`, so it stays base64url), or the cart rewritten in a plain JSON cookie.
 * Answers `{ value, how }`.
 */
export function tamperValue(t, value) {
  if (t.plain) {
    let data = {};
    try {
      data = JSON.parse(decodeURIComponent(value));
    } catch {}
    data.cart = ['gold bar', 'gold bar', 'gold bar'];
    return { value: encodeURIComponent(JSON.stringify(data)), how: 'rewrote the cart inside the JSON: three gold bars, which the shop does not even sell' };
  }
  const at = Math.floor(value.length / 2);
  const was = value[at];
  const now = was === 'A' ? 'B' : 'A';
  return { value: value.slice(0, at) + now + value.slice(at + 1), how: `changed character ${at + 1} of ${value.length}, ${was} → ${now}` };
}
