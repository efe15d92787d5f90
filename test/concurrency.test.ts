/**
 * One request, one session: concurrent requests of one visitor, on every store, over real sockets.
 * The interleavings are forced, never hoped for: a handler waits at a gate the test opens
 * (`Gates`), and a store call waits before it reaches the store until the test lets it through
 * (`GatedStore`). Each store also runs without its `patch()`, as a user's own simple store would,
 * which the manager then stands in for.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'node:http';
import { decodeData } from '../lib/data.js';
import { createSessions, type SessionsOptions } from '../lib/sessions.js';
import type { Store } from '../lib/store.js';
import { Client, Gates, GatedStore, serve, traceOf, type Reply } from './helpers.js';
import { storeKinds } from './store-kinds.js';
import { runExample } from './example-runner.js';
import { figure } from './adversarial-helpers.js';

type Data = Record<string, unknown>;

interface Answer {
  data: Data;
  isNew: boolean;
  userId: string | null;
}

/**
 * The app: `?set.KEY=VALUE` sets keys, `?hold=NAME` waits at a gate after the session is loaded and
 * before it changes anything; `/login?user=U` regenerates and binds the user, `/rotate` only
 * regenerates, `/logout` destroys. Every answer shows the session as the request saw it.
 */
async function app(inner: Store, options: SessionsOptions & { withoutPatch?: boolean } = {}) {
  const { withoutPatch, ...sessionOptions } = options;
  const store = new GatedStore(inner, { withoutPatch });
  const gates = new Gates();
  const errors: number[] = [];
  const sessions = createSessions<Data>({ ...sessionOptions, store, onError: (error) => errors.push(error.statusCode) });
  const served = await serve(
    sessions.wrap(async (req, res, session) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const hold = url.searchParams.get('hold');
      if (hold !== null) await gates.pass(hold);
      for (const [name, value] of url.searchParams) if (name.startsWith('set.')) session.data[name.slice(4)] = value;
      if (url.pathname === '/login') {
        await session.regenerate();
        session.bindUser(url.searchParams.get('user')!);
        session.data.user = url.searchParams.get('user');
      }
      if (url.pathname === '/rotate') await session.regenerate();
      if (url.pathname === '/logout') await session.destroy();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ data: session.data, isNew: session.isNew, userId: session.userId ?? null }));
    }),
  );
  return {
    store,
    gates,
    errors,
    sessions,
    url: served.url,
    async close() {
      await served.close();
      await sessions.close();
    },
  };
}

const answer = (reply: Reply) => JSON.parse(reply.body) as Answer;

/** A client holding a copy of `client`'s cookies: another tab, or a request sent before a change. */
function copyOf(client: Client): Client {
  const copy = new Client(client.base);
  for (const [name, value] of client.jar) copy.jar.set(name, value);
  return copy;
}

const kinds = await storeKinds();

for (const kind of kinds) {
  for (const withoutPatch of [false, true]) {
    const label = withoutPatch ? `${kind.name} without patch() (the manager merges)` : kind.name;

    describe(`one request, one session: ${label}`, () => {
      const open = async (options: SessionsOptions = {}) => app(await kind.make(), { ...options, withoutPatch });

      test('two requests loaded together that change different keys both keep their change', async (t) => {
        const a = await open();
        t.after(() => a.close());
        const client = new Client(a.url);
        await client.get('/?set.base=1');
        const first = client.get('/?hold=A&set.a=1');
        await a.gates.arrived('A');
        const second = client.get('/?hold=B&set.b=2');
        await a.gates.arrived('B'); // both have loaded; neither has saved
        a.gates.release('A');
        await first;
        a.gates.release('B');
        await second;
        assert.deepEqual(answer(await client.get('/')).data, { base: '1', a: '1', b: '2' });
      });

      test('two requests that change the same key: the later commit wins', async (t) => {
        const a = await open();
        t.after(() => a.close());
        const client = new Client(a.url);
        await client.get('/?set.theme=light');
        const first = client.get('/?hold=A&set.theme=dark');
        await a.gates.arrived('A');
        const second = client.get('/?hold=B&set.theme=blue');
        await a.gates.arrived('B');
        a.gates.release('B');
        await second;
        a.gates.release('A');
        await first;
        assert.equal(answer(await client.get('/')).data.theme, 'dark');
      });

      test('the fixation attack, with default options: a request held open across a login gets neither the login nor the new ID', async (t) => {
        const a = await open();
        t.after(() => a.close());
        const victim = new Client(a.url);
        await victim.get('/?set.cart=apple'); // the ID an attacker planted or saw
        const oldId = victim.jar.get('sid')!;
        const held = copyOf(victim).get('/?hold=S&set.note=late');
        await a.gates.arrived('S');
        const login = await victim.get('/login?user=ada');
        const newId = victim.jar.get('sid')!;
        assert.notEqual(newId, oldId);
        assert.equal(answer(login).userId, 'ada');
        a.gates.release('S');
        const reply = await held;
        assert.deepEqual(reply.setCookies, [], 'no Set-Cookie at all: neither the new ID, nor the old one, nor a clearing');
        assert.equal(answer(reply).userId, null, 'it never saw the login');
        assert.equal(answer(reply).data.user, undefined);
        assert.equal(await a.store.inner.get(oldId), undefined, 'nothing is stored under the old ID');
        const stored = await a.store.inner.get(newId);
        assert.equal(stored?.userId, 'ada');
        assert.deepEqual(decodeData(stored!.data), { cart: 'apple', user: 'ada' }, 'its change was dropped, not written into the new session');
        const attacker = new Client(a.url);
        attacker.jar.set('sid', oldId);
        assert.equal(answer(await attacker.get('/')).isNew, true, 'the planted ID is worth nothing after the login');
      });

      test('a logout in one request while another is in flight: the session stays gone and the browser is not touched', async (t) => {
        const a = await open();
        t.after(() => a.close());
        const tab = new Client(a.url);
        await tab.get('/login?user=bob');
        const id = tab.jar.get('sid')!;
        const held = copyOf(tab).get('/?hold=S&set.more=1');
        await a.gates.arrived('S');
        const logout = await tab.get('/logout');
        assert.match(logout.setCookies.join(), /Max-Age=0/, 'the logout expires the cookie');
        a.gates.release('S');
        const reply = await held;
        assert.deepEqual(reply.setCookies, [], 'the older request neither sets nor clears a cookie');
        assert.equal(answer(reply).userId, 'bob', 'it saw the session as it was when it started');
        assert.equal(await a.store.inner.get(id), undefined, 'nothing came back under the old ID');
        const stale = new Client(a.url);
        stale.jar.set('sid', id);
        assert.equal(answer(await stale.get('/')).isNew, true);
      });

      test('"log out everywhere" applies to the very next request, whatever is in flight', async (t) => {
        const a = await open();
        t.after(() => a.close());
        if (!a.store.deleteUser) return t.skip('this store keeps no user index');
        const tab = new Client(a.url);
        await tab.get('/login?user=carol');
        const id = tab.jar.get('sid')!;
        const held = copyOf(tab).get('/?hold=S&set.late=1');
        await a.gates.arrived('S');
        assert.equal(await a.store.deleteUser('carol'), 1);
        const next = answer(await copyOf(tab).get('/'));
        assert.deepEqual([next.isNew, next.userId], [true, null], 'logged out while another request of the session runs');
        a.gates.release('S');
        await held;
        assert.equal(await a.store.inner.get(id), undefined, 'the held request did not bring it back');
      });

      for (const ending of ['a logout', '"log out everywhere"'] as const) {
        test(`a request that started before ${ending} cannot bring the session back by regenerating it`, async (t) => {
          const a = await open();
          t.after(() => a.close());
          if (ending !== 'a logout' && !a.store.deleteUser) return t.skip('this store keeps no user index');
          const tab = new Client(a.url);
          await tab.get('/login?user=dora');
          const rotating = copyOf(tab); // a request that rotates the ID (step-up, or now and then)
          const held = rotating.get('/rotate?hold=R');
          await a.gates.arrived('R');
          if (ending === 'a logout') await tab.get('/logout');
          else assert.equal(await a.store.deleteUser!('dora'), 1);
          a.gates.release('R');
          const raw = await held;
          const reply = answer(raw);
          assert.deepEqual([reply.isNew, reply.userId, reply.data.user], [true, null, undefined], 'a new, empty session: nothing moved');
          assert.deepEqual(raw.setCookies, [], 'no cookie naming a new ID');
          const after = answer(await rotating.get('/'));
          assert.deepEqual([after.isNew, after.userId], [true, null], 'still logged out');
          if (a.store.idsOfUser) assert.deepEqual(await a.store.idsOfUser('dora'), [], 'no session of the user anywhere');
        });
      }

      test('rotating a signed-in session\'s ID keeps its age; signing in starts a new lifetime', async (t) => {
        const a = await open({ absoluteTimeout: 800 });
        t.after(() => a.close());
        const tab = new Client(a.url);
        await tab.get('/?set.cart=1'); // anonymous first
        await sleep(400);
        const started = Date.now(); // the lifetime starts at the sign-in, not at the anonymous visit
        await tab.get('/login?user=eve');
        await sleep(500);
        assert.equal(answer(await tab.get('/')).userId, 'eve', 'signed in 900 ms after the first visit: alive');
        const ids = new Set([tab.jar.get('sid')]);
        while (Date.now() - started < 1100) {
          await tab.get('/rotate');
          ids.add(tab.jar.get('sid'));
          await sleep(100);
        }
        assert.ok(ids.size >= 3, `the ID rotated (${ids.size} IDs)`);
        const last = answer(await tab.get('/'));
        assert.deepEqual([last.isNew, last.userId], [true, null], 'past the absolute lifetime despite rotating');
      });

      test('a save that reaches the store after a logout brings nothing back', async (t) => {
        const a = await open();
        t.after(() => a.close());
        const tab = new Client(a.url);
        await tab.get('/?set.x=1');
        const id = tab.jar.get('sid')!;
        // The write of the held request is held in flight: it reaches the store after the logout.
        const write = a.store.hold(withoutPatch ? 'set' : 'patch');
        const held = copyOf(tab).get('/?set.x=2');
        await write.arrived;
        const logout = tab.get('/logout');
        if (withoutPatch) {
          // Without patch(), the manager makes the logout wait for the merges of the session in
          // flight in this process, so the delete lands after them.
          const first = await Promise.race([logout.then(() => 'logout'), sleep(150).then(() => 'waiting')]);
          assert.equal(first, 'waiting');
        } else {
          await logout; // the delete reaches the store first; the held patch comes after it
        }
        write.release();
        await logout;
        assert.equal((await held).status, 200);
        await write.done;
        assert.equal(await a.store.inner.get(id), undefined);
      });

      test('a write that passed storeTimeout and lands later revives nothing; a late insert is removed', async (t) => {
        const a = await open({ storeTimeout: 300 });
        t.after(() => a.close());
        const tab = new Client(a.url);
        await tab.get('/?set.x=1');
        const id = tab.jar.get('sid')!;
        const write = a.store.hold(withoutPatch ? 'set' : 'patch');
        const late = await copyOf(tab).get('/?set.x=2');
        assert.equal(late.status, 503, 'the visitor was told it failed');
        await tab.get('/logout');
        write.release(); // the database answers at last
        await write.done;
        // A patch is update-only and finds nothing; a merge by hand lands, and the manager deletes it again.
        const gone = async (key: string) => {
          for (let i = 0; i < 50 && (await a.store.inner.get(key)) !== undefined; i++) await sleep(10);
          return (await a.store.inner.get(key)) === undefined;
        };
        assert.ok(await gone(id), 'the logged-out session stays gone');

        const insert = a.store.hold('set');
        const newcomer = await new Client(a.url).get('/?set.y=1');
        assert.equal(newcomer.status, 503);
        assert.deepEqual(newcomer.setCookies, [], 'the failed answer names no session');
        const [newId] = await insert.arrived;
        insert.release();
        await insert.done;
        assert.ok(await gone(newId as string), 'the insert that landed late was deleted');
      });

      test('the absolute lifetime holds while requests of the session overlap without a pause', async (t) => {
        const a = await open({ absoluteTimeout: 1000 });
        t.after(() => a.close());
        const tab = new Client(a.url);
        const started = Date.now(); // the session is created after this
        await tab.get('/?set.x=1');
        let held = 'H0';
        let inFlight = copyOf(tab).get(`/?hold=${held}`);
        await a.gates.arrived(held);
        let seen: Answer | undefined;
        for (let i = 1; Date.now() - started < 1400; i++) {
          await sleep(100);
          const next = `H${i}`;
          const nextFlight = copyOf(tab).get(`/?hold=${next}`); // starts before the last one ends
          await a.gates.arrived(next);
          a.gates.release(held);
          await inFlight;
          [held, inFlight] = [next, nextFlight];
          seen = answer(await copyOf(tab).get('/'));
          if (Date.now() - started < 700) assert.equal(seen.isNew, false, `alive after ${Date.now() - started} ms`);
        }
        a.gates.release(held);
        await inFlight;
        assert.equal(seen?.isNew, true, 'past its absolute lifetime, though never idle');
      });

      test('a 300 ms idle timeout: reads every 100 ms keep the session alive, a pause of 500 ms ends it', async (t) => {
        const a = await open({ idleTimeout: 300 });
        t.after(() => a.close());
        const tab = new Client(a.url);
        await tab.get('/?set.x=1');
        for (let i = 0; i < 12; i++) {
          await sleep(100);
          assert.equal(answer(await tab.get('/')).isNew, false, `alive after ${(i + 1) * 100} ms of reads`);
        }
        await sleep(500);
        assert.equal(answer(await tab.get('/')).isNew, true);
      });
    });
  }
}

describe('one request, one session: what the manager keeps', () => {
  test('a session loaded and never committed costs nothing afterwards: no memory, no hold on logout', async () => {
    // In a server process of its own, so that only the server's heap is measured.
    const server = await runExample('test/fixtures/load-only-server.js', { NODE_OPTIONS: '--expose-gc' });
    try {
      const agent = new Agent({ keepAlive: true, maxSockets: 10 });
      const ask = (path: string, cookie?: string) =>
        new Promise<string>((resolve, reject) => {
          request(server.url + path, { agent, headers: cookie ? { cookie } : {} }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (chunk) => (body += chunk)).on('end', () => resolve(body));
          }).on('error', reject).end();
        });
      const ids = JSON.parse(await ask('/make?n=6000')) as string[];
      const loadAll = async (some: string[]) => {
        for (let i = 0; i < some.length; i += 50) await Promise.all(some.slice(i, i + 50).map((id) => ask('/load', `sid=${id}`)));
      };
      await loadAll(ids.slice(0, 1000)); // warm up
      const before = Number(await ask('/heap'));
      await loadAll(ids.slice(1000));
      const grown = Number(await ask('/heap')) - before;
      figure(`5000 sessions loaded and never committed: the server's heap grew by ${grown} bytes`);
      // A session kept after its request (the old shared-session design) costs several hundred bytes.
      assert.ok(grown < 600_000, `5000 loads without commit kept ${grown} bytes (${Math.round(grown / 5000)} a session)`);
      assert.equal(await ask('/logout-everywhere'), '6000', 'every session is still in the store, and goes');
      assert.equal(await ask('/load', `sid=${ids[4321]}`), 'undefined', 'logged out at once');
      agent.destroy();
    } finally {
      await server.stop();
    }
  });

  test("a request's dropped changes are traced with NODE_DEBUG", async () => {
    const lib = new URL('../lib/index.js', import.meta.url).href;
    const script = `
      import { createServer } from 'node:http';
      import { createSessions } from '${lib}';
      const sessions = createSessions();
      let release;
      const held = new Promise((resolve) => (release = resolve));
      const server = createServer(sessions.wrap(async (req, res, s) => {
        if (req.url === '/hold') { await held; s.data.late = 1; }
        else if (req.url === '/logout') await s.destroy();
        else s.data.n = 1;
        res.end('x');
      }));
      server.listen(0, '127.0.0.1', async () => {
        const url = 'http://127.0.0.1:' + server.address().port;
        const cookie = (await fetch(url)).headers.get('set-cookie').split(';')[0];
        const slow = fetch(url + '/hold', { headers: { cookie } });
        await new Promise((resolve) => setTimeout(resolve, 50));
        await fetch(url + '/logout', { headers: { cookie } });
        release();
        await slow;
        server.close(); server.closeAllConnections();
      });`;
    const stderr = await traceOf(script);
    assert.match(stderr, /gone from the store \(logged out, regenerated or expired meanwhile\); this request's changes are dropped/);
  });
});
