/**
 * The database technique on Redis: sessions in an in-memory server that every process and machine
 * can reach, with expiry built in. Redis deletes a session by itself when its time is up, so this
 * store has no sweep timer.
 *
 * You create and connect the client and hand it over; this package depends on no driver. Both
 * common clients work, single node or cluster, told apart by shape: node-redis v4+ (`createClient()`
 * or `createCluster()`, raw commands through `sendCommand`) and ioredis (`new Redis()` or
 * `new Redis.Cluster()`, through `call`). Needs Redis 7.0 or newer. For an outage to fail requests
 * quickly instead of queueing them until Redis is back, create the client with
 * `disableOfflineQueue: true` (node-redis) or `enableOfflineQueue: false` (ioredis), and give the
 * client an `error` listener: without one, a lost connection crashes the process. Both clients
 * reconnect by themselves, so the store serves again as soon as Redis is back.
 *
 * What is kept (all keys start with the prefix, `sess:` by default):
 * - `<prefix><hashId(id)>`: the session, a hash. Field `d:<key>` holds the JSON text of
 *   `session.data[key]` (a key that has no UTF-8 form is written in its JSON form, see
 *   `storableKey` in lib/data.ts); `m:created`, `m:expires` and `m:user` hold the rest. The key holds SHA-256
 *   of the session ID, never the ID itself, so a leaked dump holds no cookie anyone could replay
 *   (OWASP Session Management Cheat Sheet). The key expires at `m:expires` (`PEXPIREAT`), so Redis
 *   removes dead sessions itself, and a read is one `HGETALL`.
 * - `<prefix>user:<hashId(userId)>`: the sessions of a user, a sorted set of their hashed keys
 *   scored by expiry. It expires with the latest of them, and members whose time has passed are
 *   dropped whenever a session joins, so every key in Redis expires.
 *
 * Writes are small Lua scripts, each on one key, so each runs atomically: a patch sets and deletes
 * hash fields only if the session is still alive (update-only), so two processes changing
 * different keys of one session both keep their change, and a logged-out session never comes back.
 *
 * Redis Cluster: a key's slot comes from its whole name (there are no `{hash tags}`), so sessions
 * and users spread over the nodes. No command and no script touches two keys, so none needs two
 * slots: a session and its user's set are written by separate commands, the session first when it
 * changes and the set first when a session joins it, so that "log out everywhere" never misses a
 * session that was listed; and it unlists only the sessions it deleted, so that a login it raced
 * stays listed for the next one.
 */
import { createHash } from 'node:crypto';
import { checkKeys } from '../check-options.js';
import { emptyTexts, keyFromStorable, storableKey } from '../data.js';
import { hashId } from '../id.js';
import type { SessionPatch, SessionRecord, Store } from '../store.js';

/** The part of a node-redis (v4 and later) client we use. */
export interface NodeRedisClient {
  sendCommand(args: string[]): Promise<unknown>;
}

/** The part of a node-redis cluster (`createCluster()`) we use: commands are routed by their first key. */
export interface NodeRedisCluster {
  sendCommand(firstKey: string, isReadonly: boolean, args: string[]): Promise<unknown>;
  readonly masters: unknown;
}

/** The part of an ioredis client or cluster we use. */
export interface IoRedisClient {
  call(command: string, ...args: string[]): Promise<unknown>;
}

export interface RedisStoreOptions {
  /** Put before every key, so several apps can share one Redis. Default `sess:`. */
  prefix?: string;
}

/** Sends one command whose (only) key is `key`. */
type Command = (key: string, args: string[]) => Promise<unknown>;

// The scripts. KEYS[1] is always the one key they touch. Times are epoch milliseconds, as strings.

/** Replaces a session: ARGV = expiresAt, then field/value pairs. */
const SET = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
`;

/**
 * Patches a live session: ARGV = now, expiresAt or '', n, n field/value pairs (the changed data,
 * and `m:expires` and `m:user` when they change), then the fields to delete. Answers nil when the
 * session is gone, else { expires, user } as they were. Two calls into Redis in the common case.
 */
const PATCH = `
local was = redis.call('HMGET', KEYS[1], 'm:expires', 'm:user')
if not was[1] or tonumber(was[1]) <= tonumber(ARGV[1]) then return false end
local n = tonumber(ARGV[3])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 4, 3 + 2 * n)) end
if #ARGV > 3 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 4 + 2 * n)) end
if ARGV[2] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return { was[1], was[2] or '' }
`;

/** Moves a live session's expiry: ARGV = now, expiresAt. Answers nil when gone, else the user ('' for none). */
const TOUCH = `
local was = redis.call('HMGET', KEYS[1], 'm:expires', 'm:user')
if not was[1] or tonumber(was[1]) <= tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], 'm:expires', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return was[2] or ''
`;

/**
 * Lists a session in its user's set: ARGV = member, expiresAt, now. The score only grows (GT), the
 * members whose time has passed go, and the set lives as long as its longest-lived member.
 */
const LIST = `
if redis.call('TYPE', KEYS[1]).ok == 'set' then redis.call('DEL', KEYS[1]) end -- an index of plain-session 0.1
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
`;

/** Deletes a session if it is still the user's: ARGV = userId. Answers 1 if it deleted. */
const DELETE_IF_OWNED = `
if redis.call('HGET', KEYS[1], 'm:user') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export class RedisStore implements Store {
  readonly #command: Command;
  readonly #prefix: string;
  readonly #scripts = new Map<string, string>(); // script → its SHA1, once Redis knows it

  /** `client` stays yours: connect it before use and quit it after `sessions.close()`. */
  constructor(client: NodeRedisClient | NodeRedisCluster | IoRedisClient, options: RedisStoreOptions = {}) {
    checkKeys(options, ['prefix'], 'RedisStore');
    const { prefix = 'sess:' } = options;
    this.#command = commandOf(client);
    if (typeof prefix !== 'string') {
      throw new TypeError(`RedisStore: option prefix must be a string, got ${typeof prefix}`);
    }
    this.#prefix = prefix;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const key = this.#key(id);
    const data = emptyTexts();
    let createdAt = NaN;
    let expiresAt = NaN;
    let userId: string | undefined;
    forEachField(await this.#read(key, ['HGETALL', key]), (field, value) => {
      if (field.startsWith('d:')) data[keyFromStorable(field.slice(2))] = value;
      else if (field === 'm:created') createdAt = Number(value);
      else if (field === 'm:expires') expiresAt = Number(value);
      else if (field === 'm:user') userId = value;
    });
    // Redis deletes on time; the clock check also holds a record dead by our own clock to its word.
    if (!(expiresAt > Date.now()) || Number.isNaN(createdAt)) return undefined;
    const record: SessionRecord = { data, createdAt, expiresAt };
    if (userId !== undefined) record.userId = userId;
    return record;
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    const expiresAt = String(Math.floor(record.expiresAt));
    if (record.expiresAt <= Date.now()) {
      await this.delete(id); // PEXPIREAT in the past would only delete it
      return;
    }
    const hash = hashId(id);
    const fields = ['m:created', String(Math.floor(record.createdAt)), 'm:expires', expiresAt];
    if (record.userId !== undefined) {
      fields.push('m:user', record.userId);
      // Listed before it exists: if we fail between the two, the set has a member too many (it goes
      // when it expires), never a session missing, which "log out everywhere" would then miss.
      await this.#list(record.userId, hash, expiresAt);
    }
    for (const key in record.data) fields.push(`d:${storableKey(key)}`, record.data[key]!);
    await this.#script(SET, this.#prefix + hash, [expiresAt, ...fields]);
  }

  async patch(id: string, patch: SessionPatch): Promise<boolean> {
    const hash = hashId(id);
    const at = patch.expiresAt === undefined ? '' : String(Math.floor(patch.expiresAt));
    const args = [String(Date.now()), at, ''];
    for (const key in patch.set) args.push(`d:${storableKey(key)}`, patch.set[key]!);
    if (at !== '') args.push('m:expires', at);
    if (patch.userId !== undefined) args.push('m:user', patch.userId);
    args[2] = String((args.length - 3) / 2);
    for (const key of patch.remove) args.push(`d:${storableKey(key)}`);
    // A session joining a user is listed first, as in set(): if we fail between the two, the set
    // has a member too many (it goes when it expires), never a session missing.
    const listedFirst = patch.userId !== undefined && at !== '';
    if (listedFirst) await this.#list(patch.userId!, hash, at);
    const reply = await this.#script(PATCH, this.#prefix + hash, args);
    if (reply === null || reply === undefined) return false;
    const [wasExpires, oldUser] = toStrings(reply);
    const user = patch.userId ?? oldUser;
    // The user's set follows the session: it joins on a bind, and its score follows the expiry.
    // This is the one patch that takes a second command: the set is another key, in a cluster on
    // another node, and no script may touch two (see the top of this file).
    if (user && !listedFirst && (user !== oldUser || at !== '')) await this.#list(user, hash, at || wasExpires!);
    if (oldUser && oldUser !== user) await this.#command(this.#userKey(oldUser), ['ZREM', this.#userKey(oldUser), hash]);
    return true;
  }

  async touch(id: string, expiresAt: number): Promise<void> {
    const hash = hashId(id);
    const at = String(Math.floor(expiresAt));
    const user = await this.#script(TOUCH, this.#prefix + hash, [String(Date.now()), at]);
    if (typeof user === 'string' && user !== '') await this.#list(user, hash, at);
  }

  async delete(id: string): Promise<boolean> {
    // The user's set keeps the member until it expires; listing checks that each member still exists.
    // Redis expires the key at the session's expiry, so a key that was there was a live session.
    const key = this.#key(id);
    return Number(await this.#command(key, ['DEL', key])) > 0;
  }

  /**
   * The live sessions bound to `userId`, as their *hashed* keys: the IDs themselves are not kept.
   * The keys are opaque handles, good for counting or listing devices, not for use as cookies.
   */
  async idsOfUser(userId: string): Promise<string[]> {
    const now = Date.now();
    const userKey = this.#userKey(userId);
    const hashes = toStrings(await this.#read(userKey, ['ZRANGE', userKey, `(${now}`, '+inf', 'BYSCORE']));
    // One command per session: each may live on another node of a cluster.
    const owners = await Promise.all(hashes.map((hash) => this.#command(this.#prefix + hash, ['HMGET', this.#prefix + hash, 'm:user', 'm:expires'])));
    return hashes.filter((_, i) => {
      const [owner, expires] = toStrings(owners[i]);
      return owner === userId && Number(expires) > now;
    });
  }

  async deleteUser(userId: string): Promise<number> {
    const userKey = this.#userKey(userId);
    const hashes = toStrings(await this.#read(userKey, ['ZRANGE', userKey, '0', '-1']));
    if (hashes.length === 0) return 0;
    // Only sessions still bound to this user go: one bound to someone else since is left alone.
    const deleted = await Promise.all(hashes.map((hash) => this.#script(DELETE_IF_OWNED, this.#prefix + hash, [userId])));
    // Only the members deleted leave the set. One whose session is not there yet may be a login in
    // flight, which set() lists before it writes the session: dropping it would leave that session
    // live, bound to this user and listed nowhere, out of reach of every later deleteUser. The other
    // members (deleted, expired, or bound to someone else since) go once their score, the expiry
    // they were listed with, has passed: LIST drops them, and the set expires with its latest one.
    const gone = hashes.filter((_, i) => Number(deleted[i]) === 1);
    if (gone.length > 0) await this.#command(userKey, ['ZREM', userKey, ...gone]);
    return gone.length;
  }

  /** Nothing to stop: Redis expires the keys. The client stays open: it is yours. */
  async close(): Promise<void> {}

  #key(id: string): string {
    return this.#prefix + hashId(id);
  }

  #userKey(userId: string): string {
    // Hashed, so any user ID (spaces, colons, megabytes) makes a short, well-formed key.
    return `${this.#prefix}user:${hashId(userId)}`;
  }

  /**
   * A read that answers nothing for a key of another type: what plain-session 0.1 wrote (a session
   * as a string, a user's sessions as a set) reads as no session, and such keys expire by themselves.
   */
  async #read(key: string, args: string[]): Promise<unknown> {
    try {
      return await this.#command(key, args);
    } catch (error) {
      if (String((error as Error)?.message).startsWith('WRONGTYPE')) return undefined;
      throw error;
    }
  }

  async #list(userId: string, hash: string, expiresAt: string): Promise<void> {
    await this.#script(LIST, this.#userKey(userId), [hash, expiresAt, String(Date.now())]);
  }

  /** Runs a script by its SHA1 (`EVALSHA`), sending its text only when Redis (or a cluster node) does not know it yet. */
  async #script(script: string, key: string, args: string[]): Promise<unknown> {
    const sha = this.#scripts.get(script);
    if (sha !== undefined) {
      try {
        return await this.#command(key, ['EVALSHA', sha, '1', key, ...args]);
      } catch (error) {
        if (!String((error as Error)?.message).includes('NOSCRIPT')) throw error;
      }
    }
    const reply = await this.#command(key, ['EVAL', script, '1', key, ...args]);
    if (sha === undefined) this.#scripts.set(script, sha1(script));
    return reply;
  }
}

/** How to send a raw command with this client, or a `TypeError` saying what is expected. */
function commandOf(client: NodeRedisClient | NodeRedisCluster | IoRedisClient): Command {
  // ioredis first: it also has a `sendCommand`, but one that takes a Command object.
  if (typeof (client as IoRedisClient | undefined)?.call === 'function') {
    const io = client as IoRedisClient;
    return (_key, args) => io.call(args[0]!, ...args.slice(1));
  }
  if (typeof (client as NodeRedisClient | undefined)?.sendCommand === 'function') {
    if ('masters' in client) {
      const cluster = client as NodeRedisCluster;
      return (key, args) => cluster.sendCommand(key, false, args);
    }
    const nodeRedis = client as NodeRedisClient;
    return (_key, args) => nodeRedis.sendCommand(args);
  }
  throw new TypeError(
    "RedisStore: pass a connected client from node-redis (createClient() or createCluster() from 'redis') or ioredis (new Redis() or new Redis.Cluster())",
  );
}

/**
 * Calls `visit` for each field of a hash reply, whatever shape the client gave it: a flat array
 * (RESP2), a Map, or an object (RESP3, as node-redis 6 decodes it by default).
 */
function forEachField(reply: unknown, visit: (field: string, value: string) => void): void {
  if (reply === null || reply === undefined) return;
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) visit(String(reply[i]), String(reply[i + 1]));
  } else if (reply instanceof Map) {
    for (const [field, value] of reply) visit(String(field), String(value));
  } else {
    const object = reply as Record<string, unknown>;
    for (const field in object) visit(field, String(object[field]));
  }
}

/** An array reply as strings (nil elements as ''). */
function toStrings(reply: unknown): string[] {
  if (reply === null || reply === undefined) return [];
  return Array.from(reply as Iterable<unknown>, (value) => (value === null || value === undefined ? '' : String(value)));
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}
