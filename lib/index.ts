/**
 * plain-session: sessions for plain `node:http`, in the three classic techniques.
 *   - in memory:       MemoryStore (the default)
 *   - in a database:   SqliteStore, PostgresStore, RedisStore
 *   - in the cookie:   CookieStore
 * This file only re-exports; each concept lives in its own file.
 */
export { createSessions, SessionManager, SessionError, COOKIE_SIZE_LIMIT } from './sessions.js';
export type { SessionsOptions, SessionCookieOptions, SessionHandler, AnyRequest, AnyResponse } from './sessions.js';
export { Session } from './session.js';
export { MemoryStore } from './memory-store.js';
export type { MemoryStoreOptions } from './memory-store.js';
export type { Store, SessionRecord, SealingStore, AnyStore } from './store.js';
export { parseCookie, stringifySetCookie } from './cookie.js';
export type { Cookies, SetCookieOptions } from './cookie.js';
export { generateId, isWellFormedId, hashId } from './id.js';
