/**
 * The cookie store: the whole session travels in the cookie, sealed, and the server keeps nothing.
 *
 * This is the first of the three techniques. Each response that changes the session sends the
 * session's ID, data, creation time, expiry and user, encrypted and authenticated with AES-256-GCM
 * (see `seal.ts`); each request opens it again. Because the expiry travels inside the seal, the idle
 * timeout and the absolute lifetime (OWASP Session Management Cheat Sheet, "Session Expiration",
 * https://cheatsheetseries.owasp.org/cheatsheets/Session_Management_Cheat_Sheet.html#session-expiration)
 * are enforced from the cookie alone: a cookie replayed after its expiry is refused even if the
 * browser, or a thief, kept it.
 *
 * What a stateless session cannot do: forget a cookie before it expires. There is no server-side
 * record to delete, so `destroy()` only asks the browser to drop its copy; a stolen copy keeps
 * working until its idle timeout or absolute lifetime runs out. The mitigations, in order:
 * - keep the idle timeout short, since every unused copy dies that long after its last use;
 * - pass `isRevoked` with a small denylist of destroyed session IDs (keep each ID as long as the
 *   absolute lifetime), or refuse the sessions of a user created before a "log out everywhere" time;
 * - when you need revocation for real, use a server-side store.
 *
 * Size: browsers promise only 4096 bytes per cookie, name, value and attributes together
 * (RFC 6265 §6.1, https://www.rfc-editor.org/rfc/rfc6265#section-6.1). Sealing adds 113 bytes
 * (key ID, IV, tag, session ID and times), and each key of the data its name and the length of its
 * text, about as much as JSON's quotes and colon; base64url then writes every 3 bytes as 4 characters,
 * so with the cookie's name and attributes the JSON of `session.data` has about 2.9 KB to live in.
 * The manager refuses to send a bigger cookie rather than lose the session silently.
 */
import { checkKeys } from '../check-options.js';
import { emptyTexts, splitJson } from '../data.js';
import { hashId, isWellFormedId } from '../id.js';
import type { SealingStore, SessionRecord, StoredData } from '../store.js';
import { createSealer, isWellFormedSeal, type SealRejection, type Sealer } from './seal.js';

/** Why the cookie store refused a cookie: a reason from `seal.ts`, or the session inside is over. */
export type CookieRejection = SealRejection | 'expired' | 'revoked';

export interface CookieStoreOptions {
  /**
   * The secret the cookies are sealed with: at least 32 random characters. Give a list to rotate:
   * the first seals, all of them unseal, and a cookie opened with an older one is resealed with the
   * first on that response.
   */
  secret: string | readonly string[];
  /**
   * Hears about every cookie that was refused, for logging: the reason, and a fingerprint of the
   * cookie (12 characters of its SHA-256) to tell repeated offenders apart. Of a request that sends
   * the cookie more than once, values not even shaped like a sealed cookie are skipped unheard,
   * unless no value is: then the first one is reported, once. Never the cookie itself:
   * it is a bearer token, and logs are read by many. The request then goes on with a fresh session.
   * Called synchronously; do not throw from it.
   */
  onReject?: (reason: CookieRejection, fingerprint: string) => void;
  /**
   * Called for each cookie that opened and has not expired; answer `true` to refuse it. This is how
   * a stateless store can still log out a stolen cookie: keep the IDs of destroyed sessions in a
   * set until their absolute lifetime has passed, or refuse `record.userId`'s sessions with a
   * `record.createdAt` before the moment they asked to "log out everywhere".
   */
  isRevoked?: (id: string, record: SessionRecord) => boolean;
}

/**
 * A `SealingStore` that keeps sessions in the cookie itself. Use it as
 * `createSessions({ store: new CookieStore({ secret: process.env.SESSION_SECRET }) })`.
 *
 * Throws a `TypeError` at construction when the secret is missing, shorter than 32 characters, or
 * when `onReject` or `isRevoked` is not a function.
 */
export class CookieStore implements SealingStore {
  readonly kind = 'cookie' as const;
  readonly #sealer: Sealer;
  readonly #onReject: ((reason: CookieRejection, fingerprint: string) => void) | undefined;
  readonly #isRevoked: ((id: string, record: SessionRecord) => boolean) | undefined;

  constructor(options: CookieStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('CookieStore needs options: new CookieStore({ secret: process.env.SESSION_SECRET }).');
    }
    checkKeys(options, ['secret', 'onReject', 'isRevoked'], 'CookieStore');
    for (const name of ['onReject', 'isRevoked'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') {
        throw new TypeError(`CookieStore option ${name} must be a function, got ${typeof options[name]}.`);
      }
    }
    this.#sealer = createSealer(options.secret);
    this.#onReject = options.onReject;
    this.#isRevoked = options.isRevoked;
  }

  /**
   * Seals a session into a value for the cookie `cookieName`. The layout inside the seal (format
   * `v3`) is one line of JSON, then the texts of the data back to back:
   *
   *     ["<id>",createdAt,expiresAt,"<userId>" or null,"<key 1>",<length of text 1>,"<key 2>",…]
   *     <text 1><text 2>…
   *
   * Each text (the JSON of one key's value) is written as it is and read back by its length: no
   * escaping (putting texts inside JSON strings would escape every quote and make the cookie bigger
   * for nothing), and no parsing of the whole data only to serialize each key again.
   *
   * Throws a `TypeError` when `id` is not an ID from `generateId()`: such a cookie would be refused
   * by `unseal` on the next request, and that mistake is better found here.
   */
  seal(id: string, record: SessionRecord, cookieName: string): string {
    if (typeof id !== 'string' || !isWellFormedId(id)) {
      throw new TypeError('CookieStore.seal needs a session ID made by generateId().');
    }
    // The ID is base64url, which needs no escaping in a JSON string.
    let header = `["${id}",${JSON.stringify(record.createdAt)},${JSON.stringify(record.expiresAt)},${record.userId === undefined ? 'null' : JSON.stringify(record.userId)}`;
    let texts = '';
    for (const key in record.data) {
      const text = record.data[key]!;
      header += `,${JSON.stringify(key)},${text.length}`;
      texts += text;
    }
    return this.#sealer.seal(`${header}]\n${texts}`, cookieName);
  }

  /**
   * Opens the value of the cookie `cookieName` at time `now` (epoch ms). Answers `undefined`, and
   * tells `onReject` why, when the cookie is malformed, sealed with an unknown key or format or for
   * another cookie name ('tampered'), tampered with, expired (`now >= expiresAt`) or revoked. Never
   * throws on any cookie. `stale` is true when an older secret or format opened it, so the manager
   * reseals it with the current one.
   */
  unseal(value: string, now: number, cookieName: string): { id: string; record: SessionRecord; stale: boolean } | undefined {
    const onReject = this.#onReject;
    const opened = this.#sealer.unseal(value, cookieName, onReject && ((reason) => this.#reject(reason, value)));
    if (opened === undefined) return undefined;

    const parsed = opened.version === 3 ? parsePayload(opened.plaintext) : parseOlderPayload(opened.plaintext);
    // Only our own code seals, so this fails only if a payload layout changes without a new version.
    if (parsed === undefined) return this.#reject('malformed', value);
    if (now >= parsed.record.expiresAt) return this.#reject('expired', value);
    if (this.#isRevoked?.(parsed.id, parsed.record)) return this.#reject('revoked', value);
    return { id: parsed.id, record: parsed.record, stale: opened.keyIndex !== 0 || opened.version !== 3 };
  }

  /**
   * Whether `value` is shaped like a sealed cookie (version prefix, length, canonical base64url):
   * what `unseal` checks before any crypto. Lets the manager skip junk values of the cookie, planted
   * next to the real one, without letting them count toward the few it opens.
   */
  isWellFormed(value: string): boolean {
    return isWellFormedSeal(value);
  }

  #reject(reason: CookieRejection, value: unknown): undefined {
    this.#onReject?.(reason, typeof value === 'string' ? hashId(value).slice(0, 12) : '');
    return undefined;
  }
}

/** A `v3` payload (see `seal`), or `undefined` if it is not one. */
function parsePayload(plaintext: string): { id: string; record: SessionRecord } | undefined {
  const newline = plaintext.indexOf('\n'); // JSON.stringify never writes a raw newline
  const header = newline === -1 ? undefined : parseHeader(plaintext.slice(0, newline));
  if (header === undefined || header.length % 2 !== 0) return undefined;
  const data = emptyTexts();
  let at = newline + 1;
  for (let i = 4; i < header.length; i += 2) {
    const key = header[i];
    const length = header[i + 1];
    if (typeof key !== 'string' || typeof length !== 'number' || !Number.isInteger(length) || length < 0) return undefined;
    data[key] = plaintext.slice(at, at + length);
    at += length;
  }
  if (at !== plaintext.length) return undefined;
  return recordOf(header, data);
}

/** A `v1` or `v2` payload: the header line, then the data as one JSON object. */
function parseOlderPayload(plaintext: string): { id: string; record: SessionRecord } | undefined {
  const newline = plaintext.indexOf('\n');
  const header = newline === -1 ? undefined : parseHeader(plaintext.slice(0, newline));
  if (header === undefined || header.length !== 4) return undefined;
  const data = splitJson(plaintext.slice(newline + 1));
  return data === undefined ? undefined : recordOf(header, data);
}

function parseHeader(line: string): unknown[] | undefined {
  let header: unknown;
  try {
    header = JSON.parse(line);
  } catch {
    return undefined;
  }
  return Array.isArray(header) && header.length >= 4 ? header : undefined;
}

function recordOf(header: unknown[], data: StoredData): { id: string; record: SessionRecord } | undefined {
  const [id, createdAt, expiresAt, userId] = header;
  if (typeof id !== 'string' || !isWellFormedId(id)) return undefined;
  if (typeof createdAt !== 'number' || typeof expiresAt !== 'number') return undefined;
  if (userId !== null && typeof userId !== 'string') return undefined;
  const record: SessionRecord = { data, createdAt, expiresAt };
  if (userId !== null) record.userId = userId;
  return { id, record };
}
