/**
 * plain-session: sessions for plain `node:http`, in the three classic techniques.
 *   - in memory:       MemoryStore (the default)
 *   - in a database:   SqliteStore, PostgresStore, RedisStore
 *   - in the cookie:   CookieStore
 * This file only re-exports; each concept lives in its own file.
 */
export { createSessions, SessionManager } from './sessions.js';
export type { SessionHandler } from './sessions.js';
export { SessionError } from './options.js';
export type { SessionsOptions, SessionCookieOptions, AnyRequest, AnyResponse } from './options.js';
export { COOKIE_SIZE_LIMIT } from './session-cookie.js';
export { Session } from './session.js';
export { MemoryStore } from './memory-store.js';
export { CookieStore } from './cookie-store.js';
export type { CookieStoreOptions, CookieRejection } from './cookie-store.js';
export type { MemoryStoreOptions } from './memory-store.js';
export type { Store, SessionRecord, SealingStore, AnyStore } from './store.js';
export { parseCookie, stringifySetCookie } from './cookie.js';
export type { Cookies, SetCookieOptions } from './cookie.js';
export { generateId, isWellFormedId, hashId } from './id.js';
export { SqliteStore } from './sqlite-store.js';
export type { SqliteStoreOptions, SqliteDatabase, SqliteStatement } from './sqlite-store.js';
export { PostgresStore } from './postgres-store.js';
export type { PostgresStoreOptions, PostgresClient } from './postgres-store.js';
export { RedisStore } from './redis-store.js';
export type { RedisStoreOptions, NodeRedisClient, IoRedisClient } from './redis-store.js';
