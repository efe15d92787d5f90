/**
 * The cookie technique end to end: CookieStore behind createSessions, over real sockets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { CookieStore } from '../lib/stores/cookie.js';
import { createSessions, type SessionsOptions } from '../lib/sessions.js';
import { COOKIE_SIZE_LIMIT } from '../lib/session-cookie.js';
import { Client, cookieValue, serve, type Served } from './helpers.js';

type Data = { cart?: string[]; user?: string; pad?: string; n?: number };
const secret = () => randomBytes(32).toString('base64url');

const servers: Served[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function app(store: CookieStore, options: Omit<SessionsOptions, 'store'> = {}) {
  const sessions = createSessions<Data>({ ...options, store });
  const served = await serve(
    sessions.wrap(async (req, res, session) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/add') (session.data.cart ??= []).push(url.searchParams.get('item') ?? 'apple');
      if (url.pathname === '/pad') session.data.pad = 'x'.repeat(Number(url.searchParams.get('n')));
      if (url.pathname === '/login') {
        await session.regenerate();
        session.data.user = 'ada';
      }
      if (url.pathname === '/logout') await session.destroy();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: session.isNew ? null : session.id, isNew: session.isNew, data: session.data }));
    }),
  );
  servers.push(served);
  return { served, client: new Client(served.url), sessions };
}

describe('CookieStore through a real server', () => {
  test('round trip of typical data, and nothing is stored on the server', async () => {
    const { client } = await app(new CookieStore({ secret: secret() }));
    await client.get('/add?item=apple');
    await client.get('/add?item=ünïcødé 🍐');
    await client.get('/add?item=<b>"quoted"</b>');
    const reply = await client.get('/');
    assert.deepEqual(JSON.parse(reply.body).data, { cart: ['apple', 'ünïcødé 🍐', '<b>"quoted"</b>'] });
  });

  test('the plaintext of the data never appears in Set-Cookie', async () => {
    const { client } = await app(new CookieStore({ secret: secret() }));
    const reply = await client.get('/add?item=very-secret-item-name');
    const line = reply.setCookies.join('\n');
    const value = cookieValue(reply.setCookies, 'sid')!;
    assert.match(value, /^v3\.[A-Za-z0-9_-]+$/, 'versioned and URL-safe');
    for (const needle of ['very-secret', 'cart', Buffer.from('very-secret').toString('base64'), Buffer.from('cart').toString('base64url')]) {
      assert.equal(line.includes(needle), false, needle);
    }
  });

  test('the cookie carries the protective attributes', async () => {
    const { client } = await app(new CookieStore({ secret: secret() }));
    const line = (await client.get('/add')).setCookies[0]!;
    assert.match(line, /; Max-Age=1800; Path=\/; HttpOnly; SameSite=Lax$/);
  });

  test('flipping any bit or cutting the cookie gives a fresh session, never an error', async () => {
    const rejected: string[] = [];
    const { client, served } = await app(new CookieStore({ secret: secret(), onReject: (reason) => rejected.push(reason) }));
    await client.get('/add');
    const good = client.jar.get('sid')!;
    const raw = Buffer.from(good.slice(3), 'base64url');
    const probe = new Client(served.url);
    let accepted = 0;
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(raw.length * 8 - 1), fc.boolean(), fc.nat(good.length - 1), async (bit, cut, at) => {
        let mutated: string;
        if (cut) mutated = good.slice(0, at);
        else {
          const copy = Buffer.from(raw);
          copy[bit >> 3]! ^= 1 << (bit & 7);
          mutated = `${good.slice(0, 3)}${copy.toString('base64url')}`;
        }
        const reply = await probe.request('/', { headers: { cookie: `sid=${mutated}` } });
        requests++;
        assert.equal(reply.status, 200);
        if (!JSON.parse(reply.body).isNew) accepted++;
      }),
      { numRuns: 300 },
    );
    assert.equal(accepted, 0);
    assert.ok(rejected.length >= requests - 1, 'onReject heard about the rejected cookies');
    console.log(`# cookie store over HTTP: ${requests} mutated cookies, ${accepted} accepted`);
  });

  test('a read that changes nothing and moves no expiry seals nothing and sends no cookie', async () => {
    const store = new CookieStore({ secret: secret() });
    let seals = 0;
    const seal = store.seal.bind(store);
    store.seal = (...args) => (seals++, seal(...args));
    const { client } = await app(store, { idleTimeout: 60 * 60_000 }); // renews by steps of 36 s (1%)
    await client.get('/add?item=tea');
    assert.equal(seals, 1);
    for (let i = 0; i < 5; i++) {
      const read = await client.get('/');
      assert.deepEqual(JSON.parse(read.body).data, { cart: ['tea'] });
      assert.deepEqual(read.setCookies, [], 'no Set-Cookie on a read');
    }
    assert.equal(seals, 1, 'five reads sealed nothing');
    // A change seals once; so does a read once the expiry has moved by a renewal step.
    assert.equal((await client.get('/add?item=jam')).setCookies.length, 1);
    assert.equal(seals, 2);
    const { id, record } = store.unseal(client.jar.get('sid')!, Date.now(), 'sid')!;
    client.jar.set('sid', seal(id, { ...record, expiresAt: Date.now() + 58 * 60_000 }, 'sid')); // two minutes old
    const renewed = await client.get('/');
    assert.equal(renewed.setCookies.length, 1, 'resealed with the new expiry');
    assert.equal(seals, 3);
    assert.deepEqual((await client.get('/')).setCookies, []);
    assert.equal(seals, 3);
  });

  test('key rotation: the new key seals, old keys open, and an old cookie is resealed on that response', async () => {
    const oldKey = secret();
    const newKey = secret();
    const before = await app(new CookieStore({ secret: oldKey }));
    await before.client.get('/add?item=kept');
    const sealedWithOld = before.client.jar.get('sid')!;

    const rotated = await app(new CookieStore({ secret: [newKey, oldKey] }));
    rotated.client.jar.set('sid', sealedWithOld);
    const read = await rotated.client.get('/'); // only reads the session
    assert.deepEqual(JSON.parse(read.body).data, { cart: ['kept'] });
    const resealed = cookieValue(read.setCookies, 'sid');
    assert.ok(resealed && resealed !== sealedWithOld, 'resealed on a read-only response');

    const onlyNew = await app(new CookieStore({ secret: newKey }));
    onlyNew.client.jar.set('sid', resealed);
    assert.deepEqual(JSON.parse((await onlyNew.client.get('/')).body).data, { cart: ['kept'] });
    onlyNew.client.jar.set('sid', sealedWithOld);
    assert.equal(JSON.parse((await onlyNew.client.get('/')).body).isNew, true, 'a retired key opens nothing');
  });

  test('login regenerates the ID inside the seal; logout expires the cookie', async () => {
    const { client } = await app(new CookieStore({ secret: secret() }));
    const first = JSON.parse((await client.get('/add')).body);
    const second = JSON.parse((await client.get('/')).body);
    const login = JSON.parse((await client.get('/login')).body);
    assert.notEqual(login.id, second.id);
    assert.ok(first.id === null && second.id);
    await client.get('/logout');
    assert.equal(client.jar.has('sid'), false);
    assert.equal(JSON.parse((await client.get('/')).body).isNew, true);
  });

  test('idle timeout and absolute lifetime are enforced from the seal alone, even for a replayed cookie', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const MIN = 60_000;
    const { client } = await app(new CookieStore({ secret: secret() }), { idleTimeout: 10 * MIN, absoluteTimeout: 30 * MIN });
    await client.get('/add');
    const original = client.jar.get('sid')!;
    for (let minute = 8; minute < 30; minute += 8) {
      t.mock.timers.tick(8 * MIN);
      assert.equal(JSON.parse((await client.get('/')).body).isNew, false, `alive at minute ${minute}, kept alive by use`);
    }
    // The first cookie went idle long ago: replaying it is refused although it was never "deleted".
    const replay = new Client(client.base);
    replay.jar.set('sid', original);
    assert.equal(JSON.parse((await replay.get('/')).body).isNew, true, 'replayed stale cookie refused');
    t.mock.timers.tick(8 * MIN); // minute 32: past the absolute lifetime, despite activity
    assert.equal(JSON.parse((await client.get('/')).body).isNew, true);
  });
});

describe('the 4096-byte boundary', () => {
  test('a Set-Cookie of exactly 4096 bytes is sent; one byte more answers 500 with a RangeError naming both sizes', async () => {
    const errors: Error[] = [];
    const store = new CookieStore({ secret: secret() });
    const { served } = await app(store, { onError: (error) => errors.push(error) });

    // Sealed sizes depend only on lengths (the ID and times have fixed widths), so find the largest
    // pad that fits by asking the server, narrowing with a binary search.
    const size = async (n: number) => {
      const reply = await new Client(served.url).get(`/pad?n=${n}`);
      return { status: reply.status, length: reply.setCookies[0]?.length ?? 0 };
    };
    let lo = 1000;
    let hi = 4000;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if ((await size(mid)).status === 200) lo = mid;
      else hi = mid;
    }
    const fits = await size(lo);
    const overflows = await size(lo + 1);
    assert.equal(fits.status, 200);
    assert.ok(fits.length <= COOKIE_SIZE_LIMIT && fits.length >= COOKIE_SIZE_LIMIT - 2, `largest cookie sent is ${fits.length} bytes`);
    assert.equal(overflows.status, 500);
    const last = errors.at(-1)!;
    assert.ok(last.cause instanceof RangeError);
    assert.match((last.cause as Error).message, /would be 409\d bytes, over the 4096-byte limit/);
    // Find a pad that lands on exactly 4096, if base64's granularity allows one (it grows 1–2 chars a byte).
    let exact = false;
    for (let n = lo - 3; n <= lo; n++) if ((await size(n)).length === COOKIE_SIZE_LIMIT) exact = true;
    assert.ok(exact, "some data size gives a Set-Cookie of exactly 4096 bytes, and it is sent");
    console.log(`# cookie size boundary: largest sent ${fits.length} bytes at ${lo} bytes of data, next is refused; exactly 4096 reachable: ${exact}`);
  });
});
