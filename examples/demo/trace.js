// The request trace the inspector shows: the same steps `NODE_DEBUG=plain-session` prints (cookie
// read, ID checked, session loaded or created, cookie set, saved), built from what this request
// actually did.
//
// The store calls are seen by wrapping each store: the wrapper writes a line, then passes the call
// on unchanged. To know *which* request a store call belongs to (the browser may send several at
// once), each request runs inside `AsyncLocalStorage`: every async step it starts, including the
// store calls the session manager makes for it, can find the request's own list of lines.
import { AsyncLocalStorage } from 'node:async_hooks';

const current = new AsyncLocalStorage();

/** Runs `fn` with a fresh, empty trace that `note` writes to. */
export function withTrace(fn) {
  return current.run([], fn);
}

/** The lines noted so far in this request. */
export function traceLines() {
  return current.getStore() ?? [];
}

/**
 * Adds a line to the current request's trace. `step` is one of the steps NODE_DEBUG prints:
 * 'cookie', 'check', 'load', 'handler', 'save'.
 */
export function note(step, text) {
  current.getStore()?.push({ step, text });
}

/**
 * An ID or sealed value, shortened: enough to tell two apart, too little to replay. A sealed value
 * starts with its format and key, the same for every cookie, so its end is shown too.
 */
export function short(value, keep = 8) {
  if (value.length > 64) return `${value.slice(0, 12)}…${value.slice(-6)}`;
  return value.length <= keep + 2 ? value : `${value.slice(0, keep)}…`;
}

/**
 * A server-side store (Map or database) that notes each call. `where` says where the data lives;
 * `keyOf` turns an ID into the key the store files it under, when that is not the ID itself.
 */
export function watchStore(store, where, keyOf) {
  const as = (id) => (keyOf ? ` under key ${short(keyOf(id))}` : '');
  const optional = (name) => (typeof store[name] === 'function' ? store[name].bind(store) : undefined);
  return {
    async get(id) {
      const record = await store.get(id);
      note('load', record === undefined
        ? `store.get(${short(id)}): nothing ${where} under this ID (unknown, expired or destroyed)`
        : `store.get(${short(id)}): found ${where}`);
      return record;
    },
    async set(id, record) {
      await store.set(id, record);
      note('save', `store.set(${short(id)}): saved ${where}${as(id)}, data ${dataText(record.data)}`);
    },
    async patch(id, patch) {
      const applied = await store.patch(id, patch);
      const changes = [...Object.entries(patch.set).map(([key, text]) => `${key} = ${text}`), ...patch.remove.map((key) => `${key} removed`)];
      note('save', applied
        ? `store.patch(${short(id)}): only what this request changed, ${changes.join(', ') || 'no key'}${patch.expiresAt === undefined ? '' : `; expiry moved to ${clock(patch.expiresAt)}`}`
        : `store.patch(${short(id)}): the session is gone ${where} (logged out or expired meanwhile); nothing written`);
      return applied;
    },
    async touch(id, expiresAt) {
      await store.touch(id, expiresAt);
      note('save', `store.touch(${short(id)}): expiry moved to ${clock(expiresAt)}, data not rewritten`);
    },
    async delete(id) {
      await store.delete(id);
      note('save', `store.delete(${short(id)}): removed ${where}; the old ID is dead`);
    },
    idsOfUser: optional('idsOfUser'),
    deleteUser: optional('deleteUser'),
    close: optional('close'),
  };
}

/** The cookie store (a SealingStore) that notes each seal and each opened seal. */
export function watchSealer(store) {
  return {
    kind: 'cookie',
    seal(id, record, cookieName) {
      const value = store.seal(id, record, cookieName);
      note('save', `sealed the session (${Buffer.byteLength(dataText(record.data))} bytes of data) into ${value.length} characters: encrypted and signed with AES-256-GCM; nothing is saved on the server`);
      return value;
    },
    unseal(value, now, cookieName) {
      const opened = store.unseal(value, now, cookieName);
      // A refused seal is noted by the CookieStore's onReject hook, which knows the reason.
      if (opened !== undefined) note('load', `seal opened: made with our secret, not changed, not expired (session ${short(opened.id)})`);
      return opened;
    },
    close: typeof store.close === 'function' ? store.close.bind(store) : undefined,
  };
}

/** A session's stored data (one JSON text per key) as one JSON object, for showing. */
export function dataText(texts) {
  return `{${Object.entries(texts).map(([key, text]) => `${JSON.stringify(key)}:${text}`).join(',')}}`;
}

/** A time of day, for trace lines and the inspector. */
export function clock(ms) {
  return new Date(ms).toISOString().slice(11, 19) + ' UTC';
}
