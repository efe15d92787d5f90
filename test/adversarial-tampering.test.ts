/**
 * Adversarial suite, groups 3 and 5: tampered cookies (the session ID and the sealed cookie) and
 * timing (constant-time comparisons, and no store round trip for a malformed ID).
 *
 * A mutation is any change an attacker can make to a cookie value: flipped bits, cut or extended
 * values, flipped case, standard base64 instead of base64url, padding, another key's seal. Not
 * counted as mutations: wrapping the value in double quotes or adding blanks around it, which RFC
 * 6265 §5.2 says are the same cookie (the parser removes them before the ID is checked).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CookieStore } from '../lib/stores/cookie.js';
import { generateId, isWellFormedId } from '../lib/id.js';
import { MemoryStore } from '../lib/stores/memory.js';
import { createSessions } from '../lib/sessions.js';
import type { AnyStore, SessionRecord } from '../lib/store.js';
import { InstrumentedStore, serve, type Served } from './helpers.js';
import { fakeRound, figure, prng, randomInt, SEED, SOAK } from './adversarial-helpers.js';
import { encodeData } from '../lib/data.js';

const servers: Served[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SECRET_A = 'a-very-long-random-test-secret-number-one-0123456789';
const SECRET_B = 'another-long-random-test-secret-number-two-987654321';

type Mutation = (value: string, random: () => number) => string;

/** Mutations of a base64url value (an ID, or the body of a seal after its `v3.` prefix). */
const MUTATIONS: Record<string, Mutation> = {
  'bit flip': (v, random) => {
    const bytes = Buffer.from(v, 'base64url');
    const flips = 1 + randomInt(random, 3);
    for (let i = 0; i < flips; i++) {
      const bit = randomInt(random, bytes.length * 8);
      bytes[bit >> 3]! ^= 1 << (bit & 7);
    }
    return bytes.toString('base64url');
  },
  truncation: (v, random) => v.slice(0, randomInt(random, v.length)),
  'cut from the front': (v, random) => v.slice(1 + randomInt(random, v.length - 1)),
  extension: (v, random) => {
    let extra = '';
    for (let i = 1 + randomInt(random, 4); i > 0; i--) extra += (B64URL + '=.')[randomInt(random, 66)];
    return v + extra;
  },
  'case flip': (v, random) => {
    const chars = [...v];
    for (let i = 1 + randomInt(random, 4); i > 0; i--) {
      const k = randomInt(random, chars.length);
      const c = chars[k]!;
      chars[k] = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
    }
    return chars.join('');
  },
  'standard base64': (v) => Buffer.from(v, 'base64url').toString('base64'),
  'standard base64, no padding': (v) => Buffer.from(v, 'base64url').toString('base64').replace(/=+$/, ''),
  "padding '='": (v, random) => v + '='.repeat(1 + randomInt(random, 2)),
  'one character replaced': (v, random) => {
    const k = randomInt(random, v.length);
    return v.slice(0, k) + B64URL[randomInt(random, 64)] + v.slice(k + 1);
  },
  'one character deleted': (v, random) => {
    const k = randomInt(random, v.length);
    return v.slice(0, k) + v.slice(k + 1);
  },
  'one character inserted': (v, random) => {
    const k = randomInt(random, v.length + 1);
    return v.slice(0, k) + B64URL[randomInt(random, 64)] + v.slice(k);
  },
  'adjacent swap': (v, random) => {
    const k = randomInt(random, v.length - 1);
    return v.slice(0, k) + v[k + 1] + v[k] + v.slice(k + 2);
  },
  'non-canonical last character': (v, random) => {
    // Same decoded bytes, but the last character's spare low bits set.
    const last = B64URL.indexOf(v[v.length - 1]!);
    return v.slice(0, -1) + B64URL[(last & ~0b11) | (1 + randomInt(random, 3))];
  },
  'percent-encoded': (v, random) => {
    const k = randomInt(random, v.length);
    return v.slice(0, k) + '%' + v.charCodeAt(k).toString(16).toUpperCase() + v.slice(k + 1);
  },
  'junk inside': (v, random) => {
    const k = randomInt(random, v.length);
    return v.slice(0, k) + ['+', '/', '=', '.', '!', '~', '*', "'", '(', ')', '\\'][randomInt(random, 11)] + v.slice(k);
  },
};
const NAMES = Object.keys(MUTATIONS);

/** `count` distinct mutations of the values in `originals`, each different from every original. */
function mutations(originals: string[], count: number, random: () => number, prefix = ''): { value: string; kind: string }[] {
  const out: { value: string; kind: string }[] = [];
  const forbidden = new Set(originals);
  const offset = randomInt(random, NAMES.length);
  for (let attempt = 0; out.length < count; attempt++) {
    assert.ok(attempt < count * 10 + 100, 'the mutations keep giving back the original');
    const kind = NAMES[(offset + attempt) % NAMES.length]!;
    const original = originals[randomInt(random, originals.length)]!;
    const value = prefix + MUTATIONS[kind]!(original.slice(prefix.length), random);
    if (!forbidden.has(value)) out.push({ value, kind });
  }
  return out;
}

describe('3. tampering with the session ID cookie', () => {
  test('10,000 mutations of issued IDs: 0 accepted (load), and the originals are', async () => {
    const total = SOAK ? 100_000 : 10_000;
    const store = new InstrumentedStore();
    const sessions = createSessions<{ user?: string }>({ store });
    const issued: string[] = [];
    for (let i = 0; i < 50; i++) {
      const { res } = await fakeRound(sessions, undefined, (d) => (d.user = `u${i}`));
      issued.push(res.cookie()!);
    }
    // The control: every issued ID opens its session.
    for (const [i, id] of issued.entries()) {
      const { session } = await fakeRound(sessions, `sid=${id}`);
      assert.equal(session.data.user, `u${i}`);
    }
    const random = prng(SEED);
    const before = { ...store.calls };
    let accepted = 0;
    let wellFormed = 0;
    const byKind = new Map<string, number>();
    for (const { value, kind } of mutations(issued, total, random)) {
      if (isWellFormedId(value)) wellFormed++;
      const { session } = await fakeRound(sessions, `sid=${value}`);
      if (!session.isNew || session.data.user !== undefined) {
        accepted++;
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
      }
    }
    const lookups = store.calls.get - before.get;
    figure(`ID tampering (SEED=${SEED}): ${total} mutations (${NAMES.length} kinds), ${accepted} accepted; ${wellFormed} well-formed ones cost ${lookups} store lookups, the other ${total - wellFormed} none`);
    assert.equal(accepted, 0, `accepted by kind: ${JSON.stringify([...byKind])}`);
    assert.equal(lookups, wellFormed, 'only well-formed IDs reach the store, once each');
    await sessions.close();
  });

  test('300 mutations over real sockets: 0 accepted, each answered with a fresh session', async () => {
    const { sessions, served, value: id } = await loggedIn(new MemoryStore({ pruneInterval: 0 }));
    let accepted = 0;
    const random = prng(SEED + 1);
    const list = mutations([id], 300, random);
    for (let i = 0; i < list.length; i += 20) {
      const answers = await Promise.all(
        list.slice(i, i + 20).map(async ({ value }) => (await fetch(served.url, { headers: { cookie: `sid=${value}` } })).json() as Promise<{ isNew: boolean; user: string | null }>),
      );
      accepted += answers.filter((a) => !a.isNew || a.user !== null).length;
    }
    figure(`ID tampering over sockets: ${list.length} mutations, ${accepted} accepted`);
    assert.equal(accepted, 0);
    await sessions.close();
  });
});

describe('3. tampering with the sealed cookie (CookieStore)', () => {
  test('10,000 mutations and forgeries of sealed cookies: 0 accepted by unseal, 0 by load', async () => {
    const total = SOAK ? 100_000 : 10_000;
    const store = new CookieStore({ secret: SECRET_A });
    const other = new CookieStore({ secret: SECRET_B });
    const sessions = createSessions<{ user?: string; role?: string }>({ store });
    const sealed: string[] = [];
    for (let i = 0; i < 20; i++) {
      const { res } = await fakeRound(sessions, undefined, (d) => Object.assign(d, { user: `u${i}`, role: 'user' }));
      sealed.push(res.cookie()!);
    }
    for (const [i, value] of sealed.entries()) {
      assert.equal((await fakeRound(sessions, `sid=${value}`)).session.data.user, `u${i}`, 'the control: an issued seal opens');
    }
    const now = Date.now();
    const record = (data: unknown, over: Partial<SessionRecord> = {}): SessionRecord => ({ data: encodeData(data as Record<string, unknown>), createdAt: now, expiresAt: now + 3_600_000, ...over });

    const random = prng(SEED);
    const forged: { value: string; kind: string }[] = mutations(sealed, Math.floor(total * 0.8), random, 'v3.');
    // Forgeries that are well-formed seals, made with the wrong key or the wrong contents.
    const admin = record({ user: 'admin', role: 'admin' });
    while (forged.length < total) {
      const k = forged.length % 8;
      const id = generateId();
      const mine = sealed[randomInt(random, sealed.length)]!;
      const theirs = other.seal(id, admin, 'sid');
      const theirBytes = Buffer.from(theirs.slice(3), 'base64url');
      const myBytes = Buffer.from(mine.slice(3), 'base64url');
      let value: string;
      let kind: string;
      if (k === 0) [value, kind] = [theirs, "another key's seal"];
      else if (k === 1) {
        myBytes.copy(theirBytes, 0, 0, 4); // our key ID on their seal
        [value, kind] = ['v3.' + theirBytes.toString('base64url'), "another key's seal with our key ID"];
      } else if (k === 2) [value, kind] = [store.seal(id, record({ user: 'admin' }, { expiresAt: now - 1 }), 'sid'), 'our key, expired'];
      else if (k === 3) [value, kind] = [store.seal(id, { ...record({}), data: { x: ']' } }, 'sid'), 'our key, data not JSON (a broken text)'];
      else if (k === 4) [value, kind] = [store.seal(id, { ...record({}), data: { x: 'not json' } }, 'sid'), 'our key, data not JSON'];
      else if (k === 5) {
        // Splice: our header and IV with their ciphertext and tag.
        [value, kind] = ['v3.' + Buffer.concat([myBytes.subarray(0, 16), theirBytes.subarray(16)]).toString('base64url'), 'spliced seals'];
      } else if (k === 6) [value, kind] = [`v${4 + randomInt(random, 8)}.` + mine.slice(3), 'other format version'];
      else [value, kind] = [['V3.', 'v3', 'v3..', '.v3.', 'v03.', 'v1.', 'v2.'][randomInt(random, 7)] + mine.slice(3), 'mangled prefix'];
      forged.push({ value, kind });
    }

    let acceptedUnseal = 0;
    let acceptedLoad = 0;
    let throws = 0;
    const byKind = new Map<string, number>();
    for (const { value, kind } of forged) {
      let opened;
      try {
        opened = store.unseal(value, Date.now(), 'sid');
      } catch {
        throws++;
      }
      // What our own key sealed opens: the store keeps texts opaque (as every store does); it is the
      // manager that refuses a text that is not JSON, which the load below checks.
      if (opened !== undefined && !kind.startsWith('our key, data not')) {
        acceptedUnseal++;
        byKind.set(`unseal: ${kind}`, (byKind.get(`unseal: ${kind}`) ?? 0) + 1);
        if (byKind.get(`unseal: ${kind}`) === 1) byKind.set(`example: ${kind}`, value.length);
      }
      const { session } = await fakeRound(sessions, `sid=${value}`);
      if (!session.isNew || session.data.user !== undefined) {
        acceptedLoad++;
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
      }
    }
    figure(`sealed tampering (SEED=${SEED}): ${forged.length} mutations and forgeries (incl. another key's seals, spliced, expired), ${acceptedUnseal} opened by unseal, ${acceptedLoad} accepted as sessions, ${throws} throws`);
    assert.equal(throws, 0);
    assert.equal(acceptedUnseal, 0, JSON.stringify([...byKind]));
    assert.equal(acceptedLoad, 0, JSON.stringify([...byKind]));
    await sessions.close();
  });

  test('300 sealed-cookie mutations over real sockets: 0 accepted', async () => {
    const { sessions, served, value } = await loggedIn(new CookieStore({ secret: SECRET_A }));
    const list = mutations([value], 300, prng(SEED + 2), 'v3.');
    let accepted = 0;
    for (let i = 0; i < list.length; i += 20) {
      const answers = await Promise.all(
        list.slice(i, i + 20).map(async (m) => (await fetch(served.url, { headers: { cookie: `sid=${m.value}` } })).json() as Promise<{ isNew: boolean; user: string | null }>),
      );
      accepted += answers.filter((a) => !a.isNew || a.user !== null).length;
    }
    figure(`sealed tampering over sockets: ${list.length} mutations, ${accepted} accepted`);
    assert.equal(accepted, 0);
    await sessions.close();
  });
});

// --- Group 5: timing -------------------------------------------------------------------------------

/** The directory of the TypeScript sources of lib/, whether the tests run from build/ or elsewhere. */
function libSources(): string {
  const candidates = [fileURLToPath(new URL('../../lib/', import.meta.url)), `${process.cwd()}/lib/`];
  const found = candidates.find((dir) => existsSync(`${dir}sessions.ts`));
  assert.ok(found, `lib/*.ts not found in ${candidates.join(' or ')}`);
  return found;
}

/** Words of an identifier: `authTagLength` -> auth, tag, length. */
function words(identifier: string): string[] {
  return identifier
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

const SECRET_WORDS = new Set(['tag', 'mac', 'hmac', 'signature', 'sig', 'digest', 'secret', 'secrets', 'password', 'token', 'plaintext', 'expected']);
const PUBLIC_SUFFIXES = new Set(['length', 'count', 'bytes', 'index', 'name', 'info', 'size']);

/** Whether an operand of a comparison holds something secret (a MAC, a tag, a secret). */
function isSecretOperand(operand: string): boolean {
  const trimmed = operand.trim();
  if (/^(typeof\b|undefined$|null$|true$|false$|['"`\d-])/.test(trimmed)) return false;
  const ids = trimmed.match(/[A-Za-z_$][\w$]*/g) ?? [];
  const last = ids.at(-1);
  if (last === undefined) return false;
  const lastWords = words(last);
  if (PUBLIC_SUFFIXES.has(lastWords.at(-1)!)) return false;
  return ids.some((id) => words(id).some((w) => SECRET_WORDS.has(w)));
}

function isLiteral(operand: string): boolean {
  return /^(undefined|null|true|false|['"`].*|-?\d[\w.]*)\)*$/.test(operand.trim());
}

describe('5. timing', () => {
  test('static check of lib/*.ts: no MAC, tag or secret is compared with ===, !==, equals() or compare()', () => {
    const dir = libSources();
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    let comparisons = 0;
    const flagged: string[] = [];
    const hmacWithoutSafeEqual: string[] = [];
    let gcmDeciphers = 0;
    for (const file of files) {
      const source = readFileSync(dir + file, 'utf8');
      const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, ''); // comments out
      for (const [i, line] of code.split('\n').entries()) {
        const re = /([\w$.\[\]()!?]+)\s*(===|!==|==|!=)\s*([\w$.\[\]()'"`-]+)/g;
        for (const m of line.matchAll(re)) {
          comparisons++;
          if (/typeof\s*$/.test(line.slice(0, m.index))) continue; // typeof x === 'string'
          if (isLiteral(m[1]!) || isLiteral(m[3]!)) continue; // x === undefined: no secret is compared
          if (isSecretOperand(m[1]!) || isSecretOperand(m[3]!)) flagged.push(`${file}:${i + 1}: ${m[0]}`);
        }
        for (const m of line.matchAll(/([\w$.\[\]()]+)\.(equals|compare)\(([^)]*)\)|Buffer\.compare\(([^)]*)\)/g)) {
          comparisons++;
          if ([m[1], m[3], m[4]].some((o) => o !== undefined && isSecretOperand(o))) flagged.push(`${file}:${i + 1}: ${m[0]}`);
        }
      }
      if (/createHmac\(/.test(code) && !/timingSafeEqual\(/.test(code)) hmacWithoutSafeEqual.push(file);
      // AES-GCM: the tag is checked inside OpenSSL (constant time). Make sure it is checked at all,
      // and at its full length: without authTagLength, Node would accept a truncated tag.
      for (const m of code.matchAll(/createDecipheriv\(([^;]*?)\)\s*;/g)) {
        if (!/gcm/i.test(m[1]!)) continue;
        gcmDeciphers++;
        assert.match(m[1]!, /authTagLength/, `${file}: every GCM decipher must fix authTagLength`);
        assert.match(code, /setAuthTag\(/, `${file}: a GCM decipher must set the tag`);
        assert.match(code, /\.final\(\)/, `${file}: a GCM decipher must call final() to check the tag`);
      }
    }
    figure(`timing (static): ${files.length} lib files, ${comparisons} comparisons examined, ${flagged.length} on secrets/MACs/tags; ${gcmDeciphers} GCM deciphers with a full-length tag checked by OpenSSL; HMAC files without timingSafeEqual: ${hmacWithoutSafeEqual.length}`);
    assert.deepEqual(flagged, []);
    assert.deepEqual(hmacWithoutSafeEqual, []);
    assert.ok(comparisons > 20, 'the scanner found the comparisons in lib (it is not blind)');
  });

  test('the scanner catches a MAC compared with === (it can fail)', () => {
    for (const bad of ['tag === expectedTag', 'mac !== computed', 'signature == sig', 'hmac.digest() === value']) {
      const m = /([\w$.\[\]()!?]+)\s*(===|!==|==|!=)\s*([\w$.\[\]()'"`-]+)/.exec(bad)!;
      assert.ok(!isLiteral(m[1]!) && !isLiteral(m[3]!) && (isSecretOperand(m[1]!) || isSecretOperand(m[3]!)), bad);
    }
    for (const fine of ['secret.length < 32', 'authTagLength === 16', 'options[name] !== undefined', 'plaintext !== undefined', 'secret === null']) {
      const m = /([\w$.\[\]()!?]+)\s*(===|!==|==|!=|<)\s*([\w$.\[\]()'"`-]+)/.exec(fine)!;
      assert.ok(isLiteral(m[1]!) || isLiteral(m[3]!) || !(isSecretOperand(m[1]!) || isSecretOperand(m[3]!)), fine);
    }
  });

  test('a malformed ID is rejected without a store round trip; a well-formed unknown one costs exactly one', async () => {
    const store = new InstrumentedStore();
    const sessions = createSessions({ store });
    const random = prng(SEED);
    const malformed: string[] = [];
    while (malformed.length < 10_000) {
      const { value } = mutations([generateId()], 1, random)[0]!;
      if (!isWellFormedId(value)) malformed.push(value);
    }
    malformed.push('', '=', '"', 'x'.repeat(4096), generateId().slice(0, 42) + '\u0101', ' '.repeat(43));
    for (const value of malformed) {
      const { session } = await fakeRound(sessions, `sid=${value}`);
      assert.equal(session.isNew, true);
    }
    const malformedCalls = store.calls.get;
    for (let i = 0; i < 1000; i++) await fakeRound(sessions, `sid=${generateId()}`);
    const unknownCalls = store.calls.get - malformedCalls;
    figure(`timing: ${malformed.length} malformed IDs -> ${malformedCalls} store lookups; 1000 well-formed unknown IDs -> ${unknownCalls} lookups`);
    assert.equal(malformedCalls, 0);
    assert.equal(unknownCalls, 1000);
    await sessions.close();
  });
});

/**
 * A server whose `/login` puts a user in the session, plus the session cookie's value after a
 * login, checked to open that session: the starting point of the over-the-socket mutation tests.
 */
async function loggedIn(store: AnyStore) {
  const sessions = createSessions<{ user?: string }>({ store });
  const served = await serve(
    sessions.wrap((req, res, session) => {
      if (req.url === '/login') session.data.user = 'ada';
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ isNew: session.isNew, user: session.data.user ?? null }));
    }),
  );
  servers.push(served);
  const login = await fetch(`${served.url}/login`);
  const value = /^sid=([^;]+)/.exec(login.headers.getSetCookie()[0]!)![1]!;
  assert.deepEqual(await (await fetch(served.url, { headers: { cookie: `sid=${value}` } })).json(), { isNew: false, user: 'ada' });
  return { sessions, served, value };
}
