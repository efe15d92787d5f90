import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CookieStore, type CookieRejection } from '../lib/stores/cookie.js';
import { COOKIE_SIZE_LIMIT } from '../lib/session-cookie.js';
import { encodeData, joinTexts } from '../lib/data.js';
import { generateId, hashId } from '../lib/id.js';
import { sealAsOlderVersion } from './older-seals.js';
import { isSealingStore, type SessionRecord } from '../lib/store.js';

const A = 'secret-A-0123456789abcdefghijklmnop';
const B = 'secret-B-0123456789abcdefghijklmnop';
const C = 'secret-C-0123456789abcdefghijklmnop';

const NOW = Date.UTC(2025, 0, 1, 12); // a fixed clock: 13 digits of epoch ms
const MINUTE = 60_000;

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    data: encodeData({ cart: [{ sku: 'tea', qty: 2 }], email: 'alice@example.com' }),
    createdAt: NOW - 10 * MINUTE,
    expiresAt: NOW + 30 * MINUTE,
    ...overrides,
  };
}

/** A store that records what it rejected, in order: the reason and the fingerprint it was given. */
function watchedStore(secret: string | string[], isRevoked?: (id: string, record: SessionRecord) => boolean) {
  const rejected: Array<[CookieRejection, string]> = [];
  const store = new CookieStore({ secret, onReject: (reason, fingerprint) => rejected.push([reason, fingerprint]), isRevoked });
  return { store, rejected };
}

/** What onReject hears of a cookie: 12 characters of its SHA-256, never the cookie. */
const fingerprint = (value: string) => hashId(value).slice(0, 12);

function changeByte(value: string, byteIndex: number): string {
  const bytes = Buffer.from(value.slice(3), 'base64url');
  bytes[byteIndex]! ^= 0x80;
  return value.slice(0, 3) + bytes.toString('base64url');
}

describe('CookieStore: round trip', () => {
  const store = new CookieStore({ secret: A });

  it('is a sealing store', () => {
    assert.equal(store.kind, 'cookie');
    assert.ok(isSealingStore(store));
  });

  const cases: Array<[string, SessionRecord]> = [
    ['typical data', record()],
    ['a bound user', record({ userId: 'user-42' })],
    ['a user ID with quotes and a newline', record({ userId: 'a"b\nc' })],
    ['data with newlines and unicode', record({ data: encodeData({ note: 'line 1\nline 2', s: '🍪\n', '\n': '\u2028' }) })],
    ['empty data', record({ data: encodeData({}) })],
    ['keys and texts beyond ASCII, a key named __proto__, an empty key', record({ data: encodeData({ '🍪': '🍪🍪 é', ['__proto__']: { a: 1 }, '': [], 'ключ': 'значение' }) })],
  ];
  for (const [name, rec] of cases) {
    it(`gives back the ID and record it sealed: ${name}`, () => {
      const id = generateId();
      const value = store.seal(id, rec, 'sid');
      assert.deepEqual(store.unseal(value, NOW, 'sid'), { id, record: rec, stale: false });
    });
  }

  it('does not add a userId property to a record without one', () => {
    const opened = store.unseal(store.seal(generateId(), record(), 'sid'), NOW, 'sid');
    assert.ok(opened !== undefined);
    assert.equal(Object.hasOwn(opened.record, 'userId'), false);
  });

  it('never shows the data, the user or the session ID in the cookie', () => {
    const id = generateId();
    const value = store.seal(id, record({ userId: 'bob@example.org' }), 'sid');
    for (const needle of ['alice', 'example', 'cart', 'tea', 'bob', id, id.slice(0, 8), String(NOW).slice(0, 6)]) {
      assert.ok(!value.includes(needle), needle);
      assert.ok(!Buffer.from(value.slice(3), 'base64url').includes(needle), needle);
    }
  });

  it('adds 113 bytes, and a few per key, to the JSON of the data before base64url (the size the README quotes)', () => {
    // Each key costs its JSON, two commas and its text's length in digits, where the JSON of the
    // data spends a colon and a comma (or brace): the same, give or take the digits beyond one.
    for (const texts of [{}, { x: '' }, { x: 'x' }, { x: 'x'.repeat(100) }, { x: 'x'.repeat(2000) }, { cart: '[1,2]', theme: '"dark"' }]) {
      const data = encodeData(Object.fromEntries(Object.entries(texts).map(([key, text]) => [key, text === '' ? null : text])));
      const perKey = Object.entries(data).reduce((sum, [key, text]) => sum + JSON.stringify(key).length + 2 + String(text.length).length + text.length, 0);
      const value = store.seal(generateId(), record({ data }), 'sid');
      assert.equal(value.length, 3 + Math.ceil(((113 + perKey) * 4) / 3));
      const json = joinTexts(data).length - 2; // without the braces, which the seal does not write
      assert.ok(perKey <= json + 5 * Object.keys(data).length, `${perKey} bytes for ${json} bytes of JSON`);
    }
  });

  it('exports the browser cookie size limit of RFC 6265 §6.1', () => {
    assert.equal(COOKIE_SIZE_LIMIT, 4096);
  });

  it('throws a TypeError when asked to seal an ID that generateId did not make', () => {
    for (const id of ['', 'abc', generateId() + 'x', 'a\nb'.padEnd(43, 'c')]) {
      assert.throws(() => store.seal(id, record(), 'sid'), { name: 'TypeError', message: /generateId/ });
    }
  });
});

describe('CookieStore: timeouts from the seal', () => {
  it('refuses a cookie from the instant it expires, whatever the browser kept', () => {
    const { store, rejected } = watchedStore(A);
    const value = store.seal(generateId(), record({ expiresAt: NOW }), 'sid');
    assert.ok(store.unseal(value, NOW - 1, 'sid') !== undefined);
    assert.equal(store.unseal(value, NOW, 'sid'), undefined);
    assert.equal(store.unseal(value, NOW + 8 * 60 * MINUTE, 'sid'), undefined);
    assert.deepEqual(rejected, [['expired', fingerprint(value)], ['expired', fingerprint(value)]]);
  });

  it('keeps the times exactly as the manager computed them', () => {
    const store = new CookieStore({ secret: A });
    const rec = record({ createdAt: 1, expiresAt: Number.MAX_SAFE_INTEGER });
    assert.deepEqual(store.unseal(store.seal(generateId(), rec, 'sid'), NOW, 'sid')?.record, rec);
  });
});

describe('CookieStore: key rotation', () => {
  const id = generateId();
  const sealedWithA = new CookieStore({ secret: A }).seal(id, record(), 'sid');

  it('opens a cookie sealed with an older secret and marks it stale', () => {
    const opened = new CookieStore({ secret: [B, A] }).unseal(sealedWithA, NOW, 'sid');
    assert.deepEqual(opened, { id, record: record(), stale: true });
  });

  it('is not stale when the first secret opened it', () => {
    assert.equal(new CookieStore({ secret: [A, B] }).unseal(sealedWithA, NOW, 'sid')?.stale, false);
  });

  it('reseals with the first secret, which the old list alone cannot open', () => {
    const resealed = new CookieStore({ secret: [B, A] }).seal(id, record(), 'sid');
    assert.equal(new CookieStore({ secret: B }).unseal(resealed, NOW, 'sid')?.stale, false);
    assert.equal(new CookieStore({ secret: A }).unseal(resealed, NOW, 'sid'), undefined);
  });

  it('refuses a cookie whose secret has been dropped, as "key"', () => {
    const { store, rejected } = watchedStore([C]);
    assert.equal(store.unseal(sealedWithA, NOW, 'sid'), undefined);
    assert.deepEqual(rejected, [['key', fingerprint(sealedWithA)]]);
  });
});

describe('CookieStore: rejections', () => {
  const { store, rejected } = watchedStore(A);
  const good = store.seal(generateId(), record(), 'sid');
  const table: Array<[string, string, CookieRejection]> = [
    ['garbage', 'not a cookie', 'malformed'],
    ['a bare session ID', generateId(), 'malformed'],
    ['an empty value', '', 'malformed'],
    ['a future format', 'v4.' + good.slice(3), 'version'],
    ['another secret', new CookieStore({ secret: B }).seal(generateId(), record(), 'sid'), 'key'],
    ['a changed ciphertext byte', changeByte(good, 40), 'tampered'],
    ['a changed tag byte', changeByte(good, Buffer.from(good.slice(3), 'base64url').length - 1), 'tampered'],
    ['an expired session', store.seal(generateId(), record({ expiresAt: NOW }), 'sid'), 'expired'],
  ];
  for (const [name, value, reason] of table) {
    it(`${name} → no session, onReject hears "${reason}" and a fingerprint, never the cookie`, () => {
      rejected.length = 0;
      assert.equal(store.unseal(value, NOW, 'sid'), undefined);
      assert.deepEqual(rejected, [[reason, fingerprint(value)]]);
      if (value.length > 12) assert.ok(!value.includes(rejected[0]![1]) && !rejected[0]![1].includes(value.slice(0, 12)));
    });
  }

  it('does not call onReject for a good cookie', () => {
    rejected.length = 0;
    assert.ok(store.unseal(good, NOW, 'sid') !== undefined);
    assert.deepEqual(rejected, []);
  });

  it('works without onReject', () => {
    const quiet = new CookieStore({ secret: A });
    assert.equal(quiet.unseal('v4.whatever', NOW, 'sid'), undefined);
    assert.equal(quiet.unseal(changeByte(good, 40), NOW, 'sid'), undefined);
  });

  it('gives no session for any single-bit flip or cut of a cookie (fast-check)', () => {
    const quiet = new CookieStore({ secret: A });
    fc.assert(
      fc.property(
        fc.record({ data: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })).map(encodeData), userId: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }) }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        ({ data, userId }, at, bit, cut) => {
          const value = quiet.seal(generateId(), record({ data, userId }), 'sid');
          const index = at % value.length;
          const changed = cut
            ? value.slice(0, index)
            : value.slice(0, index) + String.fromCharCode(value.charCodeAt(index) ^ (1 << bit)) + value.slice(index + 1);
          assert.equal(quiet.unseal(changed, NOW, 'sid'), undefined);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('CookieStore: isRevoked', () => {
  it('refuses the sessions a denylist names, and only those', () => {
    const destroyed = new Set<string>();
    const { store, rejected } = watchedStore(A, (id) => destroyed.has(id));
    const stolen = generateId();
    const other = generateId();
    const stolenCookie = store.seal(stolen, record(), 'sid');
    assert.ok(store.unseal(stolenCookie, NOW, 'sid') !== undefined);
    destroyed.add(stolen); // the user logged out; the thief's copy should die with it
    assert.equal(store.unseal(stolenCookie, NOW, 'sid'), undefined);
    assert.ok(store.unseal(store.seal(other, record(), 'sid'), NOW, 'sid') !== undefined);
    assert.deepEqual(rejected, [['revoked', fingerprint(stolenCookie)]]);
  });

  it('gets the record, so it can log a user out everywhere by creation time', () => {
    const loggedOutEverywhereAt = new Map([['user-1', NOW - 5 * MINUTE]]);
    const isRevoked = (_id: string, rec: SessionRecord) =>
      rec.userId !== undefined && rec.createdAt < (loggedOutEverywhereAt.get(rec.userId) ?? -Infinity);
    const store = new CookieStore({ secret: A, isRevoked });
    const before = store.seal(generateId(), record({ userId: 'user-1', createdAt: NOW - 10 * MINUTE }), 'sid');
    const after = store.seal(generateId(), record({ userId: 'user-1', createdAt: NOW - MINUTE }), 'sid');
    const otherUser = store.seal(generateId(), record({ userId: 'user-2', createdAt: NOW - 10 * MINUTE }), 'sid');
    assert.equal(store.unseal(before, NOW, 'sid'), undefined);
    assert.ok(store.unseal(after, NOW, 'sid') !== undefined);
    assert.ok(store.unseal(otherUser, NOW, 'sid') !== undefined);
  });

  it('is not asked about cookies that are expired or do not open', () => {
    const asked: string[] = [];
    const store = new CookieStore({ secret: A, isRevoked: (id) => (asked.push(id), false) });
    store.unseal(store.seal(generateId(), record({ expiresAt: NOW }), 'sid'), NOW, 'sid');
    store.unseal('v2.garbage', NOW, 'sid');
    assert.deepEqual(asked, []);
  });
});

describe('CookieStore: each seal is bound to its cookie name', () => {
  const store = new CookieStore({ secret: A });

  it('a cookie sealed for one name never opens under another, even with the same secret', () => {
    const { store: admin, rejected } = watchedStore(A);
    const shop = store.seal(generateId(), record({ userId: 'customer' }), 'shop');
    assert.ok(store.unseal(shop, NOW, 'shop') !== undefined);
    assert.equal(admin.unseal(shop, NOW, 'admin'), undefined);
    assert.deepEqual(rejected, [['tampered', fingerprint(shop)]]);
  });

  it('cookies of the older formats (v1, v2) still open, and are marked for resealing', () => {
    // What v1 and v2 wrote: the same keys; the data as one JSON object after the header line; the
    // cookie name as additional data in v2, nothing in v1.
    const id = generateId();
    const rec = record({ userId: 'user-7', data: encodeData({ cart: [{ sku: 'tea', qty: 2 }], '': 0, '\n': '\u2028' }) });
    const plaintext = JSON.stringify([id, rec.createdAt, rec.expiresAt, 'user-7']) + '\n' + joinTexts(rec.data);
    const older = (prefix: string, aad: string | undefined) => sealAsOlderVersion(A, prefix, aad, plaintext);
    assert.deepEqual(store.unseal(older('v1.', undefined), NOW, 'sid'), { id, record: rec, stale: true });
    assert.deepEqual(store.unseal(older('v2.', 'sid'), NOW, 'sid'), { id, record: rec, stale: true });
    assert.equal(store.unseal(older('v2.', 'sid'), NOW, 'other'), undefined, 'v2 binds the cookie name');
    // Resealed, it is v3, bound to its name; relabelled as an older version it does not open.
    const resealed = store.seal(id, rec, 'sid');
    assert.match(resealed, /^v3\./);
    assert.deepEqual(store.unseal(resealed, NOW, 'sid'), { id, record: rec, stale: false });
    assert.equal(store.unseal(resealed, NOW, 'other'), undefined);
    assert.equal(store.unseal('v1.' + resealed.slice(3), NOW, 'sid'), undefined);
    assert.equal(store.unseal('v2.' + resealed.slice(3), NOW, 'sid'), undefined);
  });
});

describe('CookieStore: options', () => {
  const table: Array<[string, unknown, RegExp]> = [
    ['no options', undefined, /new CookieStore\(\{ secret/],
    ['no secret', {}, /secret must be a string of at least 32 random characters, got undefined.*randomBytes\(32\)/],
    ['a short secret', { secret: 'too short' }, /secret must be at least 32 characters long, got 9.*randomBytes\(32\)/],
    ['an empty list', { secret: [] }, /A secret is required/],
    ['a second secret too short', { secret: [A, 'x'] }, /secret\[1\] must be at least 32 characters long/],
    ['onReject not a function', { secret: A, onReject: 'log' }, /onReject must be a function, got string/],
    ['isRevoked not a function', { secret: A, isRevoked: new Set() }, /isRevoked must be a function, got object/],
  ];
  for (const [name, options, message] of table) {
    it(`throws a TypeError for ${name}`, () => {
      assert.throws(() => new CookieStore(options as never), (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});
