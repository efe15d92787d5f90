/**
 * base64url (RFC 4648 §5, without padding): how session IDs and sealed cookies are written. Its
 * alphabet, `A-Z a-z 0-9 - _`, is safe in a cookie value as is (RFC 6265 §4.1.1).
 *
 * We accept only the canonical spelling, the one Node writes. `Buffer.from(value, 'base64url')`
 * alone is lenient: it skips characters outside the alphabet and ignores the spare low bits of the
 * last character, so many different strings would decode to the same bytes, and a cookie could be
 * changed without changing what it names.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Each ASCII code's value in the alphabet, or -1 for a character outside it. A table lookup per
 * character is about three times faster than comparing ranges, and IDs are checked on every request
 * that carries a cookie.
 */
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

/**
 * Whether `value`, from `start` on, is canonical base64url: only characters of the alphabet, a
 * length that ends on a whole byte, and the bits of the last character that belong to no byte zero.
 */
export function isCanonicalBase64url(value: string, start = 0): boolean {
  const length = value.length - start;
  if (length % 4 === 1) return false; // 6 bits cannot end a byte
  let last = 0;
  for (let i = start; i < value.length; i++) {
    const c = value.charCodeAt(i);
    last = c < 128 ? VALUE[c]! : -1;
    if (last < 0) return false;
  }
  // After a group of 2 or 3 characters, the last one carries 4 or 2 bits that belong to no byte.
  const spare = length % 4 === 2 ? 0b1111 : length % 4 === 3 ? 0b11 : 0;
  return (last & spare) === 0;
}
