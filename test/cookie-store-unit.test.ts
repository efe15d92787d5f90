import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { COOKIE_SIZE_LIMIT, CookieStore, type CookieRejection } from '../lib/cookie-store.js';
import { generateId } from '../lib/id.js';
import { isSealingStore, type SessionRecord } from '../lib/store.js';

const A = 'secret-A-0123456789abcdefghijklmnop';
const B = 'secret-B-0123456789abcdefghijklmnop';
const C = 'secret-C-0123456789abcdefghijklmnop';

const NOW = Date.UTC(2025, 0, 1, 12); // a fixed clock: 13 digits of epoch ms
const MINUTE = 60_000;

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    data: JSON.stringify({ cart: [{ sku: 'tea', qty: 2 }], email: 'alice@example.com' }),
    createdAt: NOW - 10 * MINUTE,
    expiresAt: NOW + 30 * MINUTE,
    ...overrides,
  };
}

/** A store that records what it rejected, in order. */
function watchedStore(secret: string | string[], isRevoked?: (id: string, record: SessionRecord) => boolean) {
  const rejected: Array<[CookieRejection, string]> = [];
  const store = new CookieStore({ secret, onReject: (reason, value) => rejected.push([reason, value]), isRevoked });
  return { store, rejected };
}

function changeByte(value: string, byteIndex: number): string {
  const bytes = Buffer.from(value.slice(3), 'base64url');
  bytes[byteIndex]! ^= 0x80;
  return 'v1.' + bytes.toString('base64url');
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
    ['data with newlines and unicode', record({ data: '{"note":"line 1\\nline 2","s":"🍪\n"}\n\n' })],
    ['empty data', record({ data: '' })],
  ];
  for (const [name, rec] of cases) {
    it(`gives back the ID and record it sealed: ${name}`, () => {
      const id = generateId();
      const value = store.seal(id, rec);
      assert.deepEqual(store.unseal(value, NOW), { id, record: rec, stale: false });
    });
  }

  it('does not add a userId property to a record without one', () => {
    const opened = store.unseal(store.seal(generateId(), record()), NOW);
    assert.ok(opened !== undefined);
    assert.equal(Object.hasOwn(opened.record, 'userId'), false);
  });

  it('never shows the data, the user or the session ID in the cookie', () => {
    const id = generateId();
    const value = store.seal(id, record({ userId: 'bob@example.org' }));
    for (const needle of ['alice', 'example', 'cart', 'tea', 'bob', id, id.slice(0, 8), String(NOW).slice(0, 6)]) {
      assert.ok(!value.includes(needle), needle);
      assert.ok(!Buffer.from(value.slice(3), 'base64url').includes(needle), needle);
    }
  });

  it('adds exactly 113 bytes to the data before base64url (the size the README quotes)', () => {
    for (const size of [0, 1, 2, 100, 2000]) {
      const value = store.seal(generateId(), record({ data: 'x'.repeat(size) }));
      assert.equal(value.length, 3 + Math.ceil(((size + 113) * 4) / 3));
    }
  });

  it('exports the browser cookie size limit of RFC 6265 §6.1', () => {
    assert.equal(COOKIE_SIZE_LIMIT, 4096);
  });

  it('throws a TypeError when asked to seal an ID that generateId did not make', () => {
    for (const id of ['', 'abc', generateId() + 'x', 'a\nb'.padEnd(43, 'c')]) {
      assert.throws(() => store.seal(id, record()), { name: 'TypeError', message: /generateId/ });
    }
  });
});

describe('CookieStore: timeouts from the seal', () => {
  it('refuses a cookie from the instant it expires, whatever the browser kept', () => {
    const { store, rejected } = watchedStore(A);
    const value = store.seal(generateId(), record({ expiresAt: NOW }));
    assert.ok(store.unseal(value, NOW - 1) !== undefined);
    assert.equal(store.unseal(value, NOW), undefined);
    assert.equal(store.unseal(value, NOW + 8 * 60 * MINUTE), undefined);
    assert.deepEqual(rejected, [['expired', value], ['expired', value]]);
  });

  it('keeps the times exactly as the manager computed them', () => {
    const store = new CookieStore({ secret: A });
    const rec = record({ createdAt: 1, expiresAt: Number.MAX_SAFE_INTEGER });
    assert.deepEqual(store.unseal(store.seal(generateId(), rec), NOW)?.record, rec);
  });
});

describe('CookieStore: key rotation', () => {
  const id = generateId();
  const sealedWithA = new CookieStore({ secret: A }).seal(id, record());

  it('opens a cookie sealed with an older secret and marks it stale', () => {
    const opened = new CookieStore({ secret: [B, A] }).unseal(sealedWithA, NOW);
    assert.deepEqual(opened, { id, record: record(), stale: true });
  });

  it('is not stale when the first secret opened it', () => {
    assert.equal(new CookieStore({ secret: [A, B] }).unseal(sealedWithA, NOW)?.stale, false);
  });

  it('reseals with the first secret, which the old list alone cannot open', () => {
    const resealed = new CookieStore({ secret: [B, A] }).seal(id, record());
    assert.equal(new CookieStore({ secret: B }).unseal(resealed, NOW)?.stale, false);
    assert.equal(new CookieStore({ secret: A }).unseal(resealed, NOW), undefined);
  });

  it('refuses a cookie whose secret has been dropped, as "key"', () => {
    const { store, rejected } = watchedStore([C]);
    assert.equal(store.unseal(sealedWithA, NOW), undefined);
    assert.deepEqual(rejected, [['key', sealedWithA]]);
  });
});

describe('CookieStore: rejections', () => {
  const { store, rejected } = watchedStore(A);
  const good = store.seal(generateId(), record());
  const table: Array<[string, string, CookieRejection]> = [
    ['garbage', 'not a cookie', 'malformed'],
    ['a bare session ID', generateId(), 'malformed'],
    ['an empty value', '', 'malformed'],
    ['a future format', 'v2.' + good.slice(3), 'version'],
    ['another secret', new CookieStore({ secret: B }).seal(generateId(), record()), 'key'],
    ['a changed ciphertext byte', changeByte(good, 40), 'tampered'],
    ['a changed tag byte', changeByte(good, Buffer.from(good.slice(3), 'base64url').length - 1), 'tampered'],
    ['an expired session', store.seal(generateId(), record({ expiresAt: NOW })), 'expired'],
  ];
  for (const [name, value, reason] of table) {
    it(`${name} → no session, onReject hears "${reason}" and the value`, () => {
      rejected.length = 0;
      assert.equal(store.unseal(value, NOW), undefined);
      assert.deepEqual(rejected, [[reason, value]]);
    });
  }

  it('does not call onReject for a good cookie', () => {
    rejected.length = 0;
    assert.ok(store.unseal(good, NOW) !== undefined);
    assert.deepEqual(rejected, []);
  });

  it('works without onReject', () => {
    const quiet = new CookieStore({ secret: A });
    assert.equal(quiet.unseal('v2.whatever', NOW), undefined);
    assert.equal(quiet.unseal(changeByte(good, 40), NOW), undefined);
  });

  it('gives no session for any single-bit flip or cut of a cookie (fast-check)', () => {
    const quiet = new CookieStore({ secret: A });
    fc.assert(
      fc.property(
        fc.record({ data: fc.json({ maxDepth: 2 }), userId: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }) }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        ({ data, userId }, at, bit, cut) => {
          const value = quiet.seal(generateId(), record({ data, userId }));
          const index = at % value.length;
          const changed = cut
            ? value.slice(0, index)
            : value.slice(0, index) + String.fromCharCode(value.charCodeAt(index) ^ (1 << bit)) + value.slice(index + 1);
          assert.equal(quiet.unseal(changed, NOW), undefined);
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
    const stolenCookie = store.seal(stolen, record());
    assert.ok(store.unseal(stolenCookie, NOW) !== undefined);
    destroyed.add(stolen); // the user logged out; the thief's copy should die with it
    assert.equal(store.unseal(stolenCookie, NOW), undefined);
    assert.ok(store.unseal(store.seal(other, record()), NOW) !== undefined);
    assert.deepEqual(rejected, [['revoked', stolenCookie]]);
  });

  it('gets the record, so it can log a user out everywhere by creation time', () => {
    const loggedOutEverywhereAt = new Map([['user-1', NOW - 5 * MINUTE]]);
    const isRevoked = (_id: string, rec: SessionRecord) =>
      rec.userId !== undefined && rec.createdAt < (loggedOutEverywhereAt.get(rec.userId) ?? -Infinity);
    const store = new CookieStore({ secret: A, isRevoked });
    const before = store.seal(generateId(), record({ userId: 'user-1', createdAt: NOW - 10 * MINUTE }));
    const after = store.seal(generateId(), record({ userId: 'user-1', createdAt: NOW - MINUTE }));
    const otherUser = store.seal(generateId(), record({ userId: 'user-2', createdAt: NOW - 10 * MINUTE }));
    assert.equal(store.unseal(before, NOW), undefined);
    assert.ok(store.unseal(after, NOW) !== undefined);
    assert.ok(store.unseal(otherUser, NOW) !== undefined);
  });

  it('is not asked about cookies that are expired or do not open', () => {
    const asked: string[] = [];
    const store = new CookieStore({ secret: A, isRevoked: (id) => (asked.push(id), false) });
    store.unseal(store.seal(generateId(), record({ expiresAt: NOW })), NOW);
    store.unseal('v1.garbage', NOW);
    assert.deepEqual(asked, []);
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
