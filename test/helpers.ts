/**
 * Test helpers: a real server on 127.0.0.1:0 and a small client with a cookie jar, so tests talk
 * HTTP over real sockets the way a browser would.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryStore } from '../lib/stores/memory.js';
import type { SessionPatch, SessionRecord, Store } from '../lib/store.js';
import { generateId, hashId } from '../lib/id.js';
import { RedisStore, type IoRedisClient, type NodeRedisClient, type NodeRedisCluster } from '../lib/stores/redis.js';

export interface Served {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts `listener` on an ephemeral loopback port. */
export async function serve(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<Served> {
  const server = createServer(listener as RequestListener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Reply {
  status: number;
  body: string;
  headers: Headers;
  setCookies: string[];
}

/** A client that keeps cookies like a browser: Set-Cookie stores, Max-Age=0 deletes. */
export class Client {
  readonly jar = new Map<string, string>();
  constructor(readonly base: string) {}

  get cookieHeader(): string {
    return [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async request(path: string, init: RequestInit = {}): Promise<Reply> {
    const headers = new Headers(init.headers);
    if (this.jar.size > 0 && !headers.has('cookie')) headers.set('cookie', this.cookieHeader);
    const res = await fetch(this.base + path, { redirect: 'manual', ...init, headers });
    const setCookies = res.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/;\s*max-age=0/i.test(line)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return { status: res.status, body: await res.text(), headers: res.headers, setCookies };
  }

  get(path: string): Promise<Reply> {
    return this.request(path);
  }
}

/** The value of `name` in a list of Set-Cookie lines. */
export function cookieValue(setCookies: string[], name: string): string | undefined {
  for (const line of setCookies) {
    const [pair = ''] = line.split(';');
    if (pair.startsWith(`${name}=`)) return pair.slice(name.length + 1);
  }
  return undefined;
}

/** A MemoryStore that counts calls and can be made slow or failing, for tests of the manager. */
export class InstrumentedStore implements Store {
  readonly inner = new MemoryStore({ pruneInterval: 0 });
  calls = { get: 0, set: 0, patch: 0, touch: 0, delete: 0 };
  delay = 0;
  fail: Partial<Record<'get' | 'set' | 'patch' | 'touch' | 'delete', Error>> = {};

  async #step(op: 'get' | 'set' | 'patch' | 'touch' | 'delete'): Promise<void> {
    this.calls[op]++;
    if (this.delay > 0) await new Promise((resolve) => setTimeout(resolve, this.delay));
    const error = this.fail[op];
    if (error) throw error;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    await this.#step('get');
    return this.inner.get(id);
  }
  async set(id: string, record: SessionRecord): Promise<void> {
    await this.#step('set');
    return this.inner.set(id, record);
  }
  async patch(id: string, patch: SessionPatch): Promise<boolean> {
    await this.#step('patch');
    return this.inner.patch(id, patch);
  }
  async touch(id: string, expiresAt: number): Promise<void> {
    await this.#step('touch');
    return this.inner.touch(id, expiresAt);
  }
  async delete(id: string): Promise<boolean | void> {
    await this.#step('delete');
    return this.inner.delete(id);
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}

type StoreMethod = 'get' | 'set' | 'patch' | 'touch' | 'delete';

/**
 * A call held by a `GatedStore`: `arrived` resolves (with the call's arguments) when the call comes
 * in; `release()` lets it through; `done` settles when the inner store has answered it.
 */
export interface HeldCall {
  arrived: Promise<unknown[]>;
  release(): void;
  done: Promise<void>;
}

/** A held call, and the three hooks its holder drives: `arrive` when it comes, `released` to wait on, `finish` when answered. */
function heldCall(): { held: HeldCall; arrive: (args: unknown[]) => void; released: Promise<void>; finish: () => void } {
  let arrive!: (args: unknown[]) => void;
  let release!: () => void;
  let finish!: () => void;
  const arrived = new Promise<unknown[]>((resolve) => (arrive = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const done = new Promise<void>((resolve) => (finish = resolve));
  return { held: { arrived, release, done }, arrive, released, finish };
}

/**
 * Any store, with calls a test can hold: `store.hold('patch')` makes the next `patch` wait, before
 * it reaches the store, until the test releases it. That is how a test forces an interleaving (a
 * save that lands after a logout, a reply that comes after the timeout) instead of hoping for one.
 * `withoutPatch` hides the inner store's `patch`, as a user's own simple store would lack it.
 */
export class GatedStore implements Store {
  readonly #holds: Partial<Record<StoreMethod, Array<{ arrive: (args: unknown[]) => void; released: Promise<void>; finish: () => void }>>> = {};
  /** Every ID `set` was called with, in order. */
  readonly setIds: string[] = [];
  patch?: (id: string, patch: SessionPatch) => Promise<boolean>;
  idsOfUser?: (userId: string) => Promise<string[]>;
  deleteUser?: (userId: string) => Promise<number>;

  constructor(readonly inner: Store, options: { withoutPatch?: boolean } = {}) {
    if (inner.patch && !options.withoutPatch) this.patch = (id, patch) => this.#call('patch', [id, patch], () => inner.patch!(id, patch));
    if (inner.idsOfUser) this.idsOfUser = (userId) => inner.idsOfUser!(userId);
    if (inner.deleteUser) this.deleteUser = (userId) => inner.deleteUser!(userId);
  }

  hold(method: StoreMethod): HeldCall {
    const { held, ...hooks } = heldCall();
    (this.#holds[method] ??= []).push(hooks);
    return held;
  }

  async #call<R>(method: StoreMethod, args: unknown[], call: () => Promise<R>): Promise<R> {
    const held = this.#holds[method]?.shift();
    if (held === undefined) return call();
    held.arrive(args);
    await held.released;
    try {
      return await call();
    } finally {
      setImmediate(held.finish); // after the caller has seen the answer
    }
  }

  get(id: string) {
    return this.#call('get', [id], () => this.inner.get(id));
  }
  set(id: string, record: SessionRecord) {
    this.setIds.push(id);
    return this.#call('set', [id, record], () => this.inner.set(id, record));
  }
  touch(id: string, expiresAt: number) {
    return this.#call('touch', [id, expiresAt], () => this.inner.touch(id, expiresAt));
  }
  delete(id: string) {
    return this.#call('delete', [id], () => this.inner.delete(id));
  }
  async close() {
    await this.inner.close?.();
  }
}

type AnyRedisClient = NodeRedisClient | NodeRedisCluster | IoRedisClient;

/**
 * A Redis client (node-redis, its cluster, or ioredis) of which the first command that `matches`
 * waits, before it is sent, until the test releases it. A `GatedStore` holds a whole store call;
 * this holds a RedisStore between two of its own commands (a login that has listed its session in
 * the user's set but not yet written the session), which is where a race with another process lands.
 */
export function holdRedisCommand<C extends AnyRedisClient>(client: C, matches: (args: readonly string[]) => boolean): { client: C; held: HeldCall } {
  const { held, arrive, released, finish } = heldCall();
  let armed = true;
  const gate = async (args: string[], send: () => Promise<unknown>): Promise<unknown> => {
    if (!armed || !matches(args)) return send();
    armed = false;
    arrive(args);
    await released;
    try {
      return await send();
    } finally {
      setImmediate(finish); // after the caller has seen the answer
    }
  };
  let gated: AnyRedisClient;
  // Told apart as RedisStore tells them apart: ioredis by `call`, a node-redis cluster by `masters`.
  if (typeof (client as IoRedisClient).call === 'function') {
    const io = client as IoRedisClient;
    gated = { call: (command: string, ...rest: string[]) => gate([command, ...rest], () => io.call(command, ...rest)) } satisfies IoRedisClient;
  } else if ('masters' in client) {
    const cluster = client as NodeRedisCluster;
    gated = {
      masters: cluster.masters,
      sendCommand: (key: string, readonly: boolean, args: string[]) => gate(args, () => cluster.sendCommand(key, readonly, args)),
    } satisfies NodeRedisCluster;
  } else {
    const node = client as NodeRedisClient;
    gated = { sendCommand: (args: string[]) => gate(args, () => node.sendCommand(args)) } satisfies NodeRedisClient;
  }
  return { client: gated as C, held };
}

/** Matches a RedisStore script (`EVAL` or `EVALSHA`) run on `key`, for `holdRedisCommand`. */
export const scriptOn = (key: string) => (args: readonly string[]) => (args[0] === 'EVAL' || args[0] === 'EVALSHA') && args[3] === key;

/**
 * A login racing "log out everywhere" on a RedisStore (`store`, on `client` under `prefix`): another
 * process's store lists the new session in the user's set, then its write of the session itself is
 * held in flight while `deleteUser` runs. The login must stay listed, so the next `deleteUser` ends it.
 */
export async function loginRacingDeleteUser(client: AnyRedisClient, store: RedisStore, prefix: string): Promise<void> {
  const record = (): SessionRecord => ({ data: {}, createdAt: Date.now(), expiresAt: Date.now() + 3_600_000, userId: 'alice' });
  await store.set(generateId(), record());
  const login = generateId();
  const { client: gated, held } = holdRedisCommand(client, scriptOn(prefix + hashId(login)));
  const loggingIn = new RedisStore(gated, { prefix }).set(login, record());
  await held.arrived;
  assert.equal(await store.deleteUser('alice'), 1, 'the session there before is ended');
  held.release();
  await loggingIn;
  assert.ok(await store.get(login), 'the login landed after the logout, and lives');
  assert.deepEqual(await store.idsOfUser('alice'), [hashId(login)], 'and it is listed');
  assert.equal(await store.deleteUser('alice'), 1);
  assert.equal(await store.get(login), undefined);
}

/**
 * Points in a handler where a test makes requests wait: `await gates.pass('A')` in the handler
 * stops request A there (the test sees `arrived('A')`) until the test calls `release('A')`.
 */
export class Gates {
  readonly #gates = new Map<string, { arrive: () => void; arrived: Promise<void>; release: () => void; released: Promise<void> }>();

  #gate(name: string) {
    let gate = this.#gates.get(name);
    if (gate === undefined) {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((resolve) => (arrive = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      this.#gates.set(name, (gate = { arrive, arrived, release, released }));
    }
    return gate;
  }

  pass(name: string): Promise<void> {
    const gate = this.#gate(name);
    gate.arrive();
    return gate.released;
  }

  arrived(name: string): Promise<void> {
    return this.#gate(name).arrived;
  }

  release(name: string): void {
    this.#gate(name).release();
  }
}

/** Runs an ES module script in a child process with NODE_DEBUG=plain-session, and answers what it traced (stderr). */
export async function traceOf(script: string): Promise<string> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_DEBUG: 'plain-session' } });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  return stderr;
}
