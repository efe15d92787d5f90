/** Every example runs as a reader would run it, and does what its comment says. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Client } from './helpers.js';
import { runExample } from './example-runner.js';

const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('examples', () => {
  test('counter counts one visitor’s views, and only theirs', async () => {
    const app = await runExample('examples/counter/server.js');
    try {
      const alice = new Client(app.url);
      const bob = new Client(app.url);
      await alice.get('/');
      await alice.get('/');
      assert.match((await alice.get('/')).body, /3 time/);
      assert.match((await bob.get('/')).body, /1 time/);
    } finally {
      await app.stop();
    }
  });

  test('login regenerates the ID, shows the private page, and logout destroys', async () => {
    const app = await runExample('examples/login/server.js');
    try {
      const client = new Client(app.url);
      assert.equal((await client.get('/private')).status, 303, 'private page needs a login');
      client.jar.set('sid', 'A'.repeat(43)); // a planted ID is never adopted
      const wrong = await client.request('/login', form({ user: 'ada', password: 'nope' }));
      assert.equal(wrong.status, 401);
      const before = client.jar.get('sid');
      const login = await client.request('/login', form({ user: 'ada', password: 'lovelace' }));
      assert.equal(login.status, 303);
      assert.equal(login.headers.get('location'), '/private');
      assert.notEqual(client.jar.get('sid'), before);
      assert.match((await client.get('/private')).body, /Hello, ada/);
      const logout = await client.request('/logout', { method: 'POST' });
      assert.equal(logout.status, 303);
      assert.equal(client.jar.has('sid'), false, 'cookie expired');
      assert.equal((await client.get('/private')).status, 303);
    } finally {
      await app.stop();
    }
  });

  test('cart keeps items from page to page, and a restart of the memory store empties it', async () => {
    let app = await runExample('examples/cart/server.js');
    const client = new Client(app.url);
    try {
      assert.equal((await client.request('/add', form({ item: 'apple' }))).status, 303);
      await client.request('/add', form({ item: 'cherry' }));
      await client.request('/add', form({ item: 'apple' }));
      await client.request('/add', form({ item: 'not-a-product' }));
      await client.request('/remove', form({ item: 'cherry' }));
      const cart = await client.get('/cart');
      assert.equal(cart.body.match(/value="apple"/g)?.length, 2);
      assert.doesNotMatch(cart.body, /value="cherry"|not-a-product/);
      assert.match((await client.get('/')).body, /Cart \(<span id="count">2<\/span>\)/);
      assert.match((await new Client(app.url).get('/')).body, /Cart \(<span id="count">0<\/span>\)/, 'another visitor has their own cart');
    } finally {
      await app.stop();
    }
    app = await runExample('examples/cart/server.js');
    try {
      const after = new Client(app.url);
      for (const [k, v] of client.jar) after.jar.set(k, v);
      assert.match((await after.get('/cart')).body, /Your cart is empty/, 'memory sessions are lost on restart');
    } finally {
      await app.stop();
    }
  });
});
