/**
 * Session IDs: the random, unguessable name of a server-side session.
 *
 * OWASP's Session Management Cheat Sheet ("Session ID Entropy") asks for at least 64 bits of
 * entropy from a cryptographically secure generator. We take 256 bits from `node:crypto` and write
 * them as base64url, so an ID is 43 characters of `A-Z a-z 0-9 - _` and is safe in a cookie as is.
 * Never use a user's ID, a counter or `Math.random()` as a session ID: they can be guessed.
 */
import * as crypto from 'node:crypto';
import { isCanonicalBase64url } from './base64url.js';

const ID_BYTES = 32;
/** Length of an ID: 32 bytes in base64url without padding. */
export const ID_LENGTH = 43;

// randomBytes has a fixed cost per call; drawing IDs from a pool of 128 at a time makes each ID
// about five times cheaper, and every byte is still used exactly once.
const POOL_IDS = 128;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** A fresh session ID with 256 bits of entropy from the system's CSPRNG. */
export function generateId(): string {
  if (poolOffset >= pool.length) {
    pool = crypto.randomBytes(ID_BYTES * POOL_IDS);
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + ID_BYTES);
  pool.fill(0, poolOffset, poolOffset + ID_BYTES); // a used ID does not linger in the pool
  poolOffset += ID_BYTES;
  return id;
}

/**
 * Whether `value` has the shape of an ID we issue. Anything else is rejected before any store
 * lookup, so garbage in a cookie never costs a database round trip.
 */
export function isWellFormedId(value: string): boolean {
  // 43 characters carry 258 bits: canonical means the 2 spare bits are zero, so that no two
  // different strings name the same ID.
  return value.length === ID_LENGTH && isCanonicalBase64url(value);
}

// `crypto.hash()` (Node 20.12 and later) hashes a short string about four times faster than a Hash
// object: a database store hashes the ID on every request.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash;

/**
 * The key a database store files a session under: SHA-256 of the ID, in base64url. A leaked
 * sessions table or Redis dump then holds no ID that could be replayed as a cookie
 * (OWASP: "Session ID ... stored ... hashed" in the cheat sheet's storage advice; scs does the same).
 */
export function hashId(id: string): string {
  return oneShotHash !== undefined ? oneShotHash('sha256', id, 'base64url') : crypto.createHash('sha256').update(id).digest('base64url');
}
