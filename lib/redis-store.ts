/**
 * The database technique on Redis: sessions in an in-memory server that every process and machine
 * can reach, with expiry built in. Redis deletes a session by itself when its time is up, so this
 * store has no sweep timer.
 *
 * You create and connect the client and hand it over; this package depends on no driver. Both
 * common clients work, told apart by shape: node-redis v4+ (`createClient()`, raw commands through
 * `sendCommand`) and ioredis (`new Redis()`, through `call`). Needs Redis 7.0 or newer (PEXPIRETIME).
 * For an outage to fail requests quickly instead of queueing them until Redis is back, create the
 * client with `disableOfflineQueue: true` (node-redis) or `enableOfflineQueue: false` (ioredis), and
 * give the client an `error` listener: without one, a lost connection crashes the process. Both
 * clients reconnect by themselves, so the store serves again as soon as Redis is back.
 *
 * What is kept (https://redis.io/docs/latest/commands/set/):
 * - `<prefix><hashId(id)>`: the session, as JSON `{ data, createdAt, userId? }`, set with
 *   `PXAT expiresAt`. The key holds SHA-256 of the session ID, never the ID itself, so a leaked
 *   dump holds no cookie anyone could replay (OWASP Session Management Cheat Sheet). The expiry
 *   lives only in Redis's own TTL, so `touch` is a single PEXPIREAT that never rewrites the data.
 * - `<prefix>user:<hashId(userId)>`: a set of the hashed keys of that user's sessions, with no
 *   expiry of its own (a touch can extend a session without knowing its user). A member whose
 *   session has expired, or now belongs to someone else, is removed whenever the set is read:
 *   when it is listed, when the user is logged out everywhere, and when a session joins it.
 * Writes are last-writer-wins. Times are epoch milliseconds.
 */
import { hashId } from './id.js';
import type { SessionRecord, Store } from './store.js';

/** The part of a node-redis (v4 and later) client we use. */
export interface NodeRedisClient {
  sendCommand(args: string[]): Promise<unknown>;
}

/** The part of an ioredis client we use. */
export interface IoRedisClient {
  call(command: string, ...args: string[]): Promise<unknown>;
}

export interface RedisStoreOptions {
  /** Put before every key, so several apps can share one Redis. Default `sess:`. */
  prefix?: string;
}

type Command = (args: string[]) => Promise<unknown>;

/** The JSON kept under a session's key. */
interface StoredSession {
  data: string;
  createdAt: number;
  userId?: string;
}

export class RedisStore implements Store {
  readonly #command: Command;
  readonly #prefix: string;

  /** `client` stays yours: connect it before use and quit it after `sessions.close()`. */
  constructor(client: NodeRedisClient | IoRedisClient, options: RedisStoreOptions = {}) {
    const { prefix = 'sess:' } = options;
    this.#command = commandOf(client);
    if (typeof prefix !== 'string') {
      throw new TypeError(`RedisStore: option prefix must be a string, got ${typeof prefix}`);
    }
    this.#prefix = prefix;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const key = this.#prefix + hashId(id);
    // Sent together, so they cost one round trip. PEXPIRETIME answers -2 if the key vanished between.
    const [value, expiresAt] = await Promise.all([this.#command(['GET', key]), this.#command(['PEXPIRETIME', key])]);
    const stored = parseSession(value);
    const expiry = Number(expiresAt);
    // Redis deletes on time; the second check also holds a record dead by our own clock to its word.
    if (stored === undefined || !(expiry > Date.now())) return undefined;
    const record: SessionRecord = { data: stored.data, createdAt: stored.createdAt, expiresAt: expiry };
    if (stored.userId !== undefined) record.userId = stored.userId;
    return record;
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    const expiresAt = Math.floor(record.expiresAt);
    if (expiresAt <= Date.now()) return this.delete(id); // PXAT in the past is an error in Redis
    const hash = hashId(id);
    const stored: StoredSession = { data: record.data, createdAt: Math.floor(record.createdAt) };
    let joined = false;
    if (record.userId !== undefined) {
      stored.userId = record.userId;
      // Into the user's set first: if we fail between the two, the set has a member too many
      // (cleaned later), never a session missing, which "log out everywhere" would then miss.
      joined = Number(await this.#command(['SADD', this.#userKey(record.userId), hash])) === 1;
    }
    await this.#command(['SET', this.#prefix + hash, JSON.stringify(stored), 'PXAT', String(expiresAt)]);
    if (joined) await this.#liveMembers(record.userId!); // a login: a good moment to drop dead members
  }

  async touch(id: string, expiresAt: number): Promise<void> {
    // PEXPIREAT does nothing to a missing key, and deletes the key if the time is already past.
    await this.#command(['PEXPIREAT', this.#prefix + hashId(id), String(Math.floor(expiresAt))]);
  }

  async delete(id: string): Promise<void> {
    const hash = hashId(id);
    const stored = parseSession(await this.#command(['GETDEL', this.#prefix + hash]));
    if (stored?.userId !== undefined) await this.#command(['SREM', this.#userKey(stored.userId), hash]);
  }

  /**
   * The live sessions bound to `userId`, as their *hashed* keys: the IDs themselves are not kept.
   * The keys are opaque handles, good for counting or listing devices, not for use as cookies.
   */
  async idsOfUser(userId: string): Promise<string[]> {
    return this.#liveMembers(userId);
  }

  async deleteUser(userId: string): Promise<number> {
    const hashes = await this.#liveMembers(userId);
    if (hashes.length === 0) return 0;
    // One DEL per key rather than one for all, so this also works on Redis Cluster.
    const deleted = await Promise.all(hashes.map((hash) => this.#command(['DEL', this.#prefix + hash])));
    await this.#command(['SREM', this.#userKey(userId), ...hashes]);
    return deleted.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  /** Nothing to stop: Redis expires the keys. The client stays open: it is yours. */
  async close(): Promise<void> {}

  #userKey(userId: string): string {
    // Hashed, so any user ID (spaces, colons, megabytes) makes a short, well-formed key.
    return `${this.#prefix}user:${hashId(userId)}`;
  }

  /** The members of a user's set whose session is alive and still theirs; drops the others. */
  async #liveMembers(userId: string): Promise<string[]> {
    const userKey = this.#userKey(userId);
    const hashes = toStrings(await this.#command(['SMEMBERS', userKey]));
    const values = await Promise.all(hashes.map((hash) => this.#command(['GET', this.#prefix + hash])));
    const live: string[] = [];
    const dead: string[] = [];
    hashes.forEach((hash, i) => (parseSession(values[i])?.userId === userId ? live : dead).push(hash));
    if (dead.length > 0) await this.#command(['SREM', userKey, ...dead]);
    return live;
  }
}

/** How to send a raw command with this client, or a `TypeError` saying what is expected. */
function commandOf(client: NodeRedisClient | IoRedisClient): Command {
  // ioredis first: it also has a `sendCommand`, but one that takes a Command object.
  if (typeof (client as IoRedisClient | undefined)?.call === 'function') {
    const io = client as IoRedisClient;
    return (args) => io.call(args[0]!, ...args.slice(1));
  }
  if (typeof (client as NodeRedisClient | undefined)?.sendCommand === 'function') {
    const nodeRedis = client as NodeRedisClient;
    return (args) => nodeRedis.sendCommand(args);
  }
  throw new TypeError(
    "RedisStore: pass a connected client from node-redis (createClient() from 'redis') or ioredis (new Redis())",
  );
}

/** A stored session from a reply, or `undefined` for a missing key or a value not written by us. */
function parseSession(value: unknown): StoredSession | undefined {
  if (value === null || value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(value));
  } catch {
    return undefined;
  }
  const { data, createdAt, userId } = (parsed ?? {}) as Partial<StoredSession>;
  if (typeof data !== 'string' || typeof createdAt !== 'number') return undefined;
  if (userId !== undefined && typeof userId !== 'string') return undefined;
  return userId === undefined ? { data, createdAt } : { data, createdAt, userId };
}

/** An array reply as strings (RESP3 may give a set reply as any iterable). */
function toStrings(reply: unknown): string[] {
  if (reply === null || reply === undefined) return [];
  return Array.from(reply as Iterable<unknown>, String);
}
