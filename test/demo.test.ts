/**
 * The three-technique demo (examples/demo), over HTTP as a browser would use it: the same cart
 * kept in the cookie, in memory and in SQLite, each with an inspector rendered from the real
 * request and store. test/browser.test.ts drives the same pages in a real browser.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashId } from '../lib/id.js';
import { runExample, type Running } from './example-runner.js';
import { Client, cookieValue } from './helpers.js';

const TECHNIQUES = [
  { key: 'cookie', cookie: 'cookie_session' },
  { key: 'memory', cookie: 'memory_sid' },
  { key: 'database', cookie: 'database_sid' },
] as const;

const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

/** The number in the page's "Cart (N)" link. */
function cartCount(body: string): number {
  const match = /Cart \(<span id="count">(\d+)<\/span>\)/.exec(body);
  assert.ok(match, 'page shows the cart count');
  return Number(match[1]);
}

/** The shortened session ID the inspector shows. */
function shownId(body: string): string | undefined {
  return /id="session-id">([^<]+)</.exec(body)?.[1];
}

/** Posts an action, checks the Post/Redirect/Get answer, and follows the redirect. */
async function click(client: Client, path: string, fields: Record<string, string>) {
  const posted = await client.request(path, form(fields));
  assert.equal(posted.status, 303, `${path} answers 303`);
  const location = posted.headers.get('location') ?? '';
  assert.match(location, /\?after=[\w-]+$/);
  return { posted, page: await client.get(location) };
}

describe('demo', () => {
  let dir: string;
  let app: Running;
  const start = async () => (app = await runExample('examples/demo/server.js', { DEMO_DIR: dir, SESSION_SECRET: '' }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plain-session-demo-test-'));
    await start();
  });
  after(async () => {
    await app?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the index explains the three techniques and links to each', async () => {
    const index = await new Client(app.url).get('/');
    assert.equal(index.status, 200);
    assert.equal(index.setCookies.length, 0, 'the index starts no session');
    for (const { key, cookie } of TECHNIQUES) {
      assert.match(index.body, new RegExp(`href="/${key}/"`));
      assert.match(index.body, new RegExp(cookie));
    }
    assert.doesNotMatch(index.body, /<script/i, 'no client script');
    assert.equal((await new Client(app.url).get('/nowhere')).status, 404);
    const bare = await new Client(app.url).get('/memory');
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.get('location'), '/memory/');
  });

  for (const { key, cookie } of TECHNIQUES) {
    test(`${key}: lazy session, cart from page to page, login regenerates, logout destroys`, async () => {
      const client = new Client(app.url);
      const first = await client.get(`/${key}/`);
      assert.equal(first.status, 200);
      assert.deepEqual(first.setCookies, [], 'a visitor who changes nothing gets no cookie');
      assert.match(first.body, /No <code>Set-Cookie<\/code>/);
      assert.match(first.body, /no Cookie header/);

      const { posted, page } = await click(client, `/${key}/add`, { item: 'apple', back: 'shop' });
      const line = posted.setCookies.find((l) => l.startsWith(`${cookie}=`)) ?? '';
      assert.match(line, new RegExp(`; Path=/${key}; HttpOnly; SameSite=Lax$`));
      // A sealed cookie follows the idle timeout (30 min); an ID cookie is set once, for the absolute lifetime (8 h).
      assert.match(line, key === 'cookie' ? /; Max-Age=1800;/ : /; Max-Age=28800;/);
      assert.equal(cartCount(page.body), 1);
      assert.match(page.body, new RegExp(`Your click sent <code>POST /${key}/add</code>`), 'the inspector shows the POST before the page');
      assert.match(page.body, /HttpOnly<\/code><\/dt><dd>scripts cannot read it/);
      assert.match(page.body, /of 4096 bytes/);

      await click(client, `/${key}/add`, { item: 'cherry', back: 'shop' });
      await click(client, `/${key}/add`, { item: 'apple', back: 'shop' });
      await click(client, `/${key}/add`, { item: '<script>', back: 'shop' });
      const cart = await client.get(`/${key}/cart`);
      assert.equal(cartCount(cart.body), 3);
      assert.match(cart.body, /apple <small>× 2<\/small>/);
      assert.match(cart.body, /<b>GET \/[a-z]+\/cart<\/b>\nCookie: /);

      const id = client.jar.get(cookie)!;
      assert.ok(!cart.body.includes(id), 'the page never prints a whole cookie value (HttpOnly would be moot)');
      const before = shownId(cart.body);
      assert.ok(before, 'the inspector names the session');
      if (key === 'cookie') {
        assert.match(cart.body, /<b>Nothing\.<\/b>/, 'the server keeps nothing');
        assert.match(cart.body, /data: +\{&quot;cart&quot;:\[&quot;apple&quot;,&quot;cherry&quot;,&quot;apple&quot;\]\}/, 'what is inside the seal');
      } else if (key === 'memory') {
        assert.match(cart.body, /sessions\.get\('<span id="session-id">/);
        assert.match(cart.body, /The Map holds \d+ sessions?/);
      } else {
        assert.match(cart.body, new RegExp(`<code>${hashId(id).slice(0, 16)}…</code>`), 'the row is keyed by the hashed ID');
        assert.match(cart.body, /SHA-256 of the ID, not the ID/);
      }
      assert.match(cart.body, /<span class="step step-load">load<\/span> session loaded: 3 items/);

      const login = await click(client, `/${key}/login`, { user: 'ada', back: 'cart' });
      assert.notEqual(client.jar.get(cookie), id, 'a new cookie at login');
      assert.notEqual(shownId(login.page.body), before, 'a new session ID at login');
      assert.equal(cartCount(login.page.body), 3, 'the cart stays');
      assert.match(login.page.body, /Logged in as <b id="user">ada<\/b>/);
      assert.match(login.page.body, /session\.regenerate\(\) moves the session to a new ID/);
      if (key !== 'cookie') {
        const thief = new Client(app.url);
        thief.jar.set(cookie, id);
        const old = await thief.get(`/${key}/cart`);
        assert.equal(cartCount(old.body), 0, 'the ID from before the login is dead');
        assert.match(old.body, /names no live session/);
        assert.equal(thief.jar.get(cookie), id, 'its cookie is left alone (clearing it could delete a new login’s)');
      }

      const logout = await click(client, `/${key}/logout`, { back: 'cart' });
      assert.match(cookieValue(logout.posted.setCookies, cookie) ?? 'missing', /^$/);
      assert.match(logout.posted.setCookies.join('\n'), /Max-Age=0/);
      assert.equal(client.jar.has(cookie), false, 'the cookie is gone');
      assert.equal(cartCount(logout.page.body), 0);
      assert.match(logout.page.body, /Your cart is empty/);
      assert.equal(shownId(logout.page.body), undefined, 'no session left to show');
    });
  }

  test('cookie values are escaped, and a tampered sealed cookie starts a fresh session', async () => {
    const client = new Client(app.url);
    client.jar.set('memory_sid', '<script>alert(1)</script>');
    const page = await client.get('/memory/');
    assert.doesNotMatch(page.body, /<script/i);
    assert.match(page.body, /&lt;script/);
    assert.match(page.body, /not a well-formed session ID: refused without asking the store/);

    const shopper = new Client(app.url);
    await click(shopper, '/cookie/add', { item: 'banana' });
    const sealed = shopper.jar.get('cookie_session')!;
    shopper.jar.set('cookie_session', sealed.slice(0, -2) + (sealed.endsWith('AA') ? 'BB' : 'AA'));
    const tampered = await shopper.get('/cookie/cart');
    assert.equal(cartCount(tampered.body), 0);
    assert.match(tampered.body, /seal refused \(/);
    assert.equal((await new Client(app.url).request('/memory/login', form({ user: '<b>' }))).status, 400);
  });

  test('a restart keeps the cookie and database carts and loses the memory cart', async () => {
    const client = new Client(app.url);
    for (const { key } of TECHNIQUES) await click(client, `/${key}/add`, { item: 'dates' });
    const secret = await readFile(join(dir, 'plain-session-demo-secret'), 'utf8');
    assert.ok(secret.trim().length >= 32, 'without SESSION_SECRET the demo keeps a random secret in a file');

    await app.stop();
    await start();
    const after = new Client(app.url);
    for (const [name, value] of client.jar) after.jar.set(name, value);
    assert.equal(cartCount((await after.get('/cookie/cart')).body), 1, 'the cookie cart survives');
    assert.equal(cartCount((await after.get('/database/cart')).body), 1, 'the database cart survives');
    const memory = await after.get('/memory/cart');
    assert.equal(cartCount(memory.body), 0, 'the memory cart is gone');
    assert.equal(after.jar.has('memory_sid'), true, 'its dead cookie is left alone (it may be a new login’s)');
  });
});
