/**
 * One session, many processes: real server processes (test/fixtures/shared-server.js) on one
 * PostgreSQL, one Redis and one SQLite file, the way several Node processes behind a load balancer
 * share a store. Each process writes keys of its own into one session at the same moment, round
 * after round, and none may be lost; a logout in one process while another is still in the middle
 * of a request of that session keeps the session logged out.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient } from 'redis';
import { figure } from './adversarial-helpers.js';
import { runExample, type Running } from './example-runner.js';
import { Client, type Reply } from './helpers.js';
import { serviceUrl, tablesDroppedAfter, uniqueName } from './services.js';

const SERVER = 'test/fixtures/shared-server.js';
const PROCESSES = 4;
const ROUNDS = 25;

const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')));

async function start(env: Record<string, string>): Promise<Running[]> {
  const started = await Promise.allSettled(Array.from({ length: PROCESSES }, () => runExample(SERVER, env)));
  const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  for (const server of servers) children.add(server.child);
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await stop(servers); // or they would keep this file's process, and the whole run, waiting
    throw failed.reason;
  }
  return servers;
}

async function stop(servers: Running[]): Promise<void> {
  await Promise.all(servers.map((server) => server.stop()));
  for (const server of servers) children.delete(server.child);
}

function send(client: Client, server: Running, path: string, init: RequestInit = {}): Promise<Reply> {
  return client.request(server.url + path, { signal: AbortSignal.timeout(10_000), ...init });
}

const json = (reply: Reply) => JSON.parse(reply.body) as { keys?: string[]; isNew: boolean; user?: string | null; pid: number };

function post(client: Client, server: Running, path: string, fields: Record<string, string> = {}): Promise<Reply> {
  return send(client, server, path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
}

/** A client holding a copy of `client`'s cookies. */
function copyOf(client: Client): Client {
  const copy = new Client('');
  for (const [name, value] of client.jar) copy.jar.set(name, value);
  return copy;
}

function describeShared(name: string, env: () => Record<string, string>): void {
  describe(`${PROCESSES} processes on one ${name}`, () => {
    test(`each writes its own keys into one session, at the same moment, ${ROUNDS} rounds: none is lost`, async () => {
      const servers = await start(env());
      try {
        const client = new Client('');
        await send(client, servers[0]!, '/put?key=start');
        for (let round = 0; round < ROUNDS; round++) {
          const replies = await Promise.all(servers.map((server, i) => send(copyOf(client), server, `/put?key=p${i}r${round}`)));
          assert.deepEqual(replies.map((reply) => reply.status), servers.map(() => 200));
        }
        const keys = new Set(json(await send(client, servers[0]!, '/put?key=end')).keys);
        const written = servers.flatMap((_, i) => Array.from({ length: ROUNDS }, (_, round) => `p${i}r${round}`));
        const lost = written.filter((key) => !keys.has(key));
        figure(`processes (${name}): ${PROCESSES} processes x ${ROUNDS} rounds, ${written.length} keys written concurrently into one session, ${lost.length} lost`);
        assert.deepEqual(lost, []);
      } finally {
        await stop(servers);
      }
    });

    test('a logout in one process while another is in the middle of a request: the session stays gone', async () => {
      const servers = await start(env());
      try {
        const client = new Client('');
        assert.equal((await post(client, servers[0]!, '/login', { user: 'ada' })).status, 303);
        const slow = send(copyOf(client), servers[1]!, '/hold?ms=400&key=late'); // loaded, then busy for 400 ms
        await delay(150);
        const stale = copyOf(client);
        assert.equal((await post(client, servers[2]!, '/logout')).status, 303);
        const held = await slow;
        assert.equal(held.status, 200);
        assert.deepEqual(held.setCookies, [], 'the slow request sets no cookie, nor clears one');
        for (const server of servers) {
          const me = json(await send(copyOf(stale), server, '/me'));
          assert.deepEqual({ isNew: me.isNew, user: me.user }, { isNew: true, user: null }, `process ${me.pid} sees no session`);
        }
      } finally {
        await stop(servers);
      }
    });
  });
}

const redisUrl = serviceUrl('REDIS_URL');
if (redisUrl) {
  const prefixes: string[] = [];
  after(async () => {
    const redis = createClient({ url: redisUrl });
    redis.on('error', () => {});
    await redis.connect();
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(keys);
    }
    await redis.close();
  });
  describeShared('Redis', () => {
    const prefix = `${uniqueName('procs')}:`;
    prefixes.push(prefix);
    return { STORE: 'redis', REDIS_URL: redisUrl, SESSION_PREFIX: prefix };
  });
}

const clusterUrls = serviceUrl('REDIS_CLUSTER_URLS');
if (clusterUrls && redisUrl) {
  describeShared('Redis Cluster', () => {
    const prefix = `${uniqueName('procs')}:`; // the cluster's keys are deleted with the cluster
    return { STORE: 'redis-cluster', REDIS_CLUSTER_URLS: clusterUrls, SESSION_PREFIX: prefix };
  });
}

const databaseUrl = serviceUrl('DATABASE_URL');
if (databaseUrl) {
  const tables = tablesDroppedAfter(databaseUrl);
  describeShared('PostgreSQL', () => {
    const table = uniqueName('procs');
    tables.push(table);
    return { STORE: 'postgres', DATABASE_URL: databaseUrl, SESSION_TABLE: table };
  });
}

const dir = mkdtempSync(join(tmpdir(), 'plain-session-procs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
describeShared('SQLite file', () => ({ STORE: 'sqlite', SQLITE_FILE: join(dir, `${uniqueName('procs')}.sqlite`) }));
