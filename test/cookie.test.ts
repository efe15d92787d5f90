import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findCookies, parseCookie, stringifySetCookie } from '../lib/cookie.js';
import { generateId, isWellFormedId } from '../lib/id.js';

/** The first value of a cookie, as the manager's first try sees it. */
const findCookie1 = (header: string | readonly string[] | undefined, name: string) => findCookies(header, name, 1)[0];

describe('parseCookie', () => {
  const cases: Array<[string, string | string[] | undefined, Record<string, string>]> = [
    ['no header', undefined, {}],
    ['empty header', '', {}],
    ['one pair', 'sid=abc', { sid: 'abc' }],
    ['several pairs', 'a=1; b=2;c=3', { a: '1', b: '2', c: '3' }],
    ['spaces and tabs trimmed', ' \ta = 1 \t;\t b=2 ', { a: '1', b: '2' }],
    ['first duplicate wins', 'a=1; a=2', { a: '1' }],
    ['pair without = skipped', 'flag; a=1; ; =; =x', { a: '1' }],
    ['empty value kept', 'a=; b=2', { a: '', b: '2' }],
    ['quotes removed', 'a="quoted value"; b="', { a: 'quoted value', b: '"' }],
    ['= inside value kept', 'a=b=c', { a: 'b=c' }],
    ['percent-decoded', 'a=caf%C3%A9%20au%20lait', { a: 'café au lait' }],
    ['bad escape keeps raw', 'a=100%; b=%E0%A4%A; c=%zz', { a: '100%', b: '%E0%A4%A', c: '%zz' }],
    ['several headers (HTTP/2)', ['a=1; b=2', 'c=3', 'a=9'], { a: '1', b: '2', c: '3' }],
    ['unicode value', 'a=日本', { a: '日本' }],
  ];
  for (const [name, header, expected] of cases) {
    test(name, () => assert.deepEqual({ ...parseCookie(header) }, expected));
  }

  test('names like __proto__ and toString are plain entries', () => {
    const cookies = parseCookie('__proto__=x; toString=y; constructor=z; hasOwnProperty=w');
    assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(cookies)), null, 'nothing up the prototype chain');
    assert.equal(cookies['__proto__'], 'x');
    assert.equal(cookies['toString'], 'y');
    assert.equal(({} as Record<string, unknown>)['toString'], Object.prototype.toString);
    assert.equal(parseCookie('a=1')['toString'], undefined, 'nothing inherited');
  });

  test('never throws on junk', () => {
    for (const header of [';;;', '=', '%', '\u0000=\u0000', 'a=\ud800', 'a'.repeat(10000), '"=";"'] as string[]) {
      assert.doesNotThrow(() => parseCookie(header));
    }
    assert.doesNotThrow(() => parseCookie([undefined as unknown as string, 'a=1']));
  });
});

describe('findCookie', () => {
  test('finds one cookie raw, first wins, across headers', () => {
    assert.equal(findCookie1('a=1; sid=x%41; sid=y', 'sid'), 'x%41');
    assert.equal(findCookie1(['a=1', ' sid = "q" '], 'sid'), 'q');
    assert.equal(findCookie1('sidx=1; xsid=2', 'sid'), undefined);
    assert.equal(findCookie1(undefined, 'sid'), undefined);
  });

  test('with isCandidate: refused values are skipped and do not count; none accepted gives the first value alone', () => {
    const [a, b, c] = [generateId(), generateId(), generateId()];
    const cases: [string, string | string[], number, string[]][] = [
      ['junk before the real one', `sid=x; sid=y; sid=z; sid=${a}`, 1, [a]],
      ['junk does not count toward max', `sid=${a}; sid=x; sid=y; sid=${b}; sid=${c}`, 2, [a, b]],
      ['max across header lines', [`sid=x; sid=${a}`, `sid=y; sid=${b}`, `sid=${c}`], 2, [a, b]],
      ['none accepted: the first value', 'sid=x; sid=y', 8, ['x']],
      ['none accepted, across lines', ['a=1', 'sid="q"; sid=r'], 8, ['q']],
      ['no such cookie', 'a=1; b=2', 8, []],
    ];
    for (const [name, header, max, expected] of cases) assert.deepEqual(findCookies(header, 'sid', max, isWellFormedId), expected, name);
  });
});

describe('stringifySetCookie', () => {
  test('writes every attribute', () => {
    assert.equal(
      stringifySetCookie('sid', 'abc', { maxAge: 60, expires: new Date(0), domain: 'example.com', path: '/', httpOnly: true, secure: true, partitioned: true, sameSite: 'lax' }),
      'sid=abc; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=example.com; Path=/; HttpOnly; Secure; Partitioned; SameSite=Lax',
    );
    assert.equal(stringifySetCookie('a', ''), 'a=');
  });

  const bad: Array<[string, () => string, RegExp]> = [
    ['CR LF in name', () => stringifySetCookie('a\r\nX-Evil: 1', 'v'), /cookie name is invalid/],
    ['; in name', () => stringifySetCookie('a;b', 'v'), /cookie name is invalid/],
    ['empty name', () => stringifySetCookie('', 'v'), /cookie name is invalid/],
    ['space in value', () => stringifySetCookie('a', 'b c'), /cookie value is invalid.*encodeURIComponent/],
    ['; in value', () => stringifySetCookie('a', 'b; Domain=evil.com'), /cookie value is invalid/],
    ['LF in value', () => stringifySetCookie('a', 'b\nSet-Cookie: x=y'), /cookie value is invalid/],
    ['non-ASCII value', () => stringifySetCookie('a', 'é'), /cookie value is invalid/],
    ['; in path', () => stringifySetCookie('a', 'b', { path: '/; HttpOnly' }), /option path is invalid/],
    ['CR in path', () => stringifySetCookie('a', 'b', { path: '/\r' }), /option path is invalid/],
    ['; in domain', () => stringifySetCookie('a', 'b', { domain: 'a.com; Secure' }), /option domain is invalid/],
    ['space in domain', () => stringifySetCookie('a', 'b', { domain: 'a .com' }), /option domain is invalid/],
    ['fractional maxAge', () => stringifySetCookie('a', 'b', { maxAge: 1.5 }), /option maxAge is invalid/],
    ['invalid date', () => stringifySetCookie('a', 'b', { expires: new Date(NaN) }), /option expires is invalid/],
    ['unknown sameSite', () => stringifySetCookie('a', 'b', { sameSite: 'toString' as 'lax' }), /option sameSite is invalid/],
  ];
  for (const [name, fn, message] of bad) {
    test(`refuses ${name} with a TypeError`, () => assert.throws(fn, { name: 'TypeError', message }));
  }

  test('round trip through parseCookie, with encodeURIComponent for any string', () => {
    for (const value of ['plain', 'with space', 'semi;colon', 'ünï', '%41', '"q"', '']) {
      const header = stringifySetCookie('c', encodeURIComponent(value), { path: '/' });
      const pair = header.split('; ')[0]!;
      assert.equal(parseCookie(pair)['c'], value);
    }
  });
});
