/**
 * The session manager over real sockets: each behaviour of the core issue, one `describe` each.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect as connectHttp2, createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { connect as connectTcp, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, describe, mock, test, type TestContext } from 'node:test';
import { generateId, isWellFormedId } from '../lib/id.js';
import { CookieStore } from '../lib/stores/cookie.js';
import { MemoryStore } from '../lib/stores/memory.js';
import { createSessions, SessionError, type SessionsOptions } from '../lib/sessions.js';
import { Client, cookieValue, GatedStore, InstrumentedStore, serve, traceOf, type Served } from './helpers.js';
import { decodeData, encodeData } from '../lib/data.js';

type Data = { n?: number; user?: string; list?: number[] };

const servers: Served[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

/**
 * The process warnings emitted from now until the test `t` ends, as `{ code, message }`. Node emits
 * a warning on the next tick, so wait a turn (`setImmediate`) before reading what came.
 */
function warningsDuring(t: TestContext): { code: string | undefined; message: string }[] {
  const seen: { code: string | undefined; message: string }[] = [];
  const listen = (warning: Error & { code?: string }) => seen.push({ code: warning.code, message: warning.message });
  process.on('warning', listen);
  t.after(() => process.off('warning', listen));
  return seen;
}

/** A counter app: `/` reads, `/add` increments, `/login` regenerates, `/logout` destroys. */
async function counterApp(options: SessionsOptions = {}) {
  const sessions = createSessions<Data>({ ...options, store: options.store ?? new MemoryStore({ pruneInterval: 0 }) });
  const served = await serve(
    sessions.wrap(async (req, res, session) => {
      const url = req.url ?? '/';
      if (url === '/add') session.data.n = (session.data.n ?? 0) + 1;
      if (url === '/login') {
        await session.regenerate();
        session.data.user = 'ada';
        res.writeHead(302, { location: '/' });
        res.end();
        return;
      }
      if (url === '/logout') await session.destroy();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: session.isNew ? null : session.id, isNew: session.isNew, data: session.data }));
    }),
  );
  servers.push(served);
  return { sessions, served, client: new Client(served.url) };
}


describe('1. reading the Cookie header', () => {
  test('finds the session among other cookies, with blanks and tabs around them', async () => {
    const { client, served } = await counterApp();
    await client.get('/add');
    const sid = client.jar.get('sid');
    const other = new Client(served.url);
    const reply = await other.request('/', { headers: { cookie: ` a=1;\tsid=${sid} ;b="x" ; junk; c=%zz` } });
    assert.deepEqual(JSON.parse(reply.body).data, { n: 1 });
  });

  test('the first of duplicate names wins', async () => {
    const { client, served } = await counterApp();
    await client.get('/add');
    const sid = client.jar.get('sid');
    const reply = await new Client(served.url).request('/', { headers: { cookie: `sid=${sid}; sid=AAAA` } });
    assert.deepEqual(JSON.parse(reply.body).data, { n: 1 });
  });

  test('a planted duplicate before the real cookie (from a sibling subdomain) neither logs out nor clears the real one', async () => {
    for (const store of [new MemoryStore({ pruneInterval: 0 }), new CookieStore({ secret: 'a test secret of at least thirty-two characters' })]) {
      const { client, served } = await counterApp({ store });
      await client.get('/add');
      const real = client.jar.get('sid')!;
      const planted = [`sid=junk; sid=${real}`, `sid=${generateId()}; sid=${real}`, `sid=junk; sid=${generateId()}; sid=${real}`];
      for (const cookie of planted) {
        const reply = await new Client(served.url).request('/', { headers: { cookie } });
        assert.deepEqual(JSON.parse(reply.body).data, { n: 1 }, `${store.constructor.name}: ${cookie.slice(0, 30)}`);
        assert.deepEqual(reply.setCookies, [], 'the real cookie is not touched');
      }
    }
  });

  test('values of the cookie that cannot be a session, however many, are skipped for free and never hide the real one', async () => {
    const SECRET = 'a test secret of at least thirty-two characters';
    const rejected: string[] = [];
    const kinds = [
      {
        // Not 43 characters of canonical base64url ('A' × 42 + 'B' has spare bits set): never an ID.
        store: new InstrumentedStore(),
        junk: ['x', '', 'junk', 'A'.repeat(42), 'A'.repeat(42) + 'B', '%41'.repeat(15), `v3.${'A'.repeat(60)}`],
      },
      {
        // No known version prefix, too short, or not canonical base64url: never opens. A bare ID is junk here.
        store: new CookieStore({ secret: SECRET, onReject: (reason) => rejected.push(reason) }),
        junk: ['x', '', 'junk', generateId(), 'v3.short', `v9.${'A'.repeat(60)}`, `v3.${'A'.repeat(59)}!`],
      },
    ];
    for (const { store, junk } of kinds) {
      const { client, served } = await counterApp({ store });
      await client.get('/add');
      const real = client.jar.get('sid')!;
      const planted = [...junk, ...junk, ...junk].map((value) => `sid=${value}`).join('; '); // 21 values
      rejected.length = 0;
      if (store instanceof InstrumentedStore) store.calls.get = 0;
      const reply = await new Client(served.url).request('/', { headers: { cookie: `${planted}; sid=${real}` } });
      assert.deepEqual(JSON.parse(reply.body).data, { n: 1 }, `${store.constructor.name}: the real cookie after 21 junk values`);
      assert.deepEqual(reply.setCookies, [], 'the real cookie is not touched');
      if (store instanceof InstrumentedStore) assert.equal(store.calls.get, 1, 'junk cost no lookup');
      else assert.deepEqual(rejected, [], 'junk cost no open, and no report');
      // Junk alone: a fresh session, and the CookieStore still reports one refused cookie, not 21.
      const alone = await new Client(served.url).request('/', { headers: { cookie: planted } });
      assert.equal(JSON.parse(alone.body).isNew, true);
      if (!(store instanceof InstrumentedStore)) assert.deepEqual(rejected, ['malformed']);
    }
  });

  test('at most eight values that could be a session are tried (each a lookup or an open): seven planted before the real one are tolerated, eight are not', async () => {
    const SECRET = 'a test secret of at least thirty-two characters';
    // Well-formed values anyone can make: random IDs, or cookies sealed with a secret of their own.
    const attacker = new CookieStore({ secret: 'the attacker’s own secret, thirty-two characters or more' });
    const opens: string[] = [];
    const kinds = [
      { store: new InstrumentedStore(), plant: () => generateId() },
      {
        store: new CookieStore({ secret: SECRET, onReject: (reason) => opens.push(reason) }),
        plant: () => attacker.seal(generateId(), { data: encodeData({ n: 99 }), createdAt: Date.now(), expiresAt: Date.now() + 60_000 }, 'sid'),
      },
    ];
    for (const { store, plant } of kinds) {
      const { client, served } = await counterApp({ store });
      await client.get('/add');
      const real = client.jar.get('sid')!;
      const tried = () => (store instanceof InstrumentedStore ? store.calls.get : opens.length);
      const ask = async (planted: number) => {
        opens.length = 0;
        if (store instanceof InstrumentedStore) store.calls.get = 0;
        // Junk between them counts for nothing.
        const values = Array.from({ length: planted }, (_, i) => `sid=${plant()}; sid=junk${i}`);
        const reply = await new Client(served.url).request('/', { headers: { cookie: [...values, `sid=${real}`].join('; ') } });
        assert.equal(reply.status, 200);
        return JSON.parse(reply.body) as { isNew: boolean; data: Data };
      };
      assert.deepEqual((await ask(7)).data, { n: 1 }, `${store.constructor.name}: seven planted, then the real one`);
      assert.equal(tried(), store instanceof InstrumentedStore ? 8 : 7, 'seven refused, then the real one (a lookup; an open that reports nothing)');
      assert.equal((await ask(8)).isNew, true, 'eight planted: the real one is not reached');
      assert.equal(tried(), 8, 'eight tried, no more');
      assert.equal((await ask(40)).isNew, true);
      assert.equal(tried(), 8, 'forty planted cost no more than eight');
    }
  });

  test('reads every Cookie header line of an HTTP/1.1 request', async () => {
    const { client, served } = await counterApp();
    await client.get('/add');
    const sid = client.jar.get('sid');
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connectTcp(served.port, '127.0.0.1', () => {
        socket.end(`GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nCookie: sid=${sid}\r\nConnection: close\r\n\r\n`);
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(raw, /"data":\{"n":1\}/);
  });

  test('hostile cookies never crash the server', async () => {
    const { served } = await counterApp();
    const client = new Client(served.url);
    for (const cookie of ['__proto__=1; constructor=2; toString=3', '=;=;;;', 'sid=%', 'sid="', `sid=${'A'.repeat(8000)}`, 'sid=\u00ff\u00fe']) {
      const reply = await client.request('/', { headers: { cookie } });
      assert.equal(reply.status, 200, cookie);
      assert.equal(JSON.parse(reply.body).isNew, true);
    }
    assert.equal(({} as Record<string, unknown>).constructor, Object, 'Object.prototype untouched');
  });
});

describe('2. writing Set-Cookie', () => {
  test("the handler's own Set-Cookie headers are kept next to the session cookie", async () => {
    const sessions = createSessions<Data>();
    const served = await serve(
      sessions.wrap((req, res, session) => {
        session.data.n = 1;
        if (req.url === '/head') {
          res.writeHead(200, { 'Set-Cookie': ['theme=dark', 'lang=en'] });
          res.end('ok');
          return;
        }
        res.setHeader('Set-Cookie', ['theme=dark', 'lang=en']);
        res.end('ok');
      }),
    );
    servers.push(served);
    for (const path of ['/set', '/head']) {
      const reply = await new Client(served.url).get(path);
      const names = reply.setCookies.map((c) => c.split('=')[0]).sort();
      assert.deepEqual(names, ['lang', 'sid', 'theme'], path);
    }
  });

  test('a new session changed after the headers went out is not saved, and a PLAIN_SESSION_TOO_LATE warning says so', async (t) => {
    const store = new InstrumentedStore();
    const warnings = warningsDuring(t);
    const sessions = createSessions<Data>({ store });
    const served = await serve(
      sessions.wrap((_req, res, session) => {
        res.writeHead(200);
        res.write('the body first, ');
        session.data.n = 1; // too late: the headers, and with them any cookie, are gone
        res.end('then the session');
      }),
    );
    servers.push(served);
    const reply = await new Client(served.url).get('/');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(reply.setCookies, []);
    assert.deepEqual([store.calls.set, store.inner.size], [0, 0], 'nothing stored');
    assert.deepEqual(warnings.map((w) => w.code), ['PLAIN_SESSION_TOO_LATE']);
  });
});

describe('3. IDs', () => {
  test('are 256-bit base64url, different every time', async () => {
    const { served } = await counterApp();
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const reply = await new Client(served.url).get('/add');
      const sid = cookieValue(reply.setCookies, 'sid')!;
      assert.ok(isWellFormedId(sid), sid);
      assert.equal(Buffer.from(sid, 'base64url').length, 32);
      ids.add(sid);
    }
    assert.equal(ids.size, 50);
  });

  test('a malformed cookie is rejected without a store lookup', async () => {
    const store = new InstrumentedStore();
    const { served } = await counterApp({ store });
    for (const bad of ['short', `${'A'.repeat(42)}!`, 'A'.repeat(44), `${'A'.repeat(42)}B`]) {
      await new Client(served.url).request('/', { headers: { cookie: `sid=${bad}` } });
    }
    assert.equal(store.calls.get, 0);
  });
});

describe('4. strict mode: unknown IDs are never adopted', () => {
  test('a well-formed ID the server never issued gets a new session with another ID', async () => {
    const { served } = await counterApp();
    const planted = 'A'.repeat(43);
    const client = new Client(served.url);
    client.jar.set('sid', planted);
    const reply = await client.get('/add');
    const issued = cookieValue(reply.setCookies, 'sid');
    assert.ok(issued && issued !== planted);
    assert.equal(JSON.parse((await client.get('/')).body).data.n, 1);
  });

  test('a destroyed session ID gives a fresh session', async () => {
    const { client } = await counterApp();
    await client.get('/add');
    const old = client.jar.get('sid')!;
    await client.get('/logout');
    assert.equal(client.jar.has('sid'), false, 'the cookie was expired');
    client.jar.set('sid', old);
    const reply = await client.get('/');
    assert.equal(JSON.parse(reply.body).isNew, true);
  });

  test('a cookie naming no session (unknown or expired) is left in the browser: no Set-Cookie clears it', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const { client, served } = await counterApp({ idleTimeout: 60_000 });
    await client.get('/add');
    t.mock.timers.tick(60_001); // the session idles out
    for (const sid of [client.jar.get('sid')!, generateId()]) {
      const reply = await new Client(served.url).request('/', { headers: { cookie: `sid=${sid}` } });
      assert.equal(JSON.parse(reply.body).isNew, true);
      assert.deepEqual(reply.setCookies, []);
    }
  });

  test('after destroy() the request goes on with a fresh session, saved when the handler fills it; the old ID stays dead', async () => {
    const sessions = createSessions<Data>({ store: new MemoryStore({ pruneInterval: 0 }) });
    const served = await serve(
      sessions.wrap(async (req, res, session) => {
        if (req.url === '/add') session.data.n = 1;
        if (req.url === '/logout') {
          await session.destroy();
          session.data.user = 'logged out';
        }
        res.end(JSON.stringify({ isNew: session.isNew, data: session.data }));
      }),
    );
    servers.push(served);
    const client = new Client(served.url);
    await client.get('/add');
    const old = client.jar.get('sid')!;
    const logout = await client.get('/logout');
    assert.equal(logout.setCookies.length, 1);
    const fresh = cookieValue(logout.setCookies, 'sid');
    assert.ok(fresh && fresh !== old, 'the cookie names a new session');
    assert.deepEqual(JSON.parse((await client.get('/')).body), { isNew: false, data: { user: 'logged out' } });
    const replay = await new Client(served.url).request('/', { headers: { cookie: `sid=${old}` } });
    assert.equal(JSON.parse(replay.body).isNew, true);
  });

  test('login regenerates: the old ID is dead at once, the data moves', async () => {
    const { client } = await counterApp();
    await client.get('/add');
    const before = client.jar.get('sid')!;
    const login = await client.get('/login');
    assert.equal(login.status, 302);
    const afterLogin = client.jar.get('sid')!;
    assert.notEqual(afterLogin, before);
    assert.deepEqual(JSON.parse((await client.get('/')).body).data, { n: 1, user: 'ada' });
    client.jar.set('sid', before);
    assert.equal(JSON.parse((await client.get('/')).body).isNew, true);
  });
});

describe('5. lazy sessions', () => {
  test('requests that never change the session set no cookie and store nothing', async () => {
    const store = new InstrumentedStore();
    const { served } = await counterApp({ store });
    for (let i = 0; i < 100; i++) {
      const reply = await new Client(served.url).get('/');
      assert.deepEqual(reply.setCookies, []);
    }
    assert.equal(store.inner.size, 0);
    assert.equal(store.calls.set, 0);
  });

  test('reading a session does not rewrite it', async () => {
    const store = new InstrumentedStore();
    const { client } = await counterApp({ store });
    await client.get('/add');
    assert.equal(store.calls.set, 1);
    for (let i = 0; i < 5; i++) {
      const reply = await client.get('/');
      assert.deepEqual(reply.setCookies, [], 'no cookie for a read');
    }
    assert.equal(store.calls.set, 1);
    assert.equal(store.calls.touch, 0, 'no touch either, within the renewal step');
  });
});

describe('6. timeouts', () => {
  const MIN = 60_000;
  test('an idle session dies, an active one lives until its absolute lifetime', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const store = new InstrumentedStore();
    const { client } = await counterApp({ store, idleTimeout: 10 * MIN, absoluteTimeout: 60 * MIN });
    const first = await client.get('/add');
    // The cookie is set once, for as long as the session may live; the server enforces the idle timeout.
    assert.match(first.setCookies[0]!, /Max-Age=3600;/, 'the cookie lives as long as the absolute lifetime');
    const id = client.jar.get('sid');

    for (let minute = 5; minute < 60; minute += 5) {
      t.mock.timers.tick(5 * MIN);
      const reply = await client.get('/');
      assert.equal(JSON.parse(reply.body).data.n, 1, `alive at minute ${minute}`);
      assert.equal(client.jar.get('sid'), id);
      assert.deepEqual(reply.setCookies, [], 'an ordinary request sends no Set-Cookie');
    }
    assert.equal(store.calls.set, 1, 'activity touched the session without rewriting it');
    assert.ok(store.calls.touch >= 10);
    t.mock.timers.tick(5 * MIN); // minute 60: past the absolute lifetime
    assert.equal(JSON.parse((await client.get('/')).body).isNew, true);

    await client.get('/add');
    t.mock.timers.tick(10 * MIN + 1000);
    assert.equal(JSON.parse((await client.get('/')).body).isNew, true, 'idle past the timeout');
  });

  test('the expiry is written once it has moved by 1% of the idle timeout, and at least every minute', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    for (const [idleTimeout, step] of [[10 * MIN, 6_000], [10 * 60 * MIN, MIN]] as const) {
      const store = new InstrumentedStore();
      const { client } = await counterApp({ store, idleTimeout, absoluteTimeout: 24 * 60 * MIN });
      await client.get('/add');
      t.mock.timers.tick(step - 1000);
      await client.get('/');
      assert.equal(store.calls.touch, 0, `idle ${idleTimeout / MIN} min: not yet, ${(step - 1000) / 1000} s after the save`);
      t.mock.timers.tick(1000);
      await client.get('/');
      // 1% of 10 hours would be 6 minutes: the cap keeps a long idle timeout from drifting that far.
      assert.equal(store.calls.touch, 1, `idle ${idleTimeout / MIN} min: renewed ${step / 1000} s after the save`);
    }
  });

  test('absoluteTimeout: Infinity: the cookie gets the longest Max-Age browsers keep (400 days), and the session reads back', async () => {
    const { client } = await counterApp({ absoluteTimeout: Infinity });
    const first = await client.get('/add');
    assert.match(first.setCookies[0]!, /; Max-Age=34560000;/); // 400 × 86,400 s (RFC 6265bis §5.6.2)
    assert.deepEqual(JSON.parse((await client.get('/add')).body).data, { n: 2 });
  });

  test('bad durations are refused with the fix in the message', () => {
    assert.throws(() => createSessions({ idleTimeout: 0 }), { name: 'RangeError', message: /idleTimeout must be a positive number of milliseconds/ });
    assert.throws(() => createSessions({ idleTimeout: Infinity }), RangeError);
    assert.throws(() => createSessions({ absoluteTimeout: -5 }), RangeError);
    assert.doesNotThrow(() => createSessions({ absoluteTimeout: Infinity }));
  });
});

describe('8. cookie attributes', () => {
  test('HttpOnly, SameSite=Lax, Path=/ and Cache-Control: no-store by default; no Secure over plain HTTP', async () => {
    const { client } = await counterApp();
    const reply = await client.get('/add');
    const line = reply.setCookies[0]!;
    assert.match(line, /; Path=\//);
    assert.match(line, /; HttpOnly/);
    assert.match(line, /; SameSite=Lax/);
    assert.doesNotMatch(line, /Secure/);
    assert.equal(reply.headers.get('cache-control'), 'no-store');
  });

  test("the handler's own Cache-Control is kept", async () => {
    const sessions = createSessions<Data>();
    const served = await serve(
      sessions.wrap((_req, res, session) => {
        session.data.n = 1;
        res.setHeader('Cache-Control', 'private, max-age=5');
        res.end();
      }),
    );
    servers.push(served);
    assert.equal((await new Client(served.url).get('/')).headers.get('cache-control'), 'private, max-age=5');
  });

  test('Secure over TLS, and with __Host- names', async () => {
    const sessions = createSessions<Data>({ cookie: { name: '__Host-sid', secure: true } });
    const server = createHttpsServer(
      { key: readFileSync(new URL('../../test/fixtures/localhost-key.pem', import.meta.url)), cert: readFileSync(new URL('../../test/fixtures/localhost-cert.pem', import.meta.url)) },
      sessions.wrap((_req, res, session) => {
        session.data.n = 1;
        res.end('tls');
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const { request } = await import('node:https');
      const setCookie = await new Promise<string[]>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: '/', rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve(res.headers['set-cookie'] ?? []);
        })
          .on('error', reject)
          .end();
      });
      assert.match(setCookie[0]!, /^__Host-sid=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test('secure: true sends Secure over plain HTTP (behind a TLS-terminating proxy), on the new cookie and the clearing one', async () => {
    const { client } = await counterApp({ cookie: { secure: true } });
    assert.match((await client.get('/add')).setCookies[0]!, /; Secure/);
    assert.match((await client.get('/logout')).setCookies[0]!, /Max-Age=0;.*; Secure/);
  });

  test("no X-Forwarded-* header is read: X-Forwarded-Proto: https over plain HTTP gets no Secure with secure: 'auto'", async () => {
    const { served } = await counterApp();
    const reply = await new Client(served.url).request('/add', { headers: { 'x-forwarded-proto': 'https' } });
    assert.match(reply.setCookies[0]!, /^sid=/);
    assert.doesNotMatch(reply.setCookies[0]!, /Secure/);
  });

  test('httpOnly, sameSite and domain reach the new cookie and the clearing one', async () => {
    const { client } = await counterApp({ cookie: { httpOnly: false, sameSite: 'strict', domain: 'example.com' } });
    const set = (await client.get('/add')).setCookies[0]!;
    const cleared = (await client.get('/logout')).setCookies[0]!;
    assert.match(cleared, /Max-Age=0/);
    for (const line of [set, cleared]) {
      assert.doesNotMatch(line, /HttpOnly/i, line);
      assert.match(line, /; SameSite=Strict/, line);
      assert.match(line, /; Domain=example\.com/, line);
    }
  });

  test('configurations that break cookie rules are refused', () => {
    assert.throws(() => createSessions({ cookie: { name: '__Host-sid', domain: 'example.com' } }), { name: 'TypeError', message: /__Host-/ });
    assert.throws(() => createSessions({ cookie: { name: '__Host-sid', path: '/app' } }), TypeError);
    assert.throws(() => createSessions({ cookie: { name: '__Host-sid', secure: false } }), TypeError);
    assert.throws(() => createSessions({ cookie: { name: '__Secure-sid', secure: false } }), TypeError);
    assert.throws(() => createSessions({ cookie: { sameSite: 'none', secure: false } }), /needs secure: true/);
    assert.throws(() => createSessions({ cookie: { name: 'bad name' } }), { name: 'TypeError', message: /cookie name is invalid/ });
    assert.throws(() => createSessions({ cookie: { path: '/a;b' } }), /option path is invalid/);
    assert.throws(() => createSessions({ cookie: { domain: 'evil.com;x' } }), /cookie.domain/);
    assert.throws(() => createSessions({ cookie: { sameSite: 'sometimes' as 'lax' } }), /option sameSite is invalid/);
  });

  test('persistent: false sends a browser-session cookie', async () => {
    const { client } = await counterApp({ cookie: { persistent: false } });
    const reply = await client.get('/add');
    assert.doesNotMatch(reply.setCookies[0]!, /Max-Age|Expires/);
  });
});

describe('9. read-your-writes', () => {
  test('a redirect right after login sees the login, with a store that takes 50 ms to write', async () => {
    const store = new InstrumentedStore();
    store.delay = 50;
    const { client } = await counterApp({ store });
    const login = await client.get('/login');
    assert.equal(login.status, 302);
    const follow = await client.get('/');
    assert.equal(JSON.parse(follow.body).data.user, 'ada');
  });

  test('streaming, large writes and pipe() keep working, and the session is saved', async () => {
    const store = new InstrumentedStore();
    store.delay = 20;
    const sessions = createSessions<Data>({ store });
    const chunk = 'x'.repeat(64 * 1024);
    const served = await serve(
      sessions.wrap((req, res, session) => {
        session.data.n = (session.data.n ?? 0) + 1;
        if (req.url === '/pipe') {
          Readable.from(Array.from({ length: 32 }, () => chunk)).pipe(res);
          return;
        }
        for (let i = 0; i < 32; i++) res.write(chunk);
        res.end('!');
      }),
    );
    servers.push(served);
    const client = new Client(served.url);
    const written = await client.get('/write');
    assert.equal(written.body.length, 32 * chunk.length + 1);
    const piped = await client.get('/pipe');
    assert.equal(piped.body.length, 32 * chunk.length);
    assert.deepEqual([store.calls.set, store.calls.patch], [1, 1], 'stored once, then patched');
    assert.equal(decodeData((await store.inner.get(client.jar.get('sid')!))!.data)!.n, 2);
  });
});

describe('9b. the end of a response waits for its save', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  test("HTTP/1: 'finish' and the end() callback come after the save is done", async (t) => {
    // README, "What wrap promises": "'finish' and the end() callback come once the bytes are out,
    // after the save." The save is held at a gate, and the test records the order of the events.
    const order: string[] = [];
    class Recording extends MemoryStore {
      override async set(...args: Parameters<MemoryStore['set']>) {
        await super.set(...args);
        order.push('saved');
      }
      override async patch(...args: Parameters<MemoryStore['patch']>) {
        const done = await super.patch(...args);
        order.push('saved');
        return done;
      }
    }
    const store = new GatedStore(new Recording({ pruneInterval: 0 }));
    const sessions = createSessions<Data>({ store });
    const served = await serve(
      sessions.wrap((_req, res, session) => {
        session.data.n = (session.data.n ?? 0) + 1;
        res.on('finish', () => order.push('finish'));
        res.end(String(session.data.n), () => order.push('end callback'));
        order.push('end() returned');
      }),
    );
    t.after(() => served.close());
    const client = new Client(served.url);
    for (const [method, expected] of [['set', '1'], ['patch', '2']] as const) {
      order.length = 0;
      const held = store.hold(method); // a new session is saved with set, a changed one with patch
      const reply = client.get('/');
      await held.arrived;
      await sleep(200); // time enough for 'finish' to come, were it not held
      assert.deepEqual(order, ['end() returned'], `${method}: neither 'finish' nor the end() callback while the save waits`);
      held.release();
      assert.equal((await reply).body, expected);
      await held.done;
      // Which of the two comes first is Node's business (20 and 24 differ); both come after the save.
      assert.deepEqual(order.slice(0, 2), ['end() returned', 'saved'], `${method}: the save first`);
      assert.deepEqual(order.slice(2).sort(), ['end callback', 'finish'], `${method}: then 'finish' and the end() callback`);
    }
  });

  test('HTTP/2: the stream ends only once the save is done, and the next request sees it', async (t) => {
    // README: "the response ends only once its save is done ... so the redirect after a login
    // already sees the login (read-your-writes)", and wrap works on the node:http2 compatibility API.
    const store = new GatedStore(new MemoryStore({ pruneInterval: 0 }));
    const sessions = createSessions<Data>({ store });
    const server = createSecureServer(
      { key: readFileSync(new URL('../../test/fixtures/localhost-key.pem', import.meta.url)), cert: readFileSync(new URL('../../test/fixtures/localhost-cert.pem', import.meta.url)) },
      sessions.wrap<Http2ServerRequest, Http2ServerResponse>((_req, res, session) => {
        session.data.n = (session.data.n ?? 0) + 1;
        res.end(String(session.data.n));
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = connectHttp2(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    t.after(() => {
      client.close();
      server.close();
    });
    let cookie: string[] = [];
    const get = () => {
      const stream = client.request({ ':path': '/', ...(cookie.length ? { cookie } : {}) });
      const seen = { headers: false, body: '', ended: false };
      const done = new Promise<string>((resolve, reject) => {
        stream.on('response', (headers) => {
          seen.headers = true;
          const setCookie = headers['set-cookie'] as string[] | undefined;
          if (setCookie) cookie = [setCookie[0]!.split(';')[0]!];
        });
        stream.on('data', (chunk) => (seen.body += chunk));
        stream.on('end', () => {
          seen.ended = true;
          resolve(seen.body);
        });
        stream.on('error', reject);
      });
      return { seen, done };
    };
    for (const [method, expected] of [['set', '1'], ['patch', '3']] as const) {
      const held = store.hold(method);
      const request = get();
      await held.arrived;
      await sleep(200); // time enough for the end of the stream to arrive, were it not held
      assert.equal(request.seen.ended, false, `${method}: the stream must not end while its save waits`);
      held.release();
      assert.equal(await request.done, expected);
      // The very next request, sent the moment the stream ended, sees the change.
      const next = get();
      assert.equal(await next.done, String(Number(expected) + 1), `${method}: the next request reads the save`);
    }
  });
});

describe('10. failures', () => {
  test('a throwing or rejecting handler gets a 500, onError is called, the server keeps serving', async () => {
    const errors: SessionError[] = [];
    const sessions = createSessions<Data>({ onError: (error) => errors.push(error) });
    const served = await serve(
      sessions.wrap(async (req, res, session) => {
        session.data.n = 1;
        if (req.url === '/throw') throw new Error('boom');
        if (req.url === '/reject') await Promise.reject(new Error('async boom'));
        if (req.url === '/late') {
          res.write('partial');
          await new Promise((resolve) => setTimeout(resolve, 10)); // the first bytes are on the wire
          throw new Error('after headers');
        }
        res.end('fine');
      }),
    );
    servers.push(served);
    const client = new Client(served.url);
    assert.equal((await client.get('/throw')).status, 500);
    assert.equal((await client.get('/reject')).status, 500);
    await assert.rejects(client.get('/late'), 'the cut response is visible to the client');
    assert.equal((await client.get('/ok')).body, 'fine');
    assert.deepEqual(errors.map((e) => e.statusCode), [500, 500, 500]);
    assert.equal((errors[0]!.cause as Error).message, 'boom');
  });

  test('a store that rejects gets a 503, and service resumes when it recovers', async () => {
    const store = new InstrumentedStore();
    const errors: number[] = [];
    const { client } = await counterApp({ store, onError: (e) => errors.push(e.statusCode) });
    await client.get('/add');
    store.fail.get = new Error('store down');
    assert.equal((await client.get('/')).status, 503);
    store.fail = { patch: new Error('store down') };
    assert.equal((await client.get('/add')).status, 503);
    store.fail = {};
    const reply = await client.get('/add');
    assert.equal(reply.status, 200);
    assert.equal(JSON.parse(reply.body).data.n, 2, 'the failed write was not counted');
    assert.deepEqual(errors, [503, 503]);
  });

  test('onError defaults to console.error, which gets the SessionError', async () => {
    const store = new InstrumentedStore();
    store.fail.get = new Error('store down');
    const logged = mock.method(console, 'error', () => {});
    try {
      const { client } = await counterApp({ store });
      client.jar.set('sid', generateId());
      assert.equal((await client.get('/')).status, 503);
      const errors = logged.mock.calls.flatMap((call) => call.arguments).filter((arg) => arg instanceof SessionError);
      assert.deepEqual(errors.map((e) => [e.statusCode, (e.cause as Error).message]), [[503, 'store down']]);
    } finally {
      logged.mock.restore();
    }
  });

  test('a store that hangs or throws synchronously gets a 503 within storeTimeout', async () => {
    const hanging = new InstrumentedStore();
    const { client } = await counterApp({ store: hanging, storeTimeout: 100, onError: () => {} });
    await client.get('/add');
    hanging.get = () => new Promise(() => {});
    const started = Date.now();
    assert.equal((await client.get('/')).status, 503);
    assert.ok(Date.now() - started < 2000);
    hanging.get = () => {
      throw new Error('sync throw');
    };
    assert.equal((await client.get('/')).status, 503);
    const throwingSet = new InstrumentedStore();
    throwingSet.set = () => {
      throw new Error('sync throw');
    };
    const second = await counterApp({ store: throwingSet, onError: () => {} });
    assert.equal((await second.client.get('/add')).status, 503);
    assert.equal((await second.client.get('/')).status, 200);
  });

  test('a store failing during regenerate() answers 503', async () => {
    const store = new InstrumentedStore();
    const { client } = await counterApp({ store, onError: () => {} });
    await client.get('/add');
    store.fail.delete = new Error('down');
    assert.equal((await client.get('/login')).status, 503);
  });

  test('an onError hook that answers itself is respected, and one that throws does not crash', async () => {
    const store = new InstrumentedStore();
    store.fail.get = new Error('down');
    const quiet = mock.method(console, 'error', () => {});
    try {
      const own = await counterApp({
        store,
        onError: (_e, _req, res) => {
          res.statusCode = 418;
          res.end('teapot');
        },
      });
      own.client.jar.set('sid', 'A'.repeat(43));
      assert.equal((await own.client.get('/')).status, 418);
      const throwing = await counterApp({
        store,
        onError: () => {
          throw new Error('hook bug');
        },
      });
      throwing.client.jar.set('sid', 'A'.repeat(43));
      assert.equal((await throwing.client.get('/')).status, 503);
    } finally {
      quiet.mock.restore();
    }
  });
});

describe('concurrency within one process', () => {
  test('50 parallel requests on one session, each changing its own key: none is lost', async () => {
    const store = new InstrumentedStore();
    store.delay = 5;
    const sessions = createSessions({ store });
    const served = await serve(
      sessions.wrap(async (req, res, session) => {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
        session.data[`key${req.url!.slice(1)}`] = req.url;
        res.end();
      }),
    );
    servers.push(served);
    const client = new Client(served.url);
    await client.get('/first');
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.get(`/${i}`)));
    const stored = decodeData((await store.inner.get(client.jar.get('sid')!))!.data)!;
    const lost = Array.from({ length: 50 }, (_, i) => `key${i}`).filter((key) => stored[key] === undefined);
    assert.deepEqual(lost, []);
    assert.equal(stored.keyfirst, '/first');
  });
});

describe('wrap() on other servers', () => {
  test('works with the node:http2 compatibility API', async () => {
    const sessions = createSessions<Data>();
    const server = createSecureServer(
      { key: readFileSync(new URL('../../test/fixtures/localhost-key.pem', import.meta.url)), cert: readFileSync(new URL('../../test/fixtures/localhost-cert.pem', import.meta.url)) },
      sessions.wrap<Http2ServerRequest, Http2ServerResponse>((_req, res, session) => {
        session.data.n = (session.data.n ?? 0) + 1;
        res.writeHead(201, { 'x-count': String(session.data.n) });
        res.end(String(session.data.n));
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = connectHttp2(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    const get = (cookie: string[]) =>
      new Promise<{ body: string; setCookie: string[] }>((resolve, reject) => {
        const stream = client.request({ ':path': '/', ...(cookie.length ? { cookie } : {}) });
        let body = '';
        let setCookie: string[] = [];
        stream.on('response', (headers) => {
          assert.equal(headers[':status'], 201);
          assert.ok(headers['x-count']);
          setCookie = (headers['set-cookie'] as string[] | undefined) ?? [];
        });
        stream.on('data', (chunk) => (body += chunk));
        stream.on('end', () => resolve({ body, setCookie }));
        stream.on('error', reject);
      });
    try {
      const first = await get([]);
      assert.equal(first.body, '1');
      const sid = first.setCookie[0]!.split(';')[0]!;
      assert.match(first.setCookie[0]!, /Secure/, 'HTTP/2 over TLS gets Secure');
      const second = await get(['theme=dark', sid]); // cookies as separate header fields (RFC 9113 §8.2.3)
      assert.equal(second.body, '2');
    } finally {
      client.close();
      server.close();
    }
  });

  test('the teaching form: load, commit, end', async () => {
    const sessions = createSessions<Data>();
    const served = await serve(async (req, res) => {
      const session = await sessions.load(req);
      assert.equal(req.session, session);
      session.data.n = (session.data.n ?? 0) + 1;
      await sessions.commit(session, res);
      res.end(String(session.data.n));
    });
    servers.push(served);
    const client = new Client(served.url);
    await client.get('/');
    assert.equal((await client.get('/')).body, '2');
  });

  test("commit() without wrap adds Cache-Control: no-store to a response that sets the cookie, and keeps the handler's own", async () => {
    const sessions = createSessions<Data>();
    const served = await serve(async (req, res) => {
      const session = await sessions.load(req);
      session.data.n = 1;
      if (req.url === '/own') res.setHeader('Cache-Control', 'private, max-age=5');
      await sessions.commit(session, res);
      res.end();
    });
    servers.push(served);
    const plain = await new Client(served.url).get('/');
    assert.match(plain.setCookies[0]!, /^sid=/);
    assert.equal(plain.headers.get('cache-control'), 'no-store');
    const own = await new Client(served.url).get('/own');
    assert.match(own.setCookies[0]!, /^sid=/);
    assert.equal(own.headers.get('cache-control'), 'private, max-age=5');
  });

  test('a Cache-Control that lets a shared cache keep the session cookie is kept, with a PLAIN_SESSION_SHARED_CACHE warning once', async (t) => {
    const all = warningsDuring(t);
    const warnings = () => all.filter((w) => w.code === 'PLAIN_SESSION_SHARED_CACHE').map((w) => w.message);
    const sessions = createSessions<Data>();
    const served = await serve(
      sessions.wrap((req, res, session) => {
        const [path, query] = (req.url ?? '/').split('?');
        if (path === '/fill') session.data.n = 1; // only these responses set the cookie
        res.writeHead(200, { 'Cache-Control': decodeURIComponent(query ?? '') });
        res.end();
      }),
    );
    servers.push(served);
    const ask = async (path: string, cacheControl: string) => {
      const reply = await new Client(served.url).get(`${path}?${encodeURIComponent(cacheControl)}`);
      await new Promise((resolve) => setImmediate(resolve));
      return reply;
    };
    for (const safe of ['private, max-age=613', 'no-store', 'max-age=613, Private']) await ask('/fill', safe);
    await ask('/', 'public, max-age=613'); // no cookie set: nothing to leak
    assert.deepEqual(warnings(), [], 'private, no-store, or no session cookie: no warning');
    const shared = await ask('/fill', 'public, max-age=613');
    assert.match(shared.setCookies[0]!, /^sid=/);
    assert.equal(shared.headers.get('cache-control'), 'public, max-age=613', "the handler's header is kept");
    await ask('/fill', 'public, max-age=613');
    await ask('/fill', 's-maxage=613');
    assert.equal(warnings().length, 2, 'once for each value');
    assert.match(warnings()[0]!, /Cache-Control: public, max-age=613.*Add "private" or "no-store"/);
  });
});

describe('11. tracing with NODE_DEBUG', () => {
  test('prints each step of a request', async () => {
    const lib = new URL('../lib/index.js', import.meta.url).href;
    const script = `
      import { createServer } from 'node:http';
      import { createSessions, MemoryStore } from '${lib}';
      const store = new MemoryStore({ pruneInterval: 0 });
      const sessions = createSessions({ store });
      const server = createServer(sessions.wrap((req, res, s) => { s.data.n = 1; res.end('x'); }));
      server.listen(0, '127.0.0.1', async () => {
        const url = 'http://127.0.0.1:' + server.address().port;
        const first = await fetch(url);
        const sid = first.headers.get('set-cookie').split(';')[0];
        await fetch(url, { headers: { cookie: sid } });
        await fetch(url, { headers: { cookie: 'sid=nonsense' } });
        await store.prune();
        server.close(); server.closeAllConnections();
      });`;
    const stderr = await traceOf(script);
    for (const step of [/cookie sid set/, /session \S+: stored/, /session \S+: loaded/, /not a well-formed session ID/, /prune: removed 0/]) {
      assert.match(stderr, step);
    }
  });
});

describe('12. closing', () => {
  test('sessions.close() closes the store', async () => {
    const store = new MemoryStore();
    const close = mock.method(store, 'close');
    const { sessions, client } = await counterApp({ store });
    await client.get('/add');
    await sessions.close();
    assert.equal(close.mock.callCount(), 1);
  });
});
