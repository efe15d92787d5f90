/**
 * The demo in a real browser: Debian's Chromium, driven by playwright-core (no browser download).
 * What the tutorial says about the three techniques, checked where it matters, in a browser's
 * cookie jar: the cart follows you from page to page, the session cookie is HttpOnly and
 * SameSite=Lax, login changes the ID, logout removes the cookie, and a restart of the server keeps
 * the cookie and database carts but loses the memory cart.
 *
 * Without /usr/bin/chromium these tests are skipped, loudly; under CI=true they fail instead
 * (.ci/run installs it with `apt-get install chromium`). Screenshots go to test-results/.
 * `DOCS_SCREENSHOT=1` also rewrites docs/inspector.png, the picture at the top of the README.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, runExample, type Running } from './example-runner.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TECHNIQUES = [
  { key: 'cookie', cookie: 'cookie_session' },
  { key: 'memory', cookie: 'memory_sid' },
  { key: 'database', cookie: 'database_sid' },
] as const;
const RESULTS = join(ROOT, 'test-results');

const missing = !existsSync(CHROMIUM);
if (missing && process.env.CI !== 'true') {
  console.warn(`\n*** browser tests SKIPPED: no Chromium at ${CHROMIUM}. Install it (apt-get install -y chromium) or set CHROMIUM_PATH. ***\n`);
}

/** A port nobody listens on right now, so the demo can be restarted on the same one. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('demo in a real browser', { skip: missing && process.env.CI !== 'true' ? `no Chromium at ${CHROMIUM}` : false }, () => {
  let dir: string;
  let port: number;
  let app: Running | undefined;
  let context: BrowserContext;
  let page: Page;
  let base: string;

  const start = async () => {
    app = await runExample('examples/demo/server.js', { PORT: String(port), DEMO_DIR: join(dir, 'demo'), SESSION_SECRET: '' });
  };
  const cookieIn = async (name: string) => (await context.cookies(base)).find((c) => c.name === name) ??
    (await context.cookies()).find((c) => c.name === name);
  const count = async () => Number(await page.locator('#count').textContent());

  before(async () => {
    assert.ok(!missing, `CI=true, so the browser tests must run, but there is no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
    dir = await mkdtemp(join(tmpdir(), 'plain-session-browser-'));
    await mkdir(join(dir, 'demo'));
    await mkdir(RESULTS, { recursive: true });
    port = await freePort();
    base = `http://localhost:${port}`;
    await start();
    // A persistent context on a fresh folder is a fresh profile: no cookies, no cache, no history.
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1100, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    await app?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const { key, cookie } of TECHNIQUES) {
    test(`${key}: the cart stays from page to page and across reloads; the cookie is HttpOnly and SameSite=Lax`, async () => {
      await page.goto(`${base}/${key}/`);
      assert.equal(await count(), 0);
      assert.equal(await cookieIn(cookie), undefined, 'no cookie before anything is put in the session');
      for (const item of ['apple', 'cherry', 'apple']) await page.click(`button[value="${item}"]`);
      assert.equal(await count(), 3);
      await page.click('nav.views a[href$="/cart"]');
      assert.match(page.url(), new RegExp(`/${key}/cart$`));
      assert.equal(await page.locator('.products li').count(), 2, 'apple ×2 and cherry');
      await page.reload();
      assert.equal(await count(), 3);
      await page.click('button[value="cherry"]'); // remove one
      await page.click('nav.views a[href$="/"]');
      assert.equal(await count(), 2);
      await page.goto(`${base}/`);
      await page.goto(`${base}/${key}/`);
      assert.equal(await count(), 2, 'still there after leaving the technique and coming back');

      assert.equal(await page.evaluate('document.cookie'), '', 'the page’s scripts cannot see the session cookie');
      const jar = await cookieIn(cookie);
      assert.ok(jar, 'the browser holds the session cookie');
      assert.equal(jar.httpOnly, true);
      assert.equal(jar.sameSite, 'Lax');
      assert.equal(jar.path, `/${key}`);
      assert.equal(jar.secure, false, 'plain http: no Secure');
      assert.ok(jar.expires > Date.now() / 1000 + 25 * 60, 'it expires with the 30-minute idle timeout');
      assert.ok(!(await page.content()).includes(jar.value), 'the page does not print the cookie value');
      await page.screenshot({ path: join(RESULTS, `browser-${key}-cart.png`), fullPage: true });
    });
  }

  test('logging in changes the session ID, and the cart stays', async () => {
    for (const { key, cookie } of TECHNIQUES) {
      await page.goto(`${base}/${key}/cart`);
      const before = await cookieIn(cookie);
      const shownBefore = await page.locator('#session-id').textContent();
      await page.fill('input[name="user"]', 'ada');
      await page.click('form.login button');
      assert.equal(await page.locator('#user').textContent(), 'ada');
      assert.equal(await count(), 2);
      const afterLogin = await cookieIn(cookie);
      assert.ok(before && afterLogin);
      assert.notEqual(afterLogin.value, before.value, `${key}: a new cookie`);
      assert.notEqual(await page.locator('#session-id').textContent(), shownBefore, `${key}: the inspector shows a new ID`);
      assert.match(await page.locator('.previous').textContent() ?? '', /Set-Cookie:/, `${key}: the inspector shows the login’s Set-Cookie`);
      if (key === 'database' && process.env.DOCS_SCREENSHOT === '1') {
        // The first screen, as a reader on a laptop sees it; small enough for the README (≤ 150 KB).
        await page.setViewportSize({ width: 1024, height: 760 });
        await page.screenshot({ path: join(ROOT, 'docs', 'inspector.png') });
        await page.setViewportSize({ width: 1100, height: 800 });
      }
    }
  });

  test('a restart of the server keeps the cookie and database carts, and loses the memory cart', async () => {
    await app!.stop();
    await start(); // the same port, so the browser's cookies still apply
    await page.goto(`${base}/cookie/cart`);
    assert.equal(await count(), 2, 'cookie: the cart was in the browser all along');
    assert.equal(await page.locator('#user').textContent(), 'ada');
    await page.goto(`${base}/database/cart`);
    assert.equal(await count(), 2, 'database: the row is still in the file');
    await page.goto(`${base}/memory/cart`);
    assert.equal(await count(), 0, 'memory: the Map died with the process');
    assert.match(await page.locator('.trace').last().textContent() ?? '', /names no live session/);
    assert.notEqual(await cookieIn('memory_sid'), undefined, 'memory: the dead cookie is left alone (it may be a new login’s)');
    await page.screenshot({ path: join(RESULTS, 'browser-memory-after-restart.png'), fullPage: true });
  });

  test('logging out empties the cart and removes the cookie', async () => {
    for (const { key, cookie } of TECHNIQUES.filter((t) => t.key !== 'memory')) {
      await page.goto(`${base}/${key}/cart`);
      assert.ok(await cookieIn(cookie));
      await page.click('text=Log out');
      assert.equal(await count(), 0, `${key}: empty cart`);
      assert.equal(await page.locator('.empty').textContent(), 'Your cart is empty.');
      assert.equal(await cookieIn(cookie), undefined, `${key}: no cookie`);
      assert.equal(await page.locator('#session-id').count(), 0, `${key}: the server holds nothing`);
    }
    // The memory cart was lost in the restart; fill it again to log out of it too.
    await page.goto(`${base}/memory/`);
    await page.click('button[value="banana"]');
    await page.click('form.login button');
    assert.ok(await cookieIn('memory_sid'));
    await page.click('text=Log out');
    assert.equal(await count(), 0);
    assert.equal(await cookieIn('memory_sid'), undefined);
    assert.match(await page.locator('.inspector').textContent() ?? '', /No entry for this browser/);
  });

  test('the pages fit a phone screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/', ...TECHNIQUES.map((t) => `/${t.key}/`)]) {
      await page.goto(base + path);
      const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth'));
      assert.ok(overflow <= 0, `${path}: no sideways scrolling (${overflow}px too wide)`);
    }
    await page.screenshot({ path: join(RESULTS, 'browser-phone.png'), fullPage: true });
  });
});
