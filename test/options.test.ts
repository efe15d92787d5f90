/**
 * Options checked at startup, so a mistake fails with the fix in its message instead of silently
 * changing what the library does: unknown keys at every level, cookie settings that browsers
 * would drop the cookie for, and durations Node's timers cannot hold.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSessions } from '../lib/sessions.js';
import { CookieStore } from '../lib/stores/cookie.js';
import { MemoryStore } from '../lib/stores/memory.js';
import { PostgresStore, type PostgresClient } from '../lib/stores/postgres.js';
import { RedisStore, type NodeRedisClient } from '../lib/stores/redis.js';
import { SqliteStore, type SqliteDatabase } from '../lib/stores/sqlite.js';

const SECRET = 'a test secret of at least thirty-two characters';
const pool = { query: async () => ({ rows: [] }) } as PostgresClient;
const redis = { sendCommand: async () => null } as NodeRedisClient;
const sqlite = { prepare: () => ({}), exec: () => undefined } as unknown as SqliteDatabase;

describe('unknown options throw a TypeError that names the likely fix', () => {
  const table: Array<[string, () => unknown, RegExp]> = [
    ['createSessions, another case', () => createSessions({ idletimeout: 5 } as never), /unknown option "idletimeout"; did you mean idleTimeout\?/],
    ['createSessions, a typo', () => createSessions({ storeTimout: 5 } as never), /unknown option "storeTimout"; did you mean storeTimeout\?/],
    ['createSessions, an express-session option', () => createSessions({ resave: false } as never), /unknown option "resave".*The options are: store, idleTimeout/],
    ['cookie', () => createSessions({ cookie: { maxAge: 60 } } as never), /createSessions: cookie: unknown option "maxAge"/],
    ['cookie, a typo', () => createSessions({ cookie: { samesite: 'lax' } } as never), /did you mean sameSite\?/],
    ['MemoryStore', () => new MemoryStore({ pruneIntervall: 5 } as never), /MemoryStore: unknown option "pruneIntervall"; did you mean pruneInterval\?/],
    ['CookieStore', () => new CookieStore({ secret: SECRET, secrets: [] } as never), /CookieStore: unknown option "secrets"; did you mean secret\?/],
    ['SqliteStore', () => new SqliteStore(sqlite, { tableName: 'x' } as never), /SqliteStore: unknown option "tableName"/],
    ['PostgresStore', () => new PostgresStore(pool, { createtable: false } as never), /did you mean createTable\?/],
    ['RedisStore', () => new RedisStore(redis, { keyPrefix: 'x:' } as never), /RedisStore: unknown option "keyPrefix"; did you mean prefix\?/],
  ];
  for (const [name, make, message] of table) {
    test(name, () => assert.throws(make, (error: unknown) => error instanceof TypeError && message.test(error.message)));
  }
  test('every known option is accepted', () => {
    createSessions({ store: new MemoryStore({ pruneInterval: 0, maxSessions: 10 }), idleTimeout: 1000, absoluteTimeout: 5000, storeTimeout: 100, onError: () => {}, cookie: { name: 'a', path: '/', domain: 'example.com', secure: true, sameSite: 'strict', httpOnly: true, persistent: false } });
    new CookieStore({ secret: SECRET, onReject: () => {}, isRevoked: () => false });
    new SqliteStore(sqlite, { table: 't', pruneInterval: 0, onPruneError: () => {}, createTable: false });
    new PostgresStore(pool, { table: 't', pruneInterval: 0, onPruneError: () => {}, createTable: false });
    new RedisStore(redis, { prefix: 'p:' });
  });
});

describe('cookie settings that browsers would drop are refused, with the fix', () => {
  const refused: Array<[string, object, RegExp]> = [
    ["sameSite: 'none' with the default secure: 'auto'", { sameSite: 'none' }, /sameSite: 'none' needs secure: true/],
    ["a '__Host-' name with the default secure: 'auto'", { name: '__Host-sid' }, /'__Host-' cookie needs secure: true/],
    ["a '__Secure-' name with secure: 'auto'", { name: '__Secure-sid', secure: 'auto' }, /'__Secure-' cookie needs secure: true/],
    ['a __host- prefix in lower case (browsers match it in any case)', { name: '__host-sid', secure: 'auto' }, /'__Host-' cookie needs/],
    ['a __HOST- prefix with a domain', { name: '__HOST-sid', secure: true, domain: 'example.com' }, /'__Host-' cookie needs/],
    ["a '__Host-' name with a path other than '/', even with secure: true", { name: '__Host-sid', secure: true, path: '/app' }, /'__Host-' cookie needs/],
    ['a __SECURE- prefix without secure', { name: '__SECURE-sid' }, /'__Secure-' cookie needs/],
    ['a domain with an empty label', { domain: 'example..com' }, /empty label/],
    ['a domain with a leading dot', { domain: '.example.com' }, /empty label/],
    ['a domain with a trailing dot', { domain: 'example.com.' }, /empty label/],
    ['a domain label starting with a hyphen', { domain: '-shop.example.com' }, /label "-shop"/],
    ['a domain label ending with a hyphen', { domain: 'shop-.example.com' }, /label "shop-"/],
    ['an IPv4 address as domain', { domain: '192.168.1.10' }, /is an IP address/],
    ['an IPv6 address as domain', { domain: '[::1]' }, /is an IP address/],
    ['a domain label of 64 characters', { domain: `${'a'.repeat(64)}.com` }, /label/],
    ["a path without its leading '/' (RFC 6265 §5.2.4: ignored)", { path: 'app' }, /cookie\.path must start with '\/'.* got "app"; write "\/app"/],
    ['an empty path', { path: '' }, /cookie\.path must start with '\/'.* got ""; write "\/"/],
    ['a path that is not a string', { path: 5 }, /cookie\.path must start with '\/'.* got 5; give a string/],
  ];
  for (const [name, cookie, message] of refused) {
    test(name, () => assert.throws(() => createSessions({ cookie }), (error: unknown) => error instanceof TypeError && message.test(error.message)));
  }
  test('the good ones pass', () => {
    createSessions({ cookie: { sameSite: 'none', secure: true } });
    createSessions({ cookie: { name: '__Host-sid', secure: true } });
    createSessions({ cookie: { name: '__Secure-sid', secure: true, domain: 'shop.example.com' } });
    createSessions({ cookie: { domain: 'xn--bcher-kva.example' } });
    createSessions({ cookie: { path: '/app' } });
  });
});

describe("durations Node's timers cannot hold are refused", () => {
  const tooLong = 2 ** 31; // Node fires a longer timer after 1 ms, so a sweep would run continuously
  test('pruneInterval of every store with a sweep', () => {
    assert.throws(() => new MemoryStore({ pruneInterval: tooLong }), { name: 'RangeError', message: /24\.8 days/ });
    assert.throws(() => new SqliteStore(sqlite, { pruneInterval: tooLong }), RangeError);
    assert.throws(() => new PostgresStore(pool, { pruneInterval: tooLong }), RangeError);
    new MemoryStore({ pruneInterval: 2 ** 31 - 1 }).close();
  });
  test('createSessions durations', () => {
    for (const name of ['idleTimeout', 'absoluteTimeout', 'storeTimeout'] as const) {
      assert.throws(() => createSessions({ store: new MemoryStore({ pruneInterval: 0 }), [name]: tooLong }), { name: 'RangeError', message: new RegExp(name) });
    }
    createSessions({ absoluteTimeout: Infinity, storeTimeout: Infinity });
  });
});

describe('session.bindUser refuses a user ID no database can store', () => {
  test('NUL and lone surrogates', async () => {
    const sessions = createSessions();
    const session = await sessions.load({ headers: {}, socket: {} } as never);
    for (const bad of ['', 'a\u0000b', 'half \ud800', '\udc00 half']) {
      assert.throws(() => session.bindUser(bad), TypeError);
    }
    session.bindUser('user-1 ünïcødé 🎉');
    assert.equal(session.userId, 'user-1 ünïcødé 🎉');
  });
});
