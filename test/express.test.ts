/**
 * `sessions.middleware()` in a real Express 5 app over real sockets: sessions across requests, login
 * with `regenerate()`, logout with `destroy()`, a streamed response, Express's own error handler for
 * a route that throws and for a store that fails, and read-your-writes on the redirect after login.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { createSessions } from '../lib/sessions.js';
import type { Session } from '../lib/session.js';
import { Client, GatedStore } from './helpers.js';
import { MemoryStore } from '../lib/stores/memory.js';
import { requireDriver } from './services.js';

// The few parts of Express the test uses (the repo has no @types/express).
type Req = IncomingMessage & { session: Session<Data>; body?: Record<string, string> };
type Res = ServerResponse & { send(body: string): void; json(body: unknown): void; redirect(url: string): void; status(code: number): Res };
type Next = (error?: unknown) => void;
interface App {
  use(...handlers: unknown[]): void;
  get(path: string, ...handlers: ((req: Req, res: Res, next: Next) => unknown)[]): void;
  post(path: string, ...handlers: ((req: Req, res: Res, next: Next) => unknown)[]): void;
  listen(port: number, host: string, callback: () => void): { address(): AddressInfo | string | null; close(callback: () => void): void; closeAllConnections(): void };
}
const express = requireDriver('express') as (() => App) & { urlencoded(options: { extended: boolean }): unknown };

type Data = { views?: number; user?: string };

async function start(store = new MemoryStore({ pruneInterval: 0 })) {
  const sessions = createSessions<Data>({ store, onError: () => {} });
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(sessions.middleware());
  app.get('/', (req, res) => {
    req.session.data.views = (req.session.data.views ?? 0) + 1;
    res.send(`views ${req.session.data.views}`);
  });
  app.get('/me', (req, res) => res.json({ user: req.session.data.user ?? null, views: req.session.data.views ?? 0, isNew: req.session.isNew }));
  app.post('/login', async (req, res) => {
    await req.session.regenerate();
    req.session.bindUser(req.body!.user!);
    req.session.data.user = req.body!.user;
    res.redirect('/me');
  });
  app.post('/logout', async (req, res) => {
    await req.session.destroy();
    res.redirect('/me');
  });
  app.get('/stream', async (req, res) => {
    req.session.data.views = (req.session.data.views ?? 0) + 1;
    res.setHeader('content-type', 'text/plain');
    for (let i = 0; i < 20; i++) {
      res.write(`line ${i}\n`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    res.end('done\n');
  });
  app.get('/boom', () => {
    throw new Error('route failed');
  });
  // Express's error handler: four arguments.
  app.use((error: Error & { statusCode?: number }, _req: Req, res: Res, _next: Next) => {
    res.status(error.statusCode ?? 500).send(`handled by the app: ${error.message}`);
  });
  const server = await new Promise<ReturnType<App['listen']>>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sessions,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sessions.close();
    },
  };
}

const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('sessions.middleware() in Express 5', async () => {
  const app = await start();
  after(() => app.close());

  test('req.session carries the session from request to request, with the cookie set once', async () => {
    const client = new Client(app.url);
    const first = await client.get('/');
    assert.equal(first.body, 'views 1');
    assert.match(first.setCookies.join(), /^sid=[\w-]{43}; Max-Age=28800; Path=\/; HttpOnly; SameSite=Lax$/);
    const second = await client.get('/');
    assert.equal(second.body, 'views 2');
    assert.deepEqual(second.setCookies, []);
  });

  test('login regenerates the ID, and the redirect that follows sees the login', async () => {
    const client = new Client(app.url);
    await client.get('/');
    const before = client.jar.get('sid');
    const login = await client.request('/login', form({ user: 'ada' }));
    assert.equal(login.status, 302);
    assert.notEqual(client.jar.get('sid'), before, 'a new ID');
    const me = JSON.parse((await client.get('/me')).body);
    assert.deepEqual(me, { user: 'ada', views: 1, isNew: false });
    const old = new Client(app.url);
    old.jar.set('sid', before!);
    assert.equal(JSON.parse((await old.get('/me')).body).isNew, true, 'the old ID is dead');
  });

  test('logout destroys the session and expires the cookie', async () => {
    const client = new Client(app.url);
    await client.request('/login', form({ user: 'bob' }));
    const id = client.jar.get('sid')!;
    const logout = await client.request('/logout', form({}));
    assert.match(logout.setCookies.join(), /sid=; Max-Age=0/);
    assert.equal(client.jar.has('sid'), false);
    const stale = new Client(app.url);
    stale.jar.set('sid', id);
    assert.deepEqual(JSON.parse((await stale.get('/me')).body), { user: null, views: 0, isNew: true });
  });

  test('a streamed response arrives whole, and its change to the session is saved', async () => {
    const client = new Client(app.url);
    const streamed = await client.get('/stream');
    assert.equal(streamed.body, Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join('') + 'done\n');
    assert.equal((await client.get('/')).body, 'views 2');
  });

  test("a route that throws reaches the app's error handler, and the server keeps serving", async () => {
    const client = new Client(app.url);
    const boom = await client.get('/boom');
    assert.equal(boom.status, 500);
    assert.equal(boom.body, 'handled by the app: route failed');
    assert.equal((await client.get('/')).body, 'views 1');
  });
});

describe('sessions.middleware() with a failing store', () => {
  test("a store that fails while loading goes to next(error): the app's error handler answers 503", async (t) => {
    const inner = new MemoryStore({ pruneInterval: 0 });
    const store = new GatedStore(inner);
    const app = await start(store as unknown as MemoryStore);
    t.after(() => app.close());
    const client = new Client(app.url);
    await client.get('/');
    store.get = () => Promise.reject(new Error('store down'));
    const failed = await client.get('/');
    assert.equal(failed.status, 503);
    assert.equal(failed.body, 'handled by the app: session store failed while loading a session');
  });
});
