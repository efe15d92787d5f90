/**
 * Sealing: authenticated encryption of a string, so that it can travel in a cookie.
 *
 * AES-256-GCM (NIST SP 800-38D, https://csrc.nist.gov/pubs/sp/800/38/d/final) encrypts and
 * authenticates in one pass: without the key nobody can read the plaintext, and any change to the
 * sealed value, even one bit, makes the tag check fail. A sealed value reads
 *
 *     v3.<base64url of: keyId (4 bytes) | iv (12 bytes) | ciphertext (as long as the UTF-8 plaintext) | tag (16 bytes)>
 *
 * - `v3.` is the format version. A value with an unknown prefix is refused, so the format can change
 *   later without an old parser misreading a new cookie. The version is also the version of what
 *   the caller sealed (the CookieStore's layout of a session), so `unseal` says which one opened.
 *   `v3` authenticates, along with the ciphertext (GCM's additional data), the prefix and a context
 *   string: the cookie's name, so a value sealed for one cookie never opens as another, even where
 *   two stores share a secret, and a value never opens under another version's label. Older
 *   values still open, and the caller reseals them as `v3`: `v2` (context only, and the CookieStore's
 *   earlier layout) and `v1` (no additional data at all).
 * - `keyId` is a 4-byte fingerprint of the key that sealed the value (derived from the secret, not
 *   an index into the list), so `unseal` goes straight to the right key after a rotation. Two
 *   secrets may share a fingerprint by chance (about 1 in 4 billion); then each is tried in turn.
 * - `iv` is 96 random bits, fresh for every seal. GCM must never see the same IV twice under one key;
 *   with random IVs NIST allows 2^32 seals per key (a repeat after n seals has a chance of about
 *   n² / 2^97). That is 50 days at a steady 1000 seals a second, so rotate the secret now and then.
 * - base64url (RFC 4648 §5) is cookie-safe as is, and we accept only its canonical spelling, so two
 *   different strings never open to the same plaintext.
 *
 * Keys come from the secret through HKDF-SHA256 (RFC 5869), once, when the sealer is created. HKDF
 * turns a random secret into independent keys; it does not slow down guessing, so the secret must
 * be random (at least 32 characters), never a password a person made up.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomFillSync } from 'node:crypto';
import { isCanonicalBase64url } from '../base64url.js';

/** Shortest secret we accept, in characters. */
export const MIN_SECRET_LENGTH = 32;
/**
 * Longest value `unseal` looks at, in characters. A cookie's name and value together get 4096 bytes
 * (RFC 6265 §6.1), so anything longer never came from a browser we gave it to.
 */
export const MAX_SEALED_LENGTH = 4096;

/** Why `unseal` refused a value. */
export type SealRejection =
  | 'malformed' // not a string, wrong length, not canonical base64url
  | 'version' //   a `vN.` prefix other than `v1.` or `v2.`
  | 'key' //       sealed with a key that is not in our list
  | 'tampered'; // the key matched but the tag did not: changed, cut or forged

/** What `unseal` gives back: the plaintext, which secret in the list opened it (0 = newest), and the format version. */
export interface Unsealed {
  plaintext: string;
  keyIndex: number;
  /** 3 for what `seal` writes now; 1 or 2 for a value sealed by an older version: reseal it. */
  version: 1 | 2 | 3;
}

export interface Sealer {
  /**
   * Encrypts and authenticates `plaintext` with the first secret, bound to `context` (which is
   * authenticated, not encrypted, and not part of the value). The result is URL-safe.
   */
  seal(plaintext: string, context: string): string;
  /**
   * Opens a sealed value with whichever secret sealed it, if it was sealed for `context`. Answers
   * `undefined` for anything it cannot trust, and never throws, whatever `value` is. `onReject`, if
   * given, hears why.
   */
  unseal(value: string, context: string, onReject?: (reason: SealRejection) => void): Unsealed | undefined;
}

/** What each version's prefix is, and what it authenticates besides the ciphertext. Same keys for all. */
const PREFIX = 'v3.';
const VERSIONS = new Map<string, { version: 1 | 2 | 3; aad: (context: Buffer, prefixed: Buffer) => Buffer | undefined }>([
  ['v3.', { version: 3, aad: (_context, prefixed) => prefixed }],
  ['v2.', { version: 2, aad: (context) => context }],
  ['v1.', { version: 1, aad: () => undefined }],
]);
const KEY_ID_BYTES = 4;
const IV_BYTES = 12; // 96 bits: the IV length GCM is designed for (SP 800-38D §5.2.1.1)
const TAG_BYTES = 16; // the full 128-bit tag; shorter tags are easier to forge
const HEADER_BYTES = KEY_ID_BYTES + IV_BYTES;
// 32 bytes (an empty plaintext) make 43 base64url characters.
const MIN_BODY_LENGTH = Math.ceil(((HEADER_BYTES + TAG_BYTES) * 4) / 3);

// The HKDF salt and info labels tie the keys to this library: the same secret used elsewhere yields
// unrelated keys. Later versions keep the labels of `v1`, so that cookies sealed by `v1` still open.
const HKDF_SALT = 'plain-session';
const KEY_INFO = 'plain-session cookie v1 key';
const KEY_ID_INFO = 'plain-session cookie v1 key id';

const HOW_TO_MAKE_A_SECRET =
  `Make one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))" ` +
  'and keep it out of your source code (an environment variable, for instance).';

interface SealingKey {
  id: number; //     the 4-byte fingerprint, as an unsigned integer for quick comparison
  idBytes: Buffer; // the same fingerprint, ready to copy into a sealed value
  key: Buffer; //    the raw 256-bit AES key (faster in createCipheriv than a KeyObject)
}

/**
 * Makes a sealer from one secret or a list of them. The first secret seals; every secret unseals,
 * so you rotate by putting a new secret in front and dropping the oldest one once every cookie
 * sealed with it has expired.
 *
 * Throws a `TypeError` when the list is empty or a secret is missing, not a string, or shorter than
 * 32 characters. There is deliberately no fallback to a random development secret: it would log
 * everyone out on every restart and hide a missing setting until production.
 */
export function createSealer(secrets: string | readonly string[]): Sealer {
  const list: readonly unknown[] = Array.isArray(secrets) ? secrets : [secrets];
  if (list.length === 0) {
    throw new TypeError(`A secret is required: give a string of at least ${MIN_SECRET_LENGTH} random characters, or a list of them. ${HOW_TO_MAKE_A_SECRET}`);
  }
  const keys = list.map((secret, index) => deriveKey(secret, list.length > 1 ? `secret[${index}]` : 'secret'));
  const sealingKey = keys[0]!;
  const contexts = new ContextBytes();

  function seal(plaintext: string, context: string): string {
    const iv = nextIv();
    const cipher = createCipheriv('aes-256-gcm', sealingKey.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(contexts.of(context).prefixed);
    const ciphertext = cipher.update(plaintext, 'utf8');
    cipher.final(); // GCM is a stream mode: final() adds no bytes, it computes the tag
    // One buffer for the whole value, encoded once.
    const bytes = Buffer.allocUnsafe(HEADER_BYTES + ciphertext.length + TAG_BYTES);
    sealingKey.idBytes.copy(bytes, 0);
    iv.copy(bytes, KEY_ID_BYTES);
    ciphertext.copy(bytes, HEADER_BYTES);
    cipher.getAuthTag().copy(bytes, HEADER_BYTES + ciphertext.length);
    return PREFIX + bytes.toString('base64url');
  }

  function unseal(value: string, context: string, onReject?: (reason: SealRejection) => void): Unsealed | undefined {
    // Cheap checks first, so a hostile value costs no decoding and no cipher.
    const problem = shapeProblem(value);
    if (problem !== undefined) return rejected(onReject, problem);
    const format = VERSIONS.get(value.slice(0, PREFIX.length))!;
    const bytes = Buffer.from(value.slice(PREFIX.length), 'base64url');
    const known = contexts.of(context);
    const aad = format.aad(known.bytes, known.prefixed);

    const keyId = bytes.readUInt32BE(0);
    let matched = false;
    for (let index = 0; index < keys.length; index++) {
      const candidate = keys[index]!;
      if (candidate.id !== keyId) continue;
      matched = true;
      const plaintext = open(candidate.key, bytes, aad);
      if (plaintext !== undefined) return { plaintext, keyIndex: index, version: format.version };
    }
    return rejected(onReject, matched ? 'tampered' : 'key');
  }

  return { seal, unseal };
}

/**
 * Whether `value` has the shape of a sealed value: a known version prefix, then canonical base64url
 * of a plausible length. These are the checks `unseal` makes before any decoding or cipher, so a
 * value that fails them can never open, and finding that out costs one pass over its characters.
 * Never throws, whatever `value` is.
 */
export function isWellFormedSeal(value: string): boolean {
  return shapeProblem(value) === undefined;
}

/** Why `value` cannot be a sealed value, from its shape alone, or `undefined` if it could be one. */
function shapeProblem(value: unknown): 'malformed' | 'version' | undefined {
  if (typeof value !== 'string' || value.length > MAX_SEALED_LENGTH) return 'malformed';
  if (!VERSIONS.has(value.slice(0, PREFIX.length))) return /^v\d+\./.test(value) ? 'version' : 'malformed';
  if (value.length < PREFIX.length + MIN_BODY_LENGTH) return 'malformed';
  return isCanonicalBase64url(value, PREFIX.length) ? undefined : 'malformed';
}

function rejected(onReject: ((reason: SealRejection) => void) | undefined, reason: SealRejection): undefined {
  onReject?.(reason);
  return undefined;
}

/**
 * The additional data of each context (cookie name) met so far, as `v2` (its UTF-8 bytes) and `v3`
 * (the prefix, then those bytes) authenticate it: a server has one or two contexts, and encoding
 * one on every seal and unseal is work for nothing. Bounded, so that odd callers passing ever new
 * contexts cannot grow it without end.
 */
class ContextBytes {
  readonly #known = new Map<string, { bytes: Buffer; prefixed: Buffer }>();

  of(context: string): { bytes: Buffer; prefixed: Buffer } {
    let known = this.#known.get(context);
    if (known === undefined) {
      known = { bytes: Buffer.from(context, 'utf8'), prefixed: Buffer.from(PREFIX + context, 'utf8') };
      if (this.#known.size < 16) this.#known.set(context, known);
    }
    return known;
  }
}

/** Decrypts `bytes` (a whole sealed value, decoded) with `key`, or answers `undefined` if the tag fails. */
function open(key: Buffer, bytes: Buffer, aad: Buffer | undefined): string | undefined {
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(KEY_ID_BYTES, HEADER_BYTES), { authTagLength: TAG_BYTES });
  if (aad !== undefined) decipher.setAAD(aad);
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  // The plaintext is not trusted, nor returned, until final() has checked the tag. Decoding the
  // UTF-8 ourselves is faster than asking update() for a string (which goes through a StringDecoder).
  const plaintext = decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return undefined; // "Unsupported state or unable to authenticate data"
  }
  return plaintext.toString('utf8');
}

function deriveKey(secret: unknown, name: string): SealingKey {
  if (typeof secret !== 'string') {
    throw new TypeError(`${name} must be a string of at least ${MIN_SECRET_LENGTH} random characters, got ${secret === undefined ? 'undefined' : typeof secret}. ${HOW_TO_MAKE_A_SECRET}`);
  }
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new TypeError(`${name} must be at least ${MIN_SECRET_LENGTH} characters long, got ${secret.length}. ${HOW_TO_MAKE_A_SECRET}`);
  }
  const idBytes = Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, KEY_ID_INFO, KEY_ID_BYTES));
  return {
    id: idBytes.readUInt32BE(0),
    idBytes,
    key: Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, KEY_INFO, 32)),
  };
}

// Asking the system for 12 random bytes costs about as much as the whole encryption; filling a pool
// of 256 IVs at a time makes that cost vanish. IVs are public (they are in the cookie), so the
// pool needs no wiping; each IV is still used exactly once.
const IV_POOL_SIZE = 256;
const ivPool = Buffer.alloc(IV_BYTES * IV_POOL_SIZE);
let ivOffset = ivPool.length;

function nextIv(): Buffer {
  if (ivOffset >= ivPool.length) {
    randomFillSync(ivPool);
    ivOffset = 0;
  }
  const iv = ivPool.subarray(ivOffset, ivOffset + IV_BYTES);
  ivOffset += IV_BYTES;
  return iv; // createCipheriv and Buffer.concat copy it before the pool is refilled
}
