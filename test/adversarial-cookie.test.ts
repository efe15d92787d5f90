/**
 * Adversarial suite, groups 1 and 2: the Cookie parser under hostile input, and the Set-Cookie
 * serializer against header injection (RFC 6265 §4.1.1 and §5.2; OWASP "HTTP Response Splitting").
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { findCookies, parseCookie, stringifySetCookie, type SetCookieOptions } from '../lib/cookie.js';
import { isWellFormedId } from '../lib/id.js';
import { isWellFormedSeal } from '../lib/stores/seal.js';
import { MemoryStore } from '../lib/stores/memory.js';
import { createSessions } from '../lib/sessions.js';
import { serve, type Served } from './helpers.js';
import { figure, prng, randomInt, SEED, SOAK } from './adversarial-helpers.js';

/** The first value of a cookie, as the manager's first try sees it. */
const findCookie1 = (header: string | readonly string[] | undefined, name: string) => findCookies(header, name, 1)[0];

const servers: Served[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

// --- A reference model of the parser, written from its documented rules ----------------------------

/** What parseCookie promises, written the slow and obvious way: the oracle for the fuzzer. */
function model(headers: string | readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const header of typeof headers === 'string' ? [headers] : headers) {
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1) continue;
      const name = trimBlanks(pair.slice(0, eq));
      if (name === '' || name in out) continue;
      let value = trimBlanks(pair.slice(eq + 1));
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      out[name] = safeDecode(value);
    }
  }
  return out;
}

function trimBlanks(s: string): string {
  return s.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
}

function safeDecode(s: string): string {
  if (!s.includes('%')) return s;
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) return s; // a bad escape: decodeURIComponent would throw (throws are slow)
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// --- Hostile header generator --------------------------------------------------------------------

const NASTY_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'sid', 'a', ''];
const NASTY_PIECES = [
  '=', ';', '%', '%z', '%zz', '%0', '%00', '%E0%A4%A', '%ED%A0%80', '%C0%AF', '"', '""', '\\', ' ', '\t', '\r', '\n', '\0',
  '\u0001', '\u007f', '\u0085', '\u00a0', '\u2028', '\ufeff', '\ud800', '\udc00', '\udbff\udfff', '😀', 'é', 'e\u0301', '𝒜',
  '__proto__', 'constructor', '{}', '[]', ',', '$', '&', '+',
];

function hostileString(random: () => number, maxPieces: number): string {
  let s = '';
  const pieces = randomInt(random, maxPieces + 1);
  for (let i = 0; i < pieces; i++) {
    const r = random();
    if (r < 0.45) s += NASTY_PIECES[randomInt(random, NASTY_PIECES.length)];
    else if (r < 0.6) s += String.fromCharCode(randomInt(random, 0x10000)); // any UTF-16 unit, lone surrogates too
    else if (r < 0.7) s += String.fromCharCode(randomInt(random, 0x20)); // control characters
    else s += String.fromCharCode(0x21 + randomInt(random, 0x5e)); // printable ASCII
  }
  return s;
}

/** One hostile header: pairs of nasty names and values, sometimes huge or with 1,000 pairs. */
function hostileHeader(random: () => number): string {
  const shape = random();
  let pairs: number;
  let pieces: number;
  if (shape < 0.003) [pairs, pieces] = [1000, 3]; // 1,000 pairs
  else if (shape < 0.006) [pairs, pieces] = [1, 8192]; // one 8 KB-ish value
  else if (shape < 0.009) return hostileString(random, 4096).padEnd(8192, ';=%" '.charAt(randomInt(random, 5))); // 8 KB of junk
  else [pairs, pieces] = [1 + randomInt(random, 8), 12];
  const parts: string[] = [];
  for (let i = 0; i < pairs; i++) {
    const name = random() < 0.5 ? NASTY_NAMES[randomInt(random, NASTY_NAMES.length)]! : hostileString(random, 4);
    const sep = random() < 0.9 ? '=' : '';
    parts.push(`${random() < 0.2 ? ' \t' : ''}${name}${sep}${hostileString(random, pieces)}`);
  }
  return parts.join(random() < 0.8 ? '; ' : ';');
}

// --- Group 1: parser --------------------------------------------------------------------------------

/**
 * Whether nothing is inherited: no prototype, or a chain of empty prototypes ending in null (the
 * parser may use a constructor whose prototype is `Object.create(null)`, as jshttp/cookie does).
 */
function inheritsNothing(object: object): boolean {
  for (let proto = Object.getPrototypeOf(object); proto !== null; proto = Object.getPrototypeOf(proto)) {
    if (proto === Object.prototype || Reflect.ownKeys(proto).length > 0) return false;
  }
  return true;
}

function prototypeSnapshot(): string {
  return JSON.stringify([Object.getOwnPropertyNames(Object.prototype).sort(), typeof Object.prototype.toString, Object.getPrototypeOf({})]);
}

describe('1. parser fuzzing', () => {
  test('100,000 hostile Cookie headers: no throw, no pollution, nothing inherited, same as the reference model', () => {
    const total = SOAK ? 1_000_000 : 100_000;
    const random = prng(SEED);
    const before = prototypeSnapshot();
    let throws = 0;
    let mismatches = 0;
    let bytes = 0;
    let firstMismatch: string | undefined;
    for (let i = 0; i < total; i++) {
      // Every tenth request comes as several header fields (HTTP/2).
      const header: string | string[] = i % 10 === 0 ? [hostileHeader(random), hostileHeader(random)] : hostileHeader(random);
      bytes += typeof header === 'string' ? header.length : header[0]!.length + header[1]!.length;
      let parsed: Record<string, string>;
      try {
        parsed = parseCookie(header);
      } catch {
        throws++;
        continue;
      }
      if (!inheritsNothing(parsed)) throws++; // counted as a failure too
      const expected = model(header);
      let same = Object.keys(parsed).length === Object.keys(expected).length;
      for (const [k, name] of Object.keys(expected).entries()) {
        if (parsed[name] !== expected[name]) same = false;
        if (k >= 4) continue; // findCookie rescans the header per name: check the first few
        // findCookie (what the manager uses) must agree on which value is first, undecoded.
        const raw = findCookie1(header, name);
        if (raw === undefined || (raw !== parsed[name] && safeDecode(raw) !== parsed[name])) same = false;
      }
      if (!same) {
        mismatches++;
        firstMismatch ??= JSON.stringify(header).slice(0, 300);
      }
    }
    const polluted = prototypeSnapshot() !== before || ({} as Record<string, unknown>).polluted !== undefined;
    figure(`parser fuzz (seeded, SEED=${SEED}): ${total} headers (${(bytes / 2 ** 20).toFixed(1)} MB), ${throws} throws, ${mismatches} differ from the model, prototype polluted: ${polluted}`);
    assert.equal(throws, 0);
    assert.equal(mismatches, 0, `first mismatch: ${firstMismatch}`);
    assert.equal(polluted, false);
  });

  test('fast-check: arbitrary UTF-16 (lone surrogates too) and nasty pair lists never throw and match the model', () => {
    const runs = SOAK ? 100_000 : 20_000;
    const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    const piece = fc.oneof(fc.constantFrom(...NASTY_PIECES), anyUnit);
    const name = fc.oneof(fc.constantFrom(...NASTY_NAMES), fc.string({ unit: piece, maxLength: 4 }));
    const value = fc.string({ unit: piece, maxLength: 12 });
    const header = fc.oneof(
      fc.string({ unit: anyUnit, maxLength: 64 }),
      fc.array(fc.tuple(name, fc.constantFrom('=', '', ' = '), value), { maxLength: 12 }).map((pairs) => pairs.map(([n, s, v]) => n + s + v).join(';')),
    );
    const before = prototypeSnapshot();
    let checked = 0;
    fc.assert(
      fc.property(fc.oneof(header, fc.array(header, { maxLength: 3 })), (h) => {
        checked++;
        const parsed = parseCookie(h);
        assert.ok(inheritsNothing(parsed));
        assert.deepEqual({ ...parsed }, { ...model(h) });
        // What the manager reads, skipping what cannot be a session: never throws either.
        for (const isCandidate of [isWellFormedId, isWellFormedSeal]) {
          for (const name of Object.keys(parsed).slice(0, 2)) assert.ok(findCookies(h, name, 8, isCandidate).length <= 8);
        }
      }),
      { numRuns: runs, seed: SEED },
    );
    assert.equal(prototypeSnapshot(), before);
    figure(`parser fuzz (fast-check, seed ${SEED}): ${checked} headers, 0 throws, 0 differ from the model`);
  });

  /** How many times longer `run` takes on a 64 KB header of a shape than on an 8 KB one. */
  function growth(make: (n: number) => string, run: (header: string) => unknown): number {
    const sizes = [8192, 16384, 32768, 65536];
    // Repeat the call often enough that the smallest size takes about 2 ms, so timer noise does not count.
    const small = make(sizes[0]!);
    const t0 = performance.now();
    run(small);
    const single = Math.max(performance.now() - t0, 0.0005);
    const repeats = Math.max(1, Math.min(10_000, Math.ceil(2 / single)));
    const times: number[] = [];
    for (const n of sizes) {
      const header = make(n);
      let best = Infinity;
      for (let r = 0; r < 5; r++) {
        const start = performance.now();
        for (let k = 0; k < repeats; k++) run(header);
        best = Math.min(best, performance.now() - start);
      }
      times.push(best);
      if (best > 40 * times[0]!) break; // already far past the bound: spare the larger sizes
    }
    // After an early stop, the ratio so far (already over the bound) stands for the whole.
    return Math.max(...times) / times[0]!;
  }

  test('parse time grows linearly with the header size for worst-case shapes (8 KB to 64 KB)', () => {
    const shapes: Record<string, (n: number) => string> = {
      "';;;;'": (n) => ';'.repeat(n),
      "'a;a;'": (n) => 'a;'.repeat(n / 2),
      "'====='": (n) => '='.repeat(n),
      "'a=%%%'": (n) => 'a=' + '%'.repeat(n - 2),
      "'\"\"\"'": (n) => '"'.repeat(n),
      "'   '": (n) => ' '.repeat(n),
      "' ; ;'": (n) => ' ;'.repeat(n / 2),
      "'a=b; '": (n) => 'a=b; '.repeat(n / 5),
      "'x=%E0%A4'": (n) => 'x=' + '%E0%A4'.repeat(n / 6),
      "'=;'": (n) => '=;'.repeat(n / 2),
      "'sid=x;'": (n) => 'sid=x;'.repeat(n / 6),
    };
    const rows: string[] = [];
    let worst = 0;
    let worstShape = '';
    for (const [label, make] of Object.entries(shapes)) {
      for (const [fn, run] of [
        ['parseCookie', (h: string) => parseCookie(h)],
        ['findCookie', (h: string) => findCookie1(h, 'sid')],
        ['findCookies (skipping junk)', (h: string) => findCookies(h, 'sid', 8, isWellFormedId)],
      ] as const) {
        // A busy machine can stretch one measurement; a superlinear parser is over the bound every
        // time. So a ratio over it is measured again, up to twice, and the lowest stands.
        let ratio = growth(make, run);
        for (let attempt = 1; attempt < 3 && ratio > 30; attempt++) ratio = Math.min(ratio, growth(make, run));
        if (ratio > worst) [worst, worstShape] = [ratio, `${fn} ${label}`];
        rows.push(`${fn} ${label}: x${ratio.toFixed(1)}`);
      }
    }
    figure(`parser linearity: 8x header size -> worst ${worst.toFixed(1)}x time (${worstShape}); bound 30x`);
    figure(`  ${rows.join(', ')}`);
    assert.ok(worst <= 30, `parse time is superlinear: ${worstShape} took ${worst.toFixed(1)}x longer for an 8x larger header`);
  });

  test('round trip: parseCookie(stringifySetCookie(name, encodeURIComponent(value)))[name] === value', () => {
    const runs = SOAK ? 100_000 : 20_000;
    const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".split('');
    const name = fc.oneof(fc.string({ unit: fc.constantFrom(...tchar), minLength: 1, maxLength: 20 }), fc.constantFrom('__proto__', 'constructor', 'toString'));
    let checked = 0;
    fc.assert(
      fc.property(name, fc.string({ unit: 'grapheme', maxLength: 40 }), (n, value) => {
        checked++;
        const header = stringifySetCookie(n, encodeURIComponent(value), { path: '/', httpOnly: true, sameSite: 'lax' });
        assert.equal(parseCookie(header.split(';')[0])[n], value);
        // With other cookies around it, as a browser sends them back.
        assert.equal(parseCookie(`x=1; ${header.split(';')[0]}; y=2`)[n === 'x' || n === 'y' ? 'zz' : n], n === 'x' || n === 'y' ? undefined : value);
      }),
      { numRuns: runs, seed: SEED },
    );
    // Raw cookie-octets (no encoding) come back unchanged too, unless they hold '%' or are quoted.
    const octet = fc.integer({ min: 0x21, max: 0x7e }).filter((c) => c !== 0x22 && c !== 0x2c && c !== 0x3b && c !== 0x5c && c !== 0x25).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(name, fc.string({ unit: octet, maxLength: 40 }), (n, value) => {
        checked++;
        assert.equal(parseCookie(stringifySetCookie(n, value).split(';')[0])[n], value);
      }),
      { numRuns: runs, seed: SEED },
    );
    figure(`cookie round trip: ${checked} pairs, 0 differ`);
  });
});

// --- Group 2: serializer -------------------------------------------------------------------------

const BEYOND_LATIN1 = [0x100, 0x17f, 0x2028, 0x2029, 0xfeff, 0xff0d, 0xd800, 0xdc00, 0x1f600];
const ALL_CODE_POINTS = [...Array.from({ length: 256 }, (_, i) => i), ...BEYOND_LATIN1];
const TCHAR = new Set("!#$%&'*+-.^_`|~".split('').map((c) => c.charCodeAt(0)));
const isAlnum = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** The characters each field may hold, from the RFCs (what must be accepted, and nothing else). */
const ALLOWED: Record<'name' | 'value' | 'path' | 'domain', (c: number) => boolean> = {
  name: (c) => isAlnum(c) || TCHAR.has(c), // RFC 9110 token
  value: (c) => c >= 0x21 && c <= 0x7e && c !== 0x22 && c !== 0x2c && c !== 0x3b && c !== 0x5c, // RFC 6265 cookie-octet
  path: (c) => c >= 0x20 && c <= 0x7e && c !== 0x3b, // RFC 6265 path-value: CHAR except CTLs and ';'
  domain: (c) => isAlnum(c) || c === 0x2d || c === 0x2e, // RFC 1034 host name
};

const DANGEROUS = (c: number) => c < 0x20 || c === 0x7f || c === 0x3b || c > 0x7e; // controls (CR, LF, NUL), ';', non-ASCII

function attempt(field: 'name' | 'value' | 'path' | 'domain', text: string): string | TypeError {
  try {
    if (field === 'name') return stringifySetCookie(text, 'v');
    if (field === 'value') return stringifySetCookie('n', text);
    const options: SetCookieOptions = { [field]: text };
    return stringifySetCookie('n', 'v', options);
  } catch (error) {
    assert.ok(error instanceof TypeError, `a rejection must be a TypeError, got ${String(error)}`);
    assert.match(error.message, new RegExp(field === 'name' || field === 'value' ? `cookie ${field}` : `option ${field}`), 'the message names the field');
    return error;
  }
}

describe('2. serializer hardening', () => {
  for (const field of ['name', 'value', 'path', 'domain'] as const) {
    test(`every byte 0x00-0xFF and ${BEYOND_LATIN1.length} code points beyond, in the ${field}: only the RFC's characters pass`, () => {
      let accepted = 0;
      let dangerousAccepted = 0;
      const wrong: string[] = [];
      for (const c of ALL_CODE_POINTS) {
        const ch = String.fromCodePoint(c);
        // Alone, at the start, in the middle and at the end: 'x' + ch + 'y' for instance.
        for (const text of [ch, `${ch}ab`, `a${ch}b`, `ab${ch}`]) {
          const out = attempt(field, field === 'path' ? `/${text}` : text);
          const ok = typeof out === 'string';
          if (ok !== ALLOWED[field](c)) wrong.push(`U+${c.toString(16).padStart(4, '0')} ${ok ? 'accepted' : 'refused'} in ${JSON.stringify(text)}`);
          if (!ok) continue;
          if (text === ch) accepted++;
          if (DANGEROUS(c)) dangerousAccepted++;
          // What was accepted cannot split the header or add an attribute.
          assert.doesNotMatch(out, /[\r\n\0]/);
          assert.equal(out.split(';').length, field === 'name' || field === 'value' ? 1 : 2, `no attribute injected: ${out}`);
        }
      }
      figure(`serializer (${field}): ${ALL_CODE_POINTS.length} code points tried, ${accepted} accepted (all RFC-allowed), ${dangerousAccepted} dangerous accepted`);
      assert.deepEqual(wrong, []);
      assert.equal(dangerousAccepted, 0);
    });
  }

  test('injection attempts and non-string input in every field and option throw a TypeError', () => {
    const evil = ['x\r\nSet-Cookie: admin=1', 'x\nLocation: //evil', 'x; Domain=evil.example', 'x;Path=/', 'x\0', '', ' x', 'x ', 'x,y'];
    let refused = 0;
    const cases: [string, () => unknown][] = [
      ...evil.map((e): [string, () => unknown] => ['name', () => stringifySetCookie(e, 'v')]),
      ...evil.filter((e) => e !== '').map((e): [string, () => unknown] => ['value', () => stringifySetCookie('n', e)]),
      ...evil.filter((e) => /[;\r\n\0]/.test(e)).map((e): [string, () => unknown] => ['path', () => stringifySetCookie('n', 'v', { path: e })]),
      ...evil.map((e): [string, () => unknown] => ['domain', () => stringifySetCookie('n', 'v', { domain: e })]),
      ['name', () => stringifySetCookie({ toString: () => 'n' } as unknown as string, 'v')],
      ['value', () => stringifySetCookie('n', 42 as unknown as string)],
      ['maxAge', () => stringifySetCookie('n', 'v', { maxAge: 1.5 })],
      ['maxAge', () => stringifySetCookie('n', 'v', { maxAge: Number.NaN })],
      ['maxAge', () => stringifySetCookie('n', 'v', { maxAge: '1; Domain=evil' as unknown as number })],
      ['expires', () => stringifySetCookie('n', 'v', { expires: new Date(Number.NaN) })],
      ['expires', () => stringifySetCookie('n', 'v', { expires: 'Thu, 01 Jan 1970; x' as unknown as Date })],
      ['sameSite', () => stringifySetCookie('n', 'v', { sameSite: '__proto__' as 'lax' })],
      ['sameSite', () => stringifySetCookie('n', 'v', { sameSite: 'toString' as 'lax' })],
      ['sameSite', () => stringifySetCookie('n', 'v', { sameSite: 'lax; Domain=evil' as 'lax' })],
      ['path', () => stringifySetCookie('n', 'v', { path: ['/', 'x'] as unknown as string })],
      ['domain', () => stringifySetCookie('n', 'v', { domain: 'a'.repeat(256) })],
    ];
    for (const [field, call] of cases) {
      assert.throws(call, TypeError, `${field} should be refused`);
      refused++;
    }
    figure(`serializer: ${cases.length} injection attempts, ${refused} refused with a TypeError`);
  });

  test('createSessions refuses injection in its cookie options at startup', () => {
    const bad = [{ name: 'sid\r\nX: 1' }, { name: 'a=b' }, { path: '/\r\nX: 1' }, { path: '/;Domain=evil' }, { domain: 'evil.example\r\n' }, { domain: 'a;b' }];
    for (const cookie of bad) assert.throws(() => createSessions({ store: new MemoryStore({ pruneInterval: 0 }), cookie }), TypeError, JSON.stringify(cookie));
    figure(`serializer: ${bad.length} bad cookie configurations refused at startup`);
  });

  test('over a real socket: a handler that serializes an evil cookie gets an error, and nothing of it reaches the wire', async () => {
    const errors: unknown[] = [];
    const sessions = createSessions<{ n?: number }>({ store: new MemoryStore({ pruneInterval: 0 }), onError: (e) => errors.push(e.cause) });
    const evil = [
      ['value', 'evilvalue\r\nSet-Cookie: admin=1'],
      ['name', 'evilname\r\nX-Injected: 1'],
      ['path', '/evilpath\r\nX-Injected: 1'],
      ['domain', 'evildomain.example\r\nX-Injected: 1'],
      ['value', 'evilvalue; Domain=evil.example'],
    ] as const;
    const served = await serve(
      sessions.wrap((req, res, session) => {
        session.data.n = 1; // the session cookie is due as well
        const [field, payload] = evil[Number(req.url!.slice(1))]!;
        res.setHeader('x-before', 'ok');
        const header =
          field === 'value' ? stringifySetCookie('c', payload)
          : field === 'name' ? stringifySetCookie(payload, 'v')
          : stringifySetCookie('c', 'v', { [field]: payload });
        res.setHeader('set-cookie', header); // never reached
        res.end('should not be sent');
      }),
    );
    servers.push(served);
    let leaked = 0;
    for (let i = 0; i < evil.length; i++) {
      const raw = await rawRequest(served.port, `GET /${i} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
      assert.match(raw, /^HTTP\/1\.1 500 /);
      if (/evil|admin|injected|should not/i.test(raw)) leaked++;
    }
    figure(`serializer over a socket: ${evil.length} evil cookies from a handler, ${errors.length} TypeErrors reported, ${leaked} reached the wire`);
    assert.equal(leaked, 0);
    assert.equal(errors.length, evil.length);
    assert.ok(errors.every((e) => e instanceof TypeError));
  });
});

/** Sends raw bytes and answers everything the server wrote until it closed. */
export function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.write(request);
  });
}
