/**
 * The database technique over real sockets, with real server processes (test/fixtures/shared-server.js,
 * started like the examples) and the real Redis and PostgreSQL of `.ci/services.sh`:
 *   - many processes, one session: four processes share one Redis (and one PostgreSQL), and a
 *     client alternating between them keeps one session; a login or logout on one is seen by all;
 *   - outage: the database stops mid-run, requests get 503 through onError, the processes stay up,
 *     and they serve again once it is back, without a restart of Node;
 *   - read-your-writes on every store: the request right after a login's redirect sees the login;
 *   - survives restart: sessions kept in SQLite and PostgreSQL outlive the server process.
 * Every child process is stopped after its tests, failed or not (and killed if this process exits).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient } from 'redis';
import { Client, type Reply } from './helpers.js';
import { runExample, type Running } from './example-runner.js';
import { runServiceCommand, serviceUrl, tablesDroppedAfter, uniqueName } from './services.js';

const SERVER = 'test/fixtures/shared-server.js';
const PROCESSES = 4;
const redisUrl = serviceUrl('REDIS_URL');
const databaseUrl = serviceUrl('DATABASE_URL');

// A safety net: whatever happens to this test process, no server it started outlives it.
const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')));

/** Starts `count` servers with `env`; if any fails to start, stops the others and throws. */
async function start(count: number, env: Record<string, string>): Promise<Running[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, () => runExample(SERVER, env)));
  const running = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  for (const server of running) children.add(server.child);
  const failure = started.find((result) => result.status === 'rejected');
  if (failure !== undefined) {
    await stop(running);
    throw failure.reason;
  }
  return running;
}

async function stop(servers: Running[]): Promise<void> {
  // A process killed by a signal has a signalCode and no exitCode; Running.stop() would wait for it.
  await Promise.all(servers.filter((server) => server.child.signalCode === null).map((server) => server.stop()));
  for (const server of servers) children.delete(server.child);
}

/** What the fixture answers: a session's state, or (from onError) the failure. */
interface Answer {
  count?: number;
  user?: string | null;
  isNew?: boolean;
  pid: number;
  onError?: string;
  status?: number;
}

/** One request from `client` (and its cookie jar) to `server`, bounded in time. */
function send(client: Client, server: Running, path: string, init: RequestInit = {}): Promise<Reply> {
  return client.request(server.url + path, { signal: AbortSignal.timeout(5000), ...init });
}

/** The fixture's JSON answer; plain-session's own answers (a failure after the handler ended) are text. */
async function get(client: Client, server: Running, path: string): Promise<Answer & { httpStatus: number; text: string }> {
  const reply = await send(client, server, path);
  const answer = reply.body.startsWith('{') ? (JSON.parse(reply.body) as Answer) : { pid: -1 };
  return { ...answer, httpStatus: reply.status, text: reply.body };
}

function post(client: Client, server: Running, path: string, fields: Record<string, string> = {}): Promise<Reply> {
  const body = new URLSearchParams(fields).toString();
  return send(client, server, path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
}

/** A client with no cookies (`new Client('')`: each request names its server's URL in full). */
const visitor = () => new Client('');

/** A client that presents the session cookie `sid`, as a thief or an old tab would. */
function holding(sid: string): Client {
  const client = visitor();
  client.jar.set('sid', sid);
  return client;
}

/** Tries `attempt` every 100 ms until it returns true, for at most `timeoutMs`. */
async function waitUntil(what: string, timeoutMs: number, attempt: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      if (await attempt()) return;
      last = 'not yet';
    } catch (error) {
      last = error;
    }
    await delay(100);
  }
  assert.fail(`${what} within ${timeoutMs} ms (last: ${String(last)})`);
}

/** Waits (bounded) until every server saves sessions again, after its database came back. */
function serviceResumes(servers: Running[]): Promise<void> {
  return waitUntil(`all ${servers.length} processes serve again`, 20_000, async () => {
    const answers = await Promise.all(servers.map((server) => get(visitor(), server, '/count')));
    return answers.every((answer) => answer.httpStatus === 200);
  });
}

function assertAlive(server: Running): void {
  assert.equal(server.child.exitCode, null, `server ${server.child.pid} exited:\n${server.output()}`);
  assert.doesNotThrow(() => process.kill(server.child.pid!, 0), 'the server process is gone');
}

/**
 * POST /login on one server, then follow the 303 on the next one (the same server if there is only
 * one): the login must already be visible there, because the response ends only after the save.
 */
async function assertReadYourWrites(servers: Running[], rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const client = visitor();
    await get(client, servers[i % servers.length]!, '/count'); // an existing session, regenerated on login
    const login = await post(client, servers[i % servers.length]!, '/login', { user: `user-${i}` });
    assert.equal(login.status, 303);
    const next = servers[(i + 1) % servers.length]!;
    const me = await get(client, next, login.headers.get('location')!);
    assert.equal(me.user, `user-${i}`, `round ${i}: the redirect after the login did not see it`);
    assert.equal(me.count, 1, `round ${i}: the session's data came along`);
  }
}

/** Many sessions, each with its own data, outlive the server process: after SIGTERM, and after SIGKILL. */
async function assertSurvivesRestart(env: Record<string, string>): Promise<void> {
  const clients = Array.from({ length: 5 }, visitor);
  let [server] = await start(1, env);
  try {
    for (const [k, client] of clients.entries()) {
      assert.equal((await post(client, server!, '/login', { user: `person-${k}` })).status, 303);
      for (let n = 0; n <= k; n++) await get(client, server!, '/count');
    }
    for (const how of ['SIGTERM', 'SIGKILL'] as const) {
      const pid = server!.child.pid;
      if (how === 'SIGTERM') {
        await stop([server!]);
        assert.equal(server!.child.exitCode, 0, 'a clean exit: the store and its client were closed');
      } else {
        const exited = new Promise((resolve) => server!.child.once('exit', resolve));
        server!.child.kill('SIGKILL'); // a crash: only what was saved before each response is kept
        await exited;
        children.delete(server!.child);
      }
      [server] = await start(1, env);
      assert.notEqual(server!.child.pid, pid);
      for (const [k, client] of clients.entries()) {
        const me = await get(client, server!, '/me');
        assert.deepEqual({ user: me.user, count: me.count, isNew: me.isNew }, { user: `person-${k}`, count: k + 1, isNew: false }, `after ${how}`);
      }
    }
  } finally {
    await stop([server!]);
  }
}

/** A shared database: how to point the servers at it, stop it and start it. */
interface Shared {
  name: 'Redis' | 'PostgreSQL';
  env: Record<string, string>;
  stopCommand: 'REDIS_STOP_CMD' | 'PG_STOP_CMD';
  startCommand: 'REDIS_START_CMD' | 'PG_START_CMD';
  /** Whether the database keeps its data over a stop and start (our Redis keeps nothing on disk). */
  durable: boolean;
}

function describeShared(shared: Shared): void {
  describe(`${PROCESSES} processes sharing one ${shared.name}`, () => {
    let servers: Running[] = [];
    before(async () => {
      servers = await start(PROCESSES, shared.env);
    });
    after(() => stop(servers));

    test('a client alternating between them keeps one session, and its counter counts every request', async () => {
      const client = visitor();
      const pids = new Set<number>();
      for (let i = 0; i < 3 * PROCESSES; i++) {
        const answer = await get(client, servers[i % PROCESSES]!, '/count');
        assert.equal(answer.count, i + 1, `request ${i + 1}, to process ${answer.pid}`);
        assert.equal(answer.isNew, i === 0);
        pids.add(answer.pid);
      }
      assert.equal(pids.size, PROCESSES, 'every process answered');
    });

    test('a login on one process is seen by all, and so is a logout', async () => {
      const client = visitor();
      await get(client, servers[0]!, '/count');
      await get(client, servers[1]!, '/count');
      const beforeLogin = client.jar.get('sid')!;
      assert.equal((await post(client, servers[1]!, '/login', { user: 'ada' })).status, 303);
      const loggedIn = client.jar.get('sid')!;
      assert.notEqual(loggedIn, beforeLogin, 'login regenerates the ID');
      for (const server of servers) {
        const me = await get(client, server, '/me');
        assert.deepEqual({ user: me.user, count: me.count, pid: me.pid }, { user: 'ada', count: 2, pid: server.child.pid });
        const old = await get(holding(beforeLogin), server, '/me');
        assert.deepEqual({ user: old.user, isNew: old.isNew }, { user: null, isNew: true }, 'the ID from before the login is dead everywhere');
      }

      const logout = await post(client, servers[2]!, '/logout');
      assert.equal(logout.status, 303);
      assert.equal(client.jar.has('sid'), false, 'logout expires the cookie');
      for (const server of servers) {
        const stale = holding(loggedIn);
        const me = await get(stale, server, '/me');
        assert.deepEqual({ user: me.user, isNew: me.isNew }, { user: null, isNew: true }, `process ${me.pid} still knows the logged-out session`);
        // A dead cookie is left alone: clearing it could delete the cookie a login in another tab
        // has just set. It costs one lookup a request until the browser drops it.
        assert.deepEqual([stale.jar.get('sid')], [loggedIn], 'and leaves the browser’s cookie alone');
      }
    });

    test('read-your-writes: the redirect after a login, sent to another process, sees the login', () =>
      assertReadYourWrites(servers, 2 * PROCESSES));

    const missing = [shared.stopCommand, shared.startCommand].filter((name) => !process.env[name]);
    const skip = missing.length > 0 && process.env.CI !== 'true' ? `${missing.join(', ')} not set; run \`source .ci/services.sh\`` : false;
    if (shared.name === 'Redis') {
      // writeHead(303, …).end() is how the examples and most apps redirect. The save starts at
      // writeHead; wrap() holds the head back until the first byte goes out, so a failing save can
      // still be answered with a 503 rather than a cut connection.
      test('Redis outage: a new visitor whose login answers with writeHead(303) gets 503 too', { skip }, async () => {
        runServiceCommand(shared.stopCommand);
        try {
          for (const server of servers) {
            const reply = await post(visitor(), server, '/login', { user: 'eve' }).catch((error: Error) => error);
            assertAlive(server);
            if (reply instanceof Error) assert.fail(`the connection was cut instead of answered: ${String(reply.cause ?? reply)}`);
            assert.equal(reply.status, 503);
          }
        } finally {
          runServiceCommand(shared.startCommand);
          await serviceResumes(servers);
        }
      });
    }

    test(`${shared.name} outage: 503 through onError, processes stay up, service resumes without a restart`, { skip }, async () => {
      const client = visitor();
      assert.equal((await get(client, servers[0]!, '/count')).count, 1);
      const pids = servers.map((server) => server.child.pid);

      runServiceCommand(shared.stopCommand);
      try {
        for (let round = 0; round < 3; round++) {
          for (const server of servers) {
            const known = await get(client, server, '/count'); // the load fails
            assert.equal(known.httpStatus, 503);
            assert.match(known.onError ?? '', /session store failed/, 'answered by onError');
            assert.equal(known.pid, server.child.pid);
            // No load, and the save fails once the handler has ended the response: onError is told,
            // and the visitor gets plain-session's own 503 in place of the handler's response.
            const told = () => server.output().split('onError 503: session store failed while saving').length;
            const before = told();
            const fresh = await get(visitor(), server, '/count');
            assert.deepEqual([fresh.httpStatus, fresh.text], [503, 'Service Unavailable']);
            for (let wait = 0; told() === before && wait < 50; wait++) await delay(20); // stderr comes on its own pipe
            assert.equal(told(), before + 1, 'onError was told');
            assert.equal((await get(visitor(), server, '/health')).httpStatus, 200);
            assertAlive(server);
          }
        }
      } finally {
        runServiceCommand(shared.startCommand); // even if an assertion failed: later tests need it
      }

      await serviceResumes(servers);
      assert.deepEqual(
        servers.map((server) => server.child.pid),
        pids,
        'the same processes, never restarted',
      );
      servers.forEach(assertAlive);

      // The session from before the outage: kept by PostgreSQL, lost with our disk-less Redis.
      for (const [i, server] of servers.entries()) {
        const answer = await get(client, server, '/count');
        assert.equal(answer.httpStatus, 200);
        assert.equal(answer.count, shared.durable ? i + 2 : i + 1);
      }
    });
  });
}

// --- Redis and PostgreSQL, each shared by four processes ------------------------------------------

if (redisUrl) {
  const prefix = `${uniqueName('dbhttp')}:`;
  after(async () => {
    const redis = createClient({ url: redisUrl });
    redis.on('error', () => {});
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(keys);
    await redis.close();
  });
  describeShared({
    name: 'Redis',
    env: { STORE: 'redis', REDIS_URL: redisUrl, SESSION_PREFIX: prefix },
    stopCommand: 'REDIS_STOP_CMD',
    startCommand: 'REDIS_START_CMD',
    durable: false,
  });
}

if (databaseUrl) {
  const tables = tablesDroppedAfter(databaseUrl);
  const postgres = (table: string) => (tables.push(table), { STORE: 'postgres', DATABASE_URL: databaseUrl, SESSION_TABLE: table });

  describeShared({
    name: 'PostgreSQL',
    env: postgres(uniqueName('dbhttp')),
    stopCommand: 'PG_STOP_CMD',
    startCommand: 'PG_START_CMD',
    durable: true,
  });

  test('PostgreSQL: every session survives a restart of the server, with its data', () =>
    assertSurvivesRestart(postgres(uniqueName('dbhttp_restart'))));
}

// --- One process on each local store ----------------------------------------------------------------

describe('SQLite (a file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plain-session-dbhttp-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('every session survives a restart of the server, with its data', () =>
    assertSurvivesRestart({ STORE: 'sqlite', SQLITE_FILE: join(dir, 'restart.sqlite') }));

  test('read-your-writes: the redirect after a login sees the login', async () => {
    const servers = await start(1, { STORE: 'sqlite', SQLITE_FILE: join(dir, 'ryw.sqlite') });
    try {
      await assertReadYourWrites(servers, 4);
    } finally {
      await stop(servers);
    }
  });
});

for (const [name, env] of [
  ['memory', { STORE: 'memory' }],
  ['cookie', { STORE: 'cookie', SESSION_SECRET: 'a test secret of at least thirty-two characters' }],
] as const) {
  test(`${name}: read-your-writes, the redirect after a login sees the login`, async () => {
    const servers = await start(1, env);
    try {
      await assertReadYourWrites(servers, 4);
    } finally {
      await stop(servers);
    }
  });
}
