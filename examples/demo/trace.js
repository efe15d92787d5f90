// The request trace the inspector shows: the same steps `NODE_DEBUG=plain-session` prints (cookie
// read, ID checked, session loaded or created, cookie set, saved), built from what this request
// actually did.
//
// Each line has words for people (`text`) and, where it matters, a `fact` for the program: what
// happened, as data. The inspector's explanations ("why was a cookie sent?") are derived from
// those facts (explain.js), never written separately, so the words and the trace cannot disagree.
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
 * 'cookie', 'check', 'load', 'handler', 'save' (and 'lab' for the attack lab's own steps).
 * `fact` is the same event as data, e.g. `{ kind: 'store', op: 'set' }`; `at` is when, on a clock
 * shared by every request of this process (for timelines of concurrent requests).
 */
export function note(step, text, fact) {
  current.getStore()?.push({ step, text, fact, at: performance.now() });
}

/** The facts of a trace with the given `kind`. */
export function factsOf(lines, kind) {
  return lines.filter((l) => l.fact?.kind === kind).map((l) => l.fact);
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
 * A record's data as JSON text. The store's record holds it either as one JSON string, or as an
 * object of top-level keys each holding the JSON text of its value (the per-key form a patching
 * store keeps); both read the same here.
 */
export function dataText(data) {
  if (typeof data === 'string') return data;
  if (data === null || typeof data !== 'object') return String(data);
  return `{${Object.entries(data).map(([key, json]) => `${JSON.stringify(key)}:${json}`).join(',')}}`;
}

/** A record's data as an object, or `{}` if it cannot be read. */
export function dataObject(data) {
  try {
    const value = JSON.parse(dataText(data));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

/** The cart in a record's data (or in a table's data column), as an array. */
export function cartOf(data) {
  let cart = dataObject(data).cart;
  if (typeof cart === 'string') {
    try {
      cart = JSON.parse(cart); // a table that keeps each key's value as JSON text
    } catch {}
  }
  return Array.isArray(cart) ? cart : [];
}

/**
 * A server-side store (Map or database) that notes each call. `where` says where the data lives;
 * `keyOf` turns an ID into the key the store files it under, when that is not the ID itself.
 * Optional methods are passed on only when the store has them, so the manager sees the same
 * abilities it would see on the bare store.
 */
export function watchStore(store, where, keyOf) {
  const as = (id) => (keyOf ? ` under key ${short(keyOf(id))}` : '');
  const wrapped = {
    async get(id) {
      const record = await store.get(id);
      note('load', record === undefined
        ? `store.get(${short(id)}): nothing ${where} under this ID (unknown, expired or destroyed)`
        : `store.get(${short(id)}): found ${where}`, { kind: 'store', op: 'get', id, found: record !== undefined });
      return record;
    },
    async set(id, record) {
      await store.set(id, record);
      const data = dataText(record.data);
      note('save', `store.set(${short(id)}): saved ${where}${as(id)}, data ${data}`, { kind: 'store', op: 'set', id, where, data });
    },
    async touch(id, expiresAt) {
      await store.touch(id, expiresAt);
      note('save', `store.touch(${short(id)}): expiry moved to ${clock(expiresAt)}, data not rewritten`, { kind: 'store', op: 'touch', id, where });
    },
    async delete(id) {
      const live = await store.delete(id);
      note('save', live === false
        ? `store.delete(${short(id)}): nothing live ${where} under this ID (logged out or expired already)`
        : `store.delete(${short(id)}): removed ${where}; the old ID is dead`, { kind: 'store', op: 'delete', id, where });
      return live;
    },
  };
  if (typeof store.patch === 'function') {
    // Stores that can change single keys of a record in place (update-only: a gone session stays gone).
    wrapped.patch = async (id, patch) => {
      const done = await store.patch(id, patch);
      const changes = [...Object.keys(patch.set ?? {}).map((k) => `set ${k}`), ...(patch.remove ?? []).map((k) => `remove ${k}`)];
      note('save', done
        ? `store.patch(${short(id)}): ${changes.length ? changes.join(', ') : 'expiry only'} ${where}${as(id)}; other keys left as they are`
        : `store.patch(${short(id)}): the session is gone ${where}, nothing written`, { kind: 'store', op: 'patch', id, where, done, keys: [...Object.keys(patch.set ?? {}), ...(patch.remove ?? [])] });
      return done;
    };
  }
  for (const name of ['idsOfUser', 'deleteUser', 'close']) {
    if (typeof store[name] === 'function') wrapped[name] = store[name].bind(store);
  }
  return wrapped;
}

/**
 * The cookie store (a SealingStore) that notes each seal and each opened seal. Every argument is
 * passed on as given (newer versions also pass the cookie's name, which the seal is bound to).
 */
export function watchSealer(store) {
  return {
    kind: 'cookie',
    seal(id, record, ...more) {
      const value = store.seal(id, record, ...more);
      const data = dataText(record.data);
      note('save', `sealed the session (${Buffer.byteLength(data)} bytes of data) into ${value.length} characters: encrypted and signed with AES-256-GCM; nothing is saved on the server`, { kind: 'seal', id });
      return value;
    },
    unseal(value, now, ...more) {
      const opened = store.unseal(value, now, ...more);
      // A refused seal is noted by the CookieStore's onReject hook, which knows the reason.
      if (opened !== undefined) note('load', `seal opened: made with our secret, not changed, not expired (session ${short(opened.id)})`, { kind: 'unsealed', id: opened.id });
      return opened;
    },
    close: typeof store.close === 'function' ? store.close.bind(store) : undefined,
  };
}

/** A time of day, for trace lines and the inspector. */
export function clock(ms) {
  return new Date(ms).toISOString().slice(11, 19) + ' UTC';
}
