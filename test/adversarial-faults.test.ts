/**
 * Adversarial suite, group 8: faults. A store that rejects, hangs or throws synchronously; a
 * handler that throws after the headers went out; a client that goes away mid-response. In every
 * case: no crash, no unhandled rejection (npm test runs node with --unhandled-rejections=strict),
 * no double `end`, and the next request works.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryStore } from '../lib/stores/memory.js';
import { createSessions, SessionError, type SessionsOptions } from '../lib/sessions.js';
import { serve, type Served } from './helpers.js';
import { countingListener, FaultyStore, figure, newEndCounter, type EndCounter, type Fault, type StoreOp } from './adversarial-helpers.js';

type Data = { n?: number };

const servers: Served[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

/** What the server side of each app saw, summed up at the end. */
const counters: EndCounter[] = [];
const warnings: string[] = [];
const onWarning = (w: Error & { code?: string }) => warnings.push(w.code ?? w.name);
process.on('warning', onWarning);
after(() => {
  process.off('warning', onWarning);
  const totals = newEndCounter();
  for (const c of counters) {
    totals.requests += c.requests;
    totals.doubleEnds += c.doubleEnds;
    totals.responseErrors += c.responseErrors;
  }
  figure(`faults: ${totals.requests} requests served, ${totals.doubleEnds} double ends, ${totals.responseErrors} response errors; warnings: ${JSON.stringify(warnings)}`);
});

interface App {
  store: FaultyStore;
  served: Served;
  counter: EndCounter;
  errors: SessionError[];
}

/**
 * A counter app on a FaultyStore: `/add` increments, `/destroy` destroys (`/destroy-unawaited`
 * without awaiting it, `/destroy-caught` catching its failure), `/stream` writes the head and then
 * chunks, `/throw-after-head` throws once the head is out, `/reject` rejects.
 */
async function faultApp(options: Omit<SessionsOptions, 'store' | 'onError'> = {}): Promise<App> {
  const store = new FaultyStore(new MemoryStore({ pruneInterval: 0 }));
  const errors: SessionError[] = [];
  const sessions = createSessions<Data>({ ...options, store, onError: (e) => errors.push(e) });
  const counter = newEndCounter();
  const listener = sessions.wrap(async (req, res, session) => {
    const url = req.url ?? '/';
    if (url === '/add') session.data.n = (session.data.n ?? 0) + 1;
    if (url === '/destroy') await session.destroy();
    if (url === '/destroy-unawaited') void session.destroy(); // a common slip
    if (url === '/destroy-caught') await session.destroy().catch(() => {});
    if (url === '/reject') {
      await sleep(1);
      throw new Error('handler rejected (test)');
    }
    if (url === '/throw-after-head') {
      session.data.n = (session.data.n ?? 0) + 1;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      await sleep(5);
      throw new Error('handler failed mid-body (test)');
    }
    if (url === '/stream') {
      session.data.n = (session.data.n ?? 0) + 1;
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 40; i++) {
        res.write(`chunk ${i}\n`);
        await sleep(5);
      }
      res.end('done\n');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ n: session.data.n ?? 0, isNew: session.isNew }));
  });
  const served = await serve(countingListener(listener, counter));
  counters.push(counter);
  servers.push(served);
  return { store, served, counter, errors };
}

async function get(app: App, path: string, cookie?: string) {
  const started = performance.now();
  const res = await fetch(app.served.url + path, { headers: cookie ? { cookie } : {} });
  const body = await res.text();
  const set = res.headers.getSetCookie().find((l) => l.startsWith('sid='));
  return { status: res.status, body, ms: performance.now() - started, cookie: set?.split(';')[0] };
}

/** A logged-in-ish session: one /add, answers its cookie. */
async function startSession(app: App): Promise<string> {
  const first = await get(app, '/add');
  assert.equal(first.status, 200);
  assert.ok(first.cookie);
  return first.cookie;
}

/** After a fault: the fault is gone, and the same session works again with its data intact. */
async function recovers(app: App, cookie: string, expectedN: number) {
  app.store.faults = {};
  const next = await get(app, '/add', cookie);
  assert.equal(next.status, 200, 'the next request works');
  assert.equal(JSON.parse(next.body).n, expectedN + 1, 'the session survived the fault');
  assert.equal(app.counter.doubleEnds, 0, 'no response was ended twice');
  assert.equal(app.counter.responseErrors, 0);
}

afterEach(() => {
  for (const c of counters) assert.equal(c.doubleEnds, 0, 'a response was ended twice');
});

test('the double-end counter works (it can fail): a handler that ends twice is caught', async () => {
  const counter = newEndCounter();
  const sessions = createSessions({ store: new MemoryStore({ pruneInterval: 0 }) });
  const served = await serve(
    countingListener(
      sessions.wrap((_req, res) => {
        res.end('once');
        res.end('twice');
      }),
      counter,
    ),
  );
  servers.push(served);
  await (await fetch(served.url)).text();
  assert.equal(counter.doubleEnds, 1);
});

describe('8. faults: a store that fails', () => {
  // `set` stores a new session (the request has no cookie); `patch` saves a change to a known one.
  const cases: [StoreOp, Fault, string, number][] = [
    ['get', 'reject', '/add', 503],
    ['set', 'reject', '/add', 503],
    ['patch', 'reject', '/add', 503],
    ['delete', 'reject', '/destroy', 503],
    ['get', 'throw', '/add', 503],
    ['set', 'throw', '/add', 503],
    ['patch', 'throw', '/add', 503],
    ['delete', 'throw', '/destroy', 503],
    // A logout the store did not carry out never answers as one (no 200, no cleared cookie), and a
    // dropped promise of it crashes nothing (this file runs with --unhandled-rejections=strict).
    ['delete', 'reject', '/destroy-unawaited', 503],
    ['delete', 'throw', '/destroy-unawaited', 503],
    ['delete', 'reject', '/destroy-caught', 503],
  ];
  for (const [op, fault, path, status] of cases) {
    test(`${op} ${fault === 'throw' ? 'throws synchronously' : 'rejects'} on ${path}: ${status}, onError called once, the next request works`, async () => {
      const app = await faultApp();
      const cookie = await startSession(app);
      app.store.faults = { [op]: fault };
      const failed = await get(app, path, op === 'set' ? undefined : cookie);
      figure(`fault: store ${op} ${fault} on ${path} -> ${failed.status} in ${failed.ms.toFixed(0)} ms, onError ${app.errors.length}x`);
      assert.equal(failed.status, status);
      assert.equal(failed.cookie, undefined, 'no cookie goes out with an error page');
      assert.equal(app.errors.length, 1);
      assert.equal(app.errors[0]!.statusCode, status);
      await recovers(app, cookie, 1);
    });
  }
});

describe('8. faults: a store that hangs (storeTimeout: 200)', () => {
  for (const [op, path] of [
    ['get', '/add'],
    ['set', '/add'],
    ['patch', '/add'],
    ['delete', '/destroy'],
  ] as const) {
    test(`${op} never answers: 503 within 1 s, and the next request works`, async () => {
      const app = await faultApp({ storeTimeout: 200 });
      const cookie = await startSession(app);
      app.store.faults = { [op]: 'hang' };
      const failed = await get(app, path, op === 'set' ? undefined : cookie);
      figure(`fault: store ${op} hangs on ${path} -> ${failed.status} after ${failed.ms.toFixed(0)} ms (storeTimeout 200)`);
      assert.equal(failed.status, 503);
      assert.ok(failed.ms < 1000, `answered after ${failed.ms} ms`);
      assert.equal(app.errors.length, 1);
      await recovers(app, cookie, 1);
    });
  }

  test('20 requests at once on a hung store: all answered 503, none left hanging', async () => {
    const app = await faultApp({ storeTimeout: 200 });
    const cookie = await startSession(app);
    app.store.faults = { get: 'hang' };
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(app, '/add', cookie)));
    const ms = performance.now() - started;
    figure(`fault: 20 concurrent requests on a hung store -> ${answers.filter((a) => a.status === 503).length} x 503 in ${ms.toFixed(0)} ms`);
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([503]));
    assert.ok(ms < 1500);
    await recovers(app, cookie, 1);
  });
});

describe('8. faults: handlers and clients that misbehave', () => {
  test('a handler that rejects before the head: 500, and the next request works', async () => {
    const app = await faultApp();
    const cookie = await startSession(app);
    const failed = await get(app, '/reject', cookie);
    assert.equal(failed.status, 500);
    assert.equal(app.errors.length, 1);
    assert.equal(app.errors[0]!.statusCode, 500);
    await recovers(app, cookie, 1);
  });

  test('a handler that throws after the headers were sent: the response is cut, not ended twice, the server keeps serving', async () => {
    const app = await faultApp();
    const cookie = await startSession(app);
    const raw = await rawExchange(app.served.port, `GET /throw-after-head HTTP/1.1\r\nhost: x\r\ncookie: ${cookie}\r\n\r\n`);
    figure(`fault: handler throws after the head -> client got ${raw.length} bytes then the connection closed (no chunked terminator: ${!raw.includes('\r\n0\r\n\r\n')})`);
    assert.match(raw, /^HTTP\/1\.1 200 /);
    assert.match(raw, /partial/);
    assert.ok(!raw.includes('\r\n0\r\n\r\n'), 'the client can tell the body is incomplete');
    assert.equal(app.errors.length, 1);
    await sleep(20);
    assert.equal(app.counter.doubleEnds, 0);
    // The session change made before the failure may or may not be saved; the next request works either way.
    const next = await get(app, '/', cookie);
    assert.equal(next.status, 200);
  });

  test('a client that disconnects mid-stream: no crash, no double end, the session is released, the next request works', async () => {
    const app = await faultApp();
    const cookie = await startSession(app);
    for (let round = 0; round < 5; round++) {
      await new Promise<void>((resolve) => {
        const req = httpRequest(`${app.served.url}/stream`, { headers: { cookie } }, (res) => {
          res.once('data', () => {
            req.destroy(); // the visitor closed the tab
            resolve();
          });
        });
        req.on('error', () => {});
        req.end();
      });
    }
    await sleep(300); // the handlers finish writing into the closed responses
    assert.equal(app.counter.doubleEnds, 0);
    assert.equal(app.counter.responseErrors, 0);
    const next = await get(app, '/', cookie);
    assert.equal(next.status, 200);
    figure(`fault: 5 clients gone mid-stream -> ${app.errors.length} errors reported, ${app.counter.doubleEnds} double ends, next request ${next.status} (n=${JSON.parse(next.body).n})`);
  });

  test('a client that disconnects while the save is in flight: no crash, the save completes', async () => {
    const app = await faultApp({ storeTimeout: 2000 });
    const cookie = await startSession(app);
    app.store.faults = { set: 'slow' };
    app.store.maxDelay = 100;
    for (let i = 0; i < 5; i++) {
      const controller = new AbortController();
      const pending = fetch(`${app.served.url}/add`, { headers: { cookie }, signal: controller.signal }).catch(() => 'aborted');
      await sleep(20);
      controller.abort();
      await pending;
    }
    await sleep(200);
    app.store.faults = {};
    const next = await get(app, '/', cookie);
    assert.equal(next.status, 200);
    assert.equal(app.counter.doubleEnds, 0);
    figure(`fault: 5 clients gone during a slow save -> counter ${JSON.parse(next.body).n} (saves completed), ${app.counter.doubleEnds} double ends`);
  });

  test('an onError hook that throws: the visitor still gets an answer', async () => {
    const store = new FaultyStore(new MemoryStore({ pruneInterval: 0 }));
    const sessions = createSessions<Data>({
      store,
      onError: () => {
        throw new Error('onError hook is broken (test)');
      },
    });
    const served = await serve(sessions.wrap((_req, res) => void res.end('ok')));
    servers.push(served);
    store.faults = { get: 'reject' };
    const originalError = console.error;
    let logged = 0;
    console.error = () => void logged++;
    try {
      const res = await fetch(served.url, { headers: { cookie: `sid=${'A'.repeat(43)}` } });
      assert.equal(res.status, 503);
    } finally {
      console.error = originalError;
    }
    store.faults = {};
    assert.equal((await fetch(served.url)).status, 200);
    assert.ok(logged >= 1, 'the broken hook was reported');
  });
});

/** Sends raw bytes and answers what came back until the server closed or 2 s passed. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.on('error', () => {});
    socket.write(request);
  });
}
