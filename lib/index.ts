/**
 * plain-session: sessions for plain `node:http`, in the three classic techniques.
 *   - in memory:       MemoryStore (the default)
 *   - in a database:   SqliteStore, PostgresStore, RedisStore
 *   - in the cookie:   CookieStore
 * This file only re-exports; each concept lives in its own file, and each store in lib/stores/.
 */
export { createSessions, SessionManager } from './sessions.js';
export type { SessionHandler } from './sessions.js';
export { SessionError } from './options.js';
export type { SessionsOptions, SessionCookieOptions, AnyRequest, AnyResponse } from './options.js';
export { COOKIE_SIZE_LIMIT } from './session-cookie.js';
export { Session } from './session.js';
export type { Store, SessionRecord, SessionPatch, StoredData, SealingStore, AnyStore } from './store.js';
export { parseCookie, stringifySetCookie } from './cookie.js';
export type { Cookies, SetCookieOptions } from './cookie.js';
export { generateId, isWellFormedId, hashId } from './id.js';
export { MemoryStore } from './stores/memory.js';
export type { MemoryStoreOptions } from './stores/memory.js';
export { CookieStore } from './stores/cookie.js';
export type { CookieStoreOptions, CookieRejection } from './stores/cookie.js';
export { SqliteStore } from './stores/sqlite.js';
export type { SqliteStoreOptions, SqliteDatabase, SqliteStatement } from './stores/sqlite.js';
export { PostgresStore } from './stores/postgres.js';
export type { PostgresStoreOptions, PostgresClient } from './stores/postgres.js';
export { RedisStore } from './stores/redis.js';
export type { RedisStoreOptions, NodeRedisClient, NodeRedisCluster, IoRedisClient } from './stores/redis.js';
