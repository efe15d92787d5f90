/**
 * The three-technique demo (examples/demo), over HTTP as a browser would use it: the same cart
 * kept in the cookie, in memory and in SQLite, each with an inspector rendered from the real
 * request and store, and the attack lab's routes. test/browser.test.ts drives the same pages, and
 * every experiment of the lab, in a real browser.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
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

/** Text without tags, entities decoded enough for matching. */
function text(html: string): string {
  return html.replace(/<[^>]+>/g, '').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

/**
 * The inspector's words agree with its trace, request by request: the explanations of section 3
 * (`<p class="why">`, the POST's first if there is one) against the traces of section 5, in the
 * same order. A request whose trace shows a store write is never said to have written nothing,
 * and the words say a Set-Cookie was sent exactly when the trace read one back from the response.
 */
function assertWordsMatchTrace(body: string, where: string): void {
  const whys = [...body.matchAll(/<p class="why">([\s\S]*?)<\/p>/g)].map((m) => text(m[1]!));
  const traces = [...body.matchAll(/<ol class="trace">([\s\S]*?)<\/ol>/g)].map((m) => text(m[1]!));
  assert.ok(whys.length > 0 && whys.length === traces.length, `${where}: one explanation per traced request (${whys.length} and ${traces.length})`);
  whys.forEach((why, i) => {
    const trace = traces[i]!;
    const wrote = /store\.(set|patch)\(/.test(trace) && !/nothing written/.test(trace);
    const sealed = /sealed the session/.test(trace);
    const setCookie = /Set-Cookie: \w+=/.test(trace);
    if (wrote) assert.doesNotMatch(why, /Nothing was written|changed nothing|nothing in the session changed/i, `${where}: the trace shows a save, the words say nothing changed:\n${why}\n${trace}`);
    if (wrote && !setCookie) assert.match(why, /saved/, `${where}: a save without a cookie is explained as a save:\n${why}`);
    if (sealed) assert.match(why, /seal/, `${where}: a new seal is explained:\n${why}`);
    assert.equal(/^No Set-Cookie/.test(why), !setCookie, `${where}: "No Set-Cookie" exactly when the trace shows none:\n${why}\n${trace}`);
  });
}

/**
 * A cookie that names no live session is either deleted by the answer or left alone (versions of
 * plain-session differ: a newer one leaves it, since it may be a newer login's), and the inspector
 * says which. Either way the browser keeps nothing else.
 */
function assertCookieFateTold(body: string, client: Client, name: string, sent: string): void {
  const deleted = !client.jar.has(name);
  assert.equal(/<code>Set-Cookie<\/code> deletes the cookie/.test(body), deleted, `the inspector tells whether ${name} was deleted (it was${deleted ? '' : ' not'})`);
  if (!deleted) assert.equal(client.jar.get(name), sent, `${name} is left as it was`);
}

/**
 * Posts an action, checks the Post/Redirect/Get answer, and follows the redirect; with `check`,
 * also checks that the page's words agree with its trace.
 */
async function click(client: Client, path: string, fields: Record<string, string>, check = true) {
  const posted = await client.request(path, form(fields));
  assert.equal(posted.status, 303, `${path} answers 303`);
  const location = posted.headers.get('location') ?? '';
  assert.match(location, /\?after=[\w-]+$/);
  const page = await client.get(location);
  if (check) assertWordsMatchTrace(page.body, `${path} then ${location}`);
  return { posted, page, location };
}

/** A raw request, with the path exactly as given (fetch would normalise `//` and `\`). */
function raw(base: string, method: string, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
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

  test('the index explains the three techniques and links to each, and to the lab', async () => {
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

  test('every page links to the attack lab, and only the expiry countdown has a script', async () => {
    for (const path of ['/', '/cookie/', '/memory/cart', '/database/', '/nowhere', '/lab/', '/lab/tamper/plain/', '/lab/steal/memory/', '/lab/fixation/cookie/', '/lab/tabs/database/', '/lab/expiry/cookie/']) {
      const page = await new Client(app.url).get(path);
      assert.match(page.body, /<a href="\/lab\/" class="lab-link"/, `${path} links to the lab`);
      if (!path.startsWith('/lab/expiry/')) assert.doesNotMatch(page.body, /<script/i, `${path}: no client script`);
    }
    const expiry = await new Client(app.url).get('/lab/expiry/memory/');
    assert.match(expiry.body, /An idle timeout \(10 seconds here\), a lifetime \(30 seconds\)/, 'the expiry experiment: 10 s idle, 30 s lifetime by default');
  });

  for (const { key, cookie } of TECHNIQUES) {
    test(`${key}: lazy session, cart from page to page, login regenerates, logout destroys`, async () => {
      const client = new Client(app.url);
      const first = await client.get(`/${key}/`);
      assert.equal(first.status, 200);
      assert.deepEqual(first.setCookies, [], 'a visitor who changes nothing gets no cookie');
      assert.match(first.body, /No <code>Set-Cookie<\/code>/);
      assert.match(first.body, /no Cookie header/);
      assertWordsMatchTrace(first.body, `first visit to /${key}/`);

      const { posted, page } = await click(client, `/${key}/add`, { item: 'apple', back: 'shop' });
      const line = posted.setCookies.find((l) => l.startsWith(`${cookie}=`)) ?? '';
      assert.match(line, new RegExp(`; Path=/${key}; HttpOnly; SameSite=Lax$`));
      assert.match(line, /; Max-Age=\d+;/);
      assert.equal(cartCount(page.body), 1);
      assert.match(page.body, new RegExp(`Your click: <code>POST /${key}/add</code>`), 'the inspector shows the POST before the page');
      assert.match(page.body, /HttpOnly<\/code><\/dt><dd>scripts cannot read it/);
      assert.match(page.body, /of 4096 bytes/);

      await click(client, `/${key}/add`, { item: 'cherry', back: 'shop' });
      await click(client, `/${key}/add`, { item: 'apple', back: 'shop' });
      await click(client, `/${key}/add`, { item: '<script>', back: 'shop' });
      const cart = await client.get(`/${key}/cart`);
      assertWordsMatchTrace(cart.body, `/${key}/cart`);
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
      assert.match(text(login.page.body), /session\.regenerate\(\) (moved the session to a new ID|gave the session a new ID)/, 'the words say why the login set a cookie');
      if (key !== 'cookie') {
        const thief = new Client(app.url);
        thief.jar.set(cookie, id);
        const old = await thief.get(`/${key}/cart`);
        assert.equal(cartCount(old.body), 0, 'the ID from before the login is dead');
        assert.match(old.body, /names no live session/);
        assertCookieFateTold(old.body, thief, cookie, id);
      }

      const logout = await click(client, `/${key}/logout`, { back: 'cart' });
      assert.match(cookieValue(logout.posted.setCookies, cookie) ?? 'missing', /^$/);
      assert.match(logout.posted.setCookies.join('\n'), /Max-Age=0/);
      assert.match(text(logout.page.body), /session\.destroy\(\) ended the session/, 'the words say why the logout deleted the cookie');
      assert.equal(client.jar.has(cookie), false, 'the cookie is gone');
      assert.equal(cartCount(logout.page.body), 0);
      assert.match(logout.page.body, /Your cart is empty/);
      assert.equal(shownId(logout.page.body), undefined, 'no session left to show');
    });
  }

  // Issue 14: after a second Add, the inspector said "nothing in the session changed" above a
  // trace that showed `added apple` and `store.set(…)`.
  for (const { key } of TECHNIQUES.filter((t) => t.key !== 'cookie')) {
    test(`${key}: a save without a Set-Cookie is explained as a save, not as "nothing changed"`, async () => {
      const client = new Client(app.url);
      await click(client, `/${key}/add`, { item: 'apple', back: 'shop' }, false);
      const posted = await client.request(`/${key}/add`, form({ item: 'banana', back: 'shop' }));
      const page = await client.get(posted.headers.get('location')!);
      const words = text(page.body);
      assert.match(words, /store\.(set|patch)\(/, 'the trace shows the save');
      assert.doesNotMatch(words, /nothing in the session changed/i, 'and the words do not deny it');
      if (!posted.setCookies.some((l) => l.startsWith(`${key}_sid=`))) {
        assert.match(words, /The session changed \(cart\) and was saved/, 'the POST is explained: saved under the same ID');
      }
    });
  }

  // Issue 14: the Remove form on the cart page had no back=cart, so it jumped to the shop.
  test('Remove on the cart page comes back to the cart', async () => {
    for (const { key } of TECHNIQUES) {
      const client = new Client(app.url);
      await click(client, `/${key}/add`, { item: 'cherry', back: 'shop' }, false);
      await click(client, `/${key}/add`, { item: 'dates', back: 'shop' }, false);
      const cart = await client.get(`/${key}/cart`);
      const removeForm = /<form method="post" action="([^"]+\/remove)">([\s\S]*?)<\/form>/.exec(cart.body);
      assert.ok(removeForm, 'the cart page has a Remove form');
      // Submit the form the way a browser would: its hidden fields plus the button's name=value.
      const fields = Object.fromEntries([...removeForm[2]!.matchAll(/name="(\w+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      const posted = await client.request(removeForm[1]!, form(fields as Record<string, string>));
      assert.equal(posted.status, 303);
      assert.match(posted.headers.get('location') ?? '', new RegExp(`^/${key}/cart\\?after=`), `${key}: back to the cart`);
    }
  });

  // Issue 14: `//…` paths answered 500 with a stack trace, and `//evil.com/memory/` was served as /memory/.
  test('paths starting with // or /\\ name no page: 404, never 500, never another path, never a redirect away', async () => {
    for (const path of ['//', '///', '//a:b@/', '//evil.com/memory/', '//evil.com/memory', '//localhost/memory/', '/\\evil.com/memory/', '//evil.com/lab/', '//@evil.com']) {
      for (const method of ['GET', 'HEAD', 'POST']) {
        const answer = await raw(app.url, method, path);
        assert.equal(answer.status, 404, `${method} ${path}`);
        assert.equal(answer.headers.location, undefined, `${method} ${path}: no redirect`);
        assert.equal(answer.headers['set-cookie'], undefined, `${method} ${path}: no session`);
        assert.doesNotMatch(answer.body, /Your cart|Something went wrong|\n\s+at /, `${method} ${path}: not a technique page, not an error`);
      }
    }
    assert.equal((await new Client(app.url).get('/memory/')).status, 200, 'the server is still up');
    assert.doesNotMatch(app.output(), /request failed/, 'no request failed');
  });

  // Issue 14: HEAD on any page answered 404.
  test('HEAD answers like GET, without the body', async () => {
    for (const path of ['/', '/cookie/', '/memory/cart', '/database/', '/nowhere', '/lab/', '/lab/tamper/plain/', '/lab/expiry/memory/']) {
      const get = await new Client(app.url).get(path);
      const head = await new Client(app.url).request(path, { method: 'HEAD' });
      assert.equal(head.status, get.status, `HEAD ${path}: status`);
      assert.equal(head.headers.get('content-type'), get.headers.get('content-type'), `HEAD ${path}: content-type`);
      assert.equal(head.headers.get('cache-control'), get.headers.get('cache-control'), `HEAD ${path}: cache-control`);
      assert.equal(head.body, '', `HEAD ${path}: no body`);
    }
    const wrong = await new Client(app.url).request('/memory/add', { method: 'GET' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
  });

  // Issue 14: the bar counted name=value while the 4096-byte limit counts the whole header, so it
  // showed 4042 of 4096 and the next item got a 413 at 4114.
  test('the size bar counts the whole Set-Cookie header, as the 4096-byte limit does', async () => {
    const client = new Client(app.url);
    const bar = (body: string) => Number(/>(\d+) of 4096 bytes</.exec(body)?.[1]);
    let last = { line: '', shown: 0 };
    for (let i = 0; i < 200; i++) {
      const posted = await client.request('/cookie/add', form({ item: 'elderberries', back: 'shop' }));
      if (posted.status === 413) {
        const wouldBe = Number(/would be (\d+) bytes/.exec(posted.body)?.[1]);
        assert.ok(wouldBe > 4096, `the refused cookie would have been ${wouldBe} bytes`);
        assert.ok(last.shown <= 4096 && last.shown > 4096 - (wouldBe - last.shown), `the last bar (${last.shown}) sat one item below the limit (next: ${wouldBe})`);
        assert.match(posted.body, /The cookie is full/);
        return;
      }
      assert.equal(posted.status, 303);
      const line = posted.setCookies.find((l) => l.startsWith('cookie_session='))!;
      const page = await client.get(posted.headers.get('location')!);
      assert.equal(bar(page.body), Buffer.byteLength(line), `item ${i + 1}: the bar shows the Set-Cookie header that carries the cookie`);
      const again = await client.get('/cookie/cart');
      assert.equal(bar(again.body), Buffer.byteLength(line), `item ${i + 1}: and so does the next page, which sets no cookie`);
      last = { line, shown: bar(page.body) };
    }
    assert.fail('the cookie never filled up');
  });

  test('cookie values are escaped, and a tampered sealed cookie starts a fresh session', async () => {
    const client = new Client(app.url);
    client.jar.set('memory_sid', '<script>alert(1)</script>');
    const page = await client.get('/memory/');
    assert.doesNotMatch(page.body, /<script/i);
    assert.match(page.body, /&lt;script/);
    assert.match(page.body, /not a well-formed session ID: refused without asking the store/);
    assertWordsMatchTrace(page.body, 'a malformed ID');

    const shopper = new Client(app.url);
    await click(shopper, '/cookie/add', { item: 'banana' });
    const sealed = shopper.jar.get('cookie_session')!;
    shopper.jar.set('cookie_session', sealed.slice(0, -2) + (sealed.endsWith('AA') ? 'BB' : 'AA'));
    const tampered = await shopper.get('/cookie/cart');
    assert.equal(cartCount(tampered.body), 0);
    assert.match(tampered.body, /seal refused \(/);
    assertWordsMatchTrace(tampered.body, 'a tampered seal');
    assert.equal((await new Client(app.url).request('/memory/login', form({ user: '<b>' }))).status, 400);
  });

  test('the lab refuses nonsense without failing: unknown pages, steps run twice, wrong methods', async () => {
    const client = new Client(app.url);
    assert.equal((await client.get('/lab')).status, 308);
    assert.equal((await client.get('/lab/steal')).status, 303);
    for (const path of ['/lab/nothing/', '/lab/steal/nothing/', '/lab/steal/memory/nothing', '/lab/tabs/memory/tab?run=nope&tab=A']) {
      assert.equal((await client.get(path)).status, 404, path);
    }
    assert.equal((await client.request('/lab/steal/memory/step?run=nope&n=1', form({}))).status, 409, 'a step of no run');
    const run = await client.request('/lab/tamper/memory/run', form({ mode: '' }));
    assert.equal(run.status, 307, 'a one-click run goes on with a 307');
    const next = run.headers.get('location')!;
    assert.equal((await client.request(next, form({}))).status, 303, 'its last step answers 303 to the page');
    assert.equal((await client.request(next, form({}))).status, 409, 'a step runs once');
    assert.equal((await client.request('/lab/steal/memory/run', { method: 'GET' })).status, 405);
    assert.equal((await client.request('/lab/expiry/memory/use?run=nope', form({}))).status, 303, 'no run: back to the page');
    assert.doesNotMatch(app.output(), /request failed/, 'no request failed');
  });

  // Issue 14: "(made just now)" stayed on the secret for the whole life of the process.
  test('the secret made at startup is labelled with the start time, not "just now"', async () => {
    const client = new Client(app.url);
    await click(client, '/cookie/add', { item: 'dates' }, false);
    const later = await client.get('/cookie/cart');
    assert.doesNotMatch(later.body, /just now/);
    assert.match(later.body, /plain-session-demo-secret \(made by this demo process when it started, at \d\d:\d\d:\d\d UTC\)/);
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
    const cookieCart = await after.get('/cookie/cart');
    assert.equal(cartCount(cookieCart.body), 1, 'the cookie cart survives');
    assert.match(cookieCart.body, /plain-session-demo-secret<\/code>/, 'after a restart the secret is read from its file, with no word about making it');
    assert.equal(cartCount((await after.get('/database/cart')).body), 1, 'the database cart survives');
    const memory = await after.get('/memory/cart');
    assert.equal(cartCount(memory.body), 0, 'the memory cart is gone');
    assertCookieFateTold(memory.body, after, 'memory_sid', client.jar.get('memory_sid')!);
  });
});
