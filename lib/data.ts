/**
 * How `session.data` travels between a request and the store: one JSON text per top-level key.
 *
 * Each request gets its own copy of the data, made by parsing the stored texts, so nothing a
 * handler does to its copy can reach another request. At the end, each key is serialized again and
 * compared with the text it was loaded from: only the keys whose text differs are written, and the
 * keys that disappeared are removed. That comparison is all the change tracking there is, so
 * `session.data.cart.push(item)` counts as a change of `cart` without any proxy or `save()` call.
 *
 * The unit of a change is the top-level key: two requests that change different keys both keep
 * their change; two that change the same key keep the later one. Keep independent pieces of state
 * under their own keys (`cart`, `theme`), not inside one object.
 */
import type { SessionPatch, StoredData } from './store.js';

// A record without a prototype, so a key named `__proto__` or `toString` is just a key. Made by a
// constructor rather than `Object.create(null)`, which V8 keeps in slow dictionary mode.
const NullObject = function () {} as unknown as new () => StoredData;
NullObject.prototype = Object.create(null);

/** An empty record of texts by key. */
export function emptyTexts(): StoredData {
  return new NullObject();
}

/** A copy of texts (the texts are strings, so a shallow copy is a whole one). */
export function copyTexts(texts: StoredData): StoredData {
  const copy = new NullObject();
  for (const key in texts) copy[key] = texts[key]!;
  return copy;
}

/**
 * The handler's copy of stored data: each text parsed anew. Answers `undefined` when a text is not
 * JSON (a corrupt or foreign record), so that the caller can treat the session as unknown.
 */
export function decodeData(texts: StoredData): Record<string, unknown> | undefined {
  const data: Record<string, unknown> = {};
  for (const key in texts) {
    let value: unknown;
    try {
      value = JSON.parse(texts[key]!);
    } catch {
      return undefined;
    }
    // `data.__proto__ = v` would set the object's prototype instead of a key; JSON.parse would
    // have made an own key, so do the same.
    if (key === '__proto__') Object.defineProperty(data, key, { value, enumerable: true, writable: true, configurable: true });
    else data[key] = value;
  }
  return data;
}

/** The texts of a whole data object (a new session, or one saved anew under a fresh ID). */
export function encodeData(data: Record<string, unknown>): StoredData {
  const texts = emptyTexts();
  for (const key of Object.keys(data)) {
    const text = JSON.stringify(data[key]); // throws a TypeError for a BigInt or a cycle: a bug to report
    if (text !== undefined) texts[key] = text; // undefined, functions and symbols are left out, as JSON.stringify does
  }
  return texts;
}

/**
 * What changed between the texts a request loaded and its data now: the keys to set and to remove,
 * and the texts after the change. `undefined` when nothing changed.
 */
export function diffData(base: StoredData, data: Record<string, unknown>): { set: StoredData; remove: string[]; texts: StoredData } | undefined {
  return diffTexts(base, encodeData(data));
}

/** The same as `diffData`, for data already encoded as `texts`. */
export function diffTexts(base: StoredData, texts: StoredData): { set: StoredData; remove: string[]; texts: StoredData } | undefined {
  let set: StoredData | undefined;
  for (const key in texts) {
    if (texts[key] !== base[key]) (set ??= emptyTexts())[key] = texts[key]!;
  }
  let remove: string[] | undefined;
  for (const key in base) {
    if (!(key in texts)) (remove ??= []).push(key);
  }
  if (set === undefined && remove === undefined) return undefined;
  return { set: set ?? emptyTexts(), remove: remove ?? [], texts };
}

/** Whether a handler put anything worth keeping into the data (checked cheaply, without serializing). */
export function hasContent(data: Record<string, unknown>): boolean {
  for (const key in data) if (data[key] !== undefined) return true;
  return false;
}

/** Applies a patch to texts, for stores that keep texts in memory (and the manager's fallback). */
export function applyPatch(texts: StoredData, patch: SessionPatch): StoredData {
  const next = copyTexts(texts);
  for (const key in patch.set) next[key] = patch.set[key]!;
  for (const key of patch.remove) delete next[key];
  return next;
}

/** One JSON object from texts, without parsing them: `{"cart":["apple"]}`. For stores that want a single value. */
export function joinTexts(texts: StoredData): string {
  let json = '{';
  for (const key in texts) json += (json.length > 1 ? ',' : '') + JSON.stringify(key) + ':' + texts[key];
  return json + '}';
}

/** The texts of a JSON object's keys, or `undefined` if `json` is not an object. The inverse of `joinTexts`. */
export function splitJson(json: string): StoredData | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  return encodeData(parsed as Record<string, unknown>);
}

// A key is any JavaScript string, but UTF-8 databases cannot hold all of them: a lone surrogate has
// no UTF-8 form, and PostgreSQL refuses NUL. Stores that keep keys as database strings (PostgreSQL's
// jsonb, Redis's hash fields) write such a key in its JSON form behind a mark, which is pure
// printable text; a key that happens to begin with the mark is marked too, so reading is exact.
const KEY_MARK = '\u0001';
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A key as a database can store it (see above); `keyFromStorable` is the inverse. */
export function storableKey(key: string): string {
  return key.startsWith(KEY_MARK) || key.includes('\u0000') || LONE_SURROGATE.test(key) ? KEY_MARK + JSON.stringify(key) : key;
}

export function keyFromStorable(key: string): string {
  return key.startsWith(KEY_MARK) ? (JSON.parse(key.slice(1)) as string) : key;
}

/** Texts with their keys made storable. */
export function storableTexts(texts: StoredData): StoredData {
  const out = emptyTexts();
  for (const key in texts) out[storableKey(key)] = texts[key]!;
  return out;
}
