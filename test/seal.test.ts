import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { sealAsOlderVersion } from './older-seals.js';
import { createSealer, MAX_SEALED_LENGTH, type SealRejection } from '../lib/stores/seal.js';

const A = 'secret-A-0123456789abcdefghijklmnop';
const B = 'secret-B-0123456789abcdefghijklmnop';
const C = 'secret-C-0123456789abcdefghijklmnop';
// Two 32-character secrets whose 4-byte key IDs collide (found by a birthday search; key ID d5d65ebd).
const COLLIDING = ['collision-test-secret-0000022601', 'collision-test-secret-0000142895'] as const;

/** Unseals and returns the rejection reason, or 'opened'. */
function outcome(sealer: ReturnType<typeof createSealer>, value: string): SealRejection | 'opened' {
  let reason: SealRejection | undefined;
  const result = sealer.unseal(value, 'sid', (r) => {
    assert.equal(reason, undefined, 'onReject is called at most once');
    reason = r;
  });
  if (result !== undefined) {
    assert.equal(reason, undefined, 'onReject is not called when the value opens');
    return 'opened';
  }
  assert.ok(reason !== undefined, 'onReject is called when the value is refused');
  return reason;
}

/** Flips one bit of the decoded bytes and re-encodes, so the result is still canonical base64url. */
function flipByteBit(sealed: string, byteIndex: number): string {
  const bytes = Buffer.from(sealed.slice(3), 'base64url');
  bytes[byteIndex]! ^= 1;
  return sealed.slice(0, 3) + bytes.toString('base64url');
}

function flipBit(value: string, index: number, bit: number): string {
  return value.slice(0, index) + String.fromCharCode(value.charCodeAt(index) ^ (1 << bit)) + value.slice(index + 1);
}

describe('createSealer: round trip', () => {
  const sealer = createSealer(A);
  const cases: Array<[string, string]> = [
    ['empty', ''],
    ['JSON', JSON.stringify({ cart: [{ sku: 'abc', qty: 2 }], user: 'alice' })],
    ['unicode', 'é 漢字 🍪 \u0000 \n "quotes"'],
    ['long', 'x'.repeat(2900)],
  ];
  for (const [name, plaintext] of cases) {
    it(`opens what it sealed: ${name}`, () => {
      const sealed = sealer.seal(plaintext, 'sid');
      assert.deepEqual(sealer.unseal(sealed, 'sid'), { plaintext, keyIndex: 0, version: 3 });
    });
  }

  it('writes v3. and URL-safe base64url, 32 bytes longer than the UTF-8 plaintext', () => {
    for (const [, plaintext] of cases) {
      const sealed = sealer.seal(plaintext, 'sid');
      assert.match(sealed, /^v3\.[A-Za-z0-9_-]+$/);
      const bytes = Buffer.byteLength(plaintext) + 4 + 12 + 16;
      assert.equal(sealed.length, 3 + Math.ceil((bytes * 4) / 3));
    }
  });

  it('uses a fresh IV each time, so the same plaintext never seals the same way twice', () => {
    const seen = new Set<string>();
    const ivs = new Set<string>();
    for (let i = 0; i < 600; i++) { // more than one refill of the IV pool
      const sealed = sealer.seal('same', 'sid');
      seen.add(sealed);
      ivs.add(Buffer.from(sealed.slice(3), 'base64url').subarray(4, 16).toString('hex'));
    }
    assert.equal(seen.size, 600);
    assert.equal(ivs.size, 600);
  });

  it('never shows the plaintext, raw or base64-encoded', () => {
    const plaintext = '{"email":"alice@example.com","role":"admin"}';
    const sealed = sealer.seal(plaintext, 'sid');
    const decoded = Buffer.from(sealed.slice(3), 'base64url');
    for (const needle of ['alice', 'example', 'admin', 'email']) {
      assert.ok(!sealed.includes(needle));
      assert.ok(!decoded.includes(needle));
      assert.ok(!sealed.includes(Buffer.from(needle).toString('base64url').slice(0, 5)));
    }
  });

  it('roundtrips any string that is well-formed UTF-16 (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (plaintext) => {
        assert.equal(sealer.unseal(sealer.seal(plaintext, 'sid'), 'sid')?.plaintext, plaintext);
      }),
      { numRuns: 300 },
    );
  });
});

describe('createSealer: refuses anything changed', () => {
  const sealer = createSealer(A);

  it('refuses every single-bit flip of a small sealed value (exhaustive)', () => {
    const sealed = sealer.seal('{"n":1}', 'sid');
    let flips = 0;
    for (let index = 0; index < sealed.length; index++) {
      for (let bit = 0; bit < 16; bit++) {
        const changed = flipBit(sealed, index, bit);
        assert.notEqual(outcome(sealer, changed), 'opened', `bit ${bit} of character ${index}`);
        flips++;
      }
    }
    assert.equal(flips, sealed.length * 16);
  });

  it('refuses a single-bit flip anywhere in any sealed value (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (plaintext, at, bit) => {
        const sealed = sealer.seal(plaintext, 'sid');
        assert.equal(sealer.unseal(flipBit(sealed, at % sealed.length, bit), 'sid'), undefined);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a sealed value cut at any length (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.nat(), (plaintext, at) => {
        const sealed = sealer.seal(plaintext, 'sid');
        const cut = sealed.slice(0, at % sealed.length);
        assert.equal(sealer.unseal(cut, 'sid'), undefined);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a sealed value with bytes cut from its middle or added at its end', () => {
    const sealed = sealer.seal('{"n":1}', 'sid');
    for (let at = 0; at < sealed.length; at++) {
      assert.equal(sealer.unseal(sealed.slice(0, at) + sealed.slice(at + 1), 'sid'), undefined, `without character ${at}`);
    }
    for (const extra of ['A', 'AA', 'AAAA', '=', '==', ' ', '.', '%3D']) {
      assert.equal(sealer.unseal(sealed + extra, 'sid'), undefined, `with ${extra} appended`);
    }
  });

  it('refuses spellings of the same bytes that are not canonical base64url', () => {
    const sealed = sealer.seal('x', 'sid'); // 33 bytes: a whole number of 4-character groups, then no padding
    const bytes = Buffer.from(sealed.slice(3), 'base64url');
    const viaBase64 = 'v3.' + bytes.toString('base64'); // may contain + and /
    if (viaBase64 !== sealed) assert.equal(outcome(sealer, viaBase64), 'malformed');
    const odd = sealer.seal('xy', 'sid'); // 34 bytes: the last character has 4 spare bits
    const last = odd.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sameBytes = odd.slice(0, -1) + alphabet[alphabet.indexOf(last) | 1]; // set a spare bit
    assert.deepEqual(Buffer.from(sameBytes.slice(3), 'base64url'), Buffer.from(odd.slice(3), 'base64url'));
    assert.equal(outcome(sealer, sameBytes), 'malformed');
    assert.equal(outcome(sealer, odd + '=='), 'malformed');
  });

  it('never throws on arbitrary input, and opens none of it (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 400 }),
          fc.tuple(fc.constantFrom('v1.', 'v2.', 'v3.'), fc.string({ maxLength: 400 })).map(([prefix, s]) => prefix + s),
          fc.tuple(fc.constantFrom('v1.', 'v2.', 'v3.'), fc.uint8Array({ minLength: 0, maxLength: 300 })).map(
            ([prefix, b]) => prefix + Buffer.from(b).toString('base64url'),
          ),
        ),
        (value) => {
          assert.equal(sealer.unseal(value, 'sid'), undefined);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('answers undefined, without throwing, for values that are not strings', () => {
    for (const value of [undefined, null, 42, {}, ['v3.x'], Buffer.from('v3.')]) {
      assert.equal(outcome(sealer, value as unknown as string), 'malformed');
    }
  });

  it('refuses a value longer than a cookie can be, before decoding it', () => {
    const huge = 'v3.' + 'A'.repeat(MAX_SEALED_LENGTH);
    assert.equal(outcome(sealer, huge), 'malformed');
    assert.equal(outcome(sealer, 'v3.' + 'A'.repeat(10_000_000)), 'malformed');
  });
});

describe('createSealer: reasons', () => {
  const sealer = createSealer(A);
  const sealed = sealer.seal('hello', 'sid');
  const body = sealed.slice(3);
  const table: Array<[string, string, SealRejection | 'opened']> = [
    ['the sealed value', sealed, 'opened'],
    ['an empty string', '', 'malformed'],
    ['a session ID', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4', 'malformed'],
    ['no prefix', body, 'malformed'],
    ['upper-case V3', 'V3.' + body, 'malformed'],
    ['v4', 'v4.' + body, 'version'],
    ['relabelled v2 (which binds the context, not the prefix)', 'v2.' + body, 'tampered'],
    ['relabelled v1 (which binds no context)', 'v1.' + body, 'tampered'],
    ['v0', 'v0.' + body, 'version'],
    ['v10', 'v10.' + body, 'version'],
    ['too short', 'v3.' + body.slice(0, 42), 'malformed'],
    ['42 random bytes', 'v3.' + Buffer.alloc(42, 7).toString('base64url'), 'key'],
    ['another key', createSealer(B).seal('hello', 'sid'), 'key'],
    ['a changed key ID', flipByteBit(sealed, 0), 'key'],
    ['a changed IV', flipByteBit(sealed, 4), 'tampered'],
    ['a changed ciphertext', flipByteBit(sealed, 16), 'tampered'],
    ['a changed tag', flipByteBit(sealed, 16 + 5 + 15), 'tampered'],
  ];
  it('another context → tampered: a value sealed for one cookie name does not open as another', () => {
    assert.equal(sealer.unseal(sealed, 'other', () => {}), undefined);
    let reason: SealRejection | undefined;
    sealer.unseal(sealed, 'sid ', (r) => (reason = r));
    assert.equal(reason, 'tampered');
  });
  it('opens a value of an older version, says which, and never one relabelled as another version', () => {
    // What v2 wrote: the cookie name as additional data; and v1: none. Same keys as v3.
    const older = (prefix: string, aad: string | undefined) => sealAsOlderVersion(A, prefix, aad, 'older');
    const v2 = older('v2.', 'sid');
    const v1 = older('v1.', undefined);
    assert.deepEqual(sealer.unseal(v2, 'sid'), { plaintext: 'older', keyIndex: 0, version: 2 });
    assert.deepEqual(sealer.unseal(v1, 'sid'), { plaintext: 'older', keyIndex: 0, version: 1 });
    assert.equal(outcome(sealer, 'v3.' + v2.slice(3)), 'tampered');
    assert.equal(outcome(sealer, 'v1.' + v2.slice(3)), 'tampered');
    assert.equal(outcome(sealer, 'v2.' + v1.slice(3)), 'tampered');
    assert.equal(sealer.unseal(v2, 'other'), undefined, 'v2 binds the cookie name');
  });
  for (const [name, value, expected] of table) {
    it(`${name} → ${expected}`, () => {
      assert.equal(outcome(sealer, value), expected);
    });
  }
});

describe('createSealer: key rotation', () => {
  const sealedWithA = createSealer(A).seal('payload', 'sid');

  it('opens with an older key and says which one', () => {
    assert.deepEqual(createSealer([B, A]).unseal(sealedWithA, 'sid'), { plaintext: 'payload', keyIndex: 1, version: 3 });
    assert.deepEqual(createSealer([C, B, A]).unseal(sealedWithA, 'sid'), { plaintext: 'payload', keyIndex: 2, version: 3 });
    assert.deepEqual(createSealer([A, B]).unseal(sealedWithA, 'sid'), { plaintext: 'payload', keyIndex: 0, version: 3 });
  });

  it('seals with the first key only', () => {
    const sealed = createSealer([B, A]).seal('payload', 'sid');
    assert.deepEqual(createSealer(B).unseal(sealed, 'sid'), { plaintext: 'payload', keyIndex: 0, version: 3 });
    assert.equal(outcome(createSealer(A), sealed), 'key');
  });

  it('refuses a value once its key has left the list', () => {
    assert.equal(outcome(createSealer([C]), sealedWithA), 'key');
    assert.equal(outcome(createSealer([C, B]), sealedWithA), 'key');
  });

  it('tries every key whose ID matches when two keys share an ID', () => {
    const [first, second] = COLLIDING;
    const both = createSealer([first, second]);
    const sealedWithSecond = createSealer(second).seal('payload', 'sid');
    // Same key ID in the value, so the sealer must try the first key, fail, and go on.
    assert.equal(sealedWithSecond.slice(0, 8), createSealer(first).seal('payload', 'sid').slice(0, 8));
    assert.deepEqual(both.unseal(sealedWithSecond, 'sid'), { plaintext: 'payload', keyIndex: 1, version: 3 });
    assert.equal(outcome(createSealer(first), sealedWithSecond), 'tampered');
  });
});

describe('createSealer: secrets', () => {
  const table: Array<[string, unknown, RegExp]> = [
    ['missing', undefined, /secret must be a string of at least 32 random characters, got undefined/],
    ['a number', 42, /secret must be a string .* got number/],
    ['too short', 'x'.repeat(31), /secret must be at least 32 characters long, got 31/],
    ['empty', '', /got 0/],
    ['an empty list', [], /A secret is required/],
    ['a short one in a list', [A, 'short'], /secret\[1\] must be at least 32 characters long, got 5/],
    ['an object', { secret: A }, /secret must be a string .* got object/],
  ];
  for (const [name, secret, message] of table) {
    it(`throws a TypeError that says how to make one when the secret is ${name}`, () => {
      assert.throws(() => createSealer(secret as string), (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, message);
        assert.match(error.message, /randomBytes\(32\)\.toString\('base64url'\)/);
        return true;
      });
    });
  }

  it('accepts a secret of exactly 32 characters', () => {
    const sealer = createSealer('x'.repeat(32));
    assert.equal(sealer.unseal(sealer.seal('ok', 'sid'), 'sid')?.plaintext, 'ok');
  });

  it('derives different keys from secrets that differ in one character', () => {
    const sealed = createSealer('x'.repeat(32)).seal('ok', 'sid');
    assert.equal(createSealer('x'.repeat(31) + 'y').unseal(sealed, 'sid'), undefined);
  });
});
