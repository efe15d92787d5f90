/**
 * The in-memory technique: session data in a `Map` on the server, keyed by the session ID.
 *
 * It is the fastest store and needs nothing installed, but sessions live only as long as the
 * process: a restart logs everybody out, and two processes do not share sessions. Use a database
 * store for that.
 *
 * A `Map` of sessions grows forever unless expired entries are removed (express-session's
 * MemoryStore never does). This one prunes on a timer, and a prune costs in proportion to the
 * number of *expired* entries, not to the total: entries wait in a min-heap ordered by expiry, so a
 * pass only looks at the top of the heap. The pass also yields to the event loop every few
 * milliseconds, so even a large sweep never stalls the server.
 */
import { copyTexts } from '../data.js';
import { debug, shortId } from '../debug.js';
import { checkKeys } from '../check-options.js';
import { checkPruneInterval, type SessionPatch, type SessionRecord, type Store, type StoredData } from '../store.js';

export interface MemoryStoreOptions {
  /** Milliseconds between two prunes of expired sessions; `0` turns the timer off. Default 60 000. */
  pruneInterval?: number;
  /**
   * The most sessions to hold. When a new session would pass it, the least recently used session
   * (by its last save or touch) is evicted, and a warning is emitted once. Default: no cap.
   */
  maxSessions?: number;
}

/** One stored session. A class, so that every entry shares one compact shape. */
class Entry {
  constructor(
    public data: StoredData,
    public createdAt: number,
    public expiresAt: number,
    public userId: string | undefined,
  ) {}
}

/** How long a prune pass may run before it lets other work in, in milliseconds. */
const SLICE_MS = 2;

export class MemoryStore implements Store {
  readonly #sessions = new Map<string, Entry>(); // in least-recently-used order when capped
  readonly #byUser = new Map<string, Set<string>>();
  readonly #maxSessions: number;
  #warnedEviction = false;
  #timer: NodeJS.Timeout | undefined;
  #pruning: Promise<number> | undefined;

  // The expiry heap, as two parallel arrays (times and IDs), so it costs 16 bytes a session. An
  // entry's heap time may be earlier than its real expiry (a touch does not move it); a prune that
  // finds such an entry puts it back at its real expiry. That keeps touch O(1).
  #heapTimes: number[] = [];
  #heapIds: string[] = [];

  constructor(options: MemoryStoreOptions = {}) {
    checkKeys(options, ['pruneInterval', 'maxSessions'], 'MemoryStore');
    const { pruneInterval = 60_000, maxSessions = Infinity } = options;
    checkPruneInterval(pruneInterval, 'MemoryStore');
    if (!(maxSessions === Infinity || (Number.isInteger(maxSessions) && maxSessions > 0))) {
      throw new RangeError(`MemoryStore: maxSessions must be a whole number > 0, got ${maxSessions}`);
    }
    this.#maxSessions = maxSessions;
    if (pruneInterval > 0) {
      this.#timer = setInterval(() => void this.prune(), pruneInterval);
      this.#timer.unref(); // a session store must never be what keeps the process alive
    }
  }

  /** The number of sessions held (an expired one counts until a prune or a `get` removes it). */
  get size(): number {
    return this.#sessions.size;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const entry = this.#live(id);
    if (entry === undefined) return undefined;
    // A copy: whoever reads the record cannot change what is stored, nor see later changes.
    return { data: copyTexts(entry.data), createdAt: entry.createdAt, expiresAt: entry.expiresAt, userId: entry.userId };
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    const old = this.#sessions.get(id);
    if (old === undefined) {
      if (this.#sessions.size >= this.#maxSessions) this.#evictOne();
      this.#sessions.set(id, new Entry(copyTexts(record.data), record.createdAt, record.expiresAt, record.userId));
      this.#push(record.expiresAt, id);
    } else {
      if (record.expiresAt < old.expiresAt) this.#push(record.expiresAt, id); // see the heap's comment
      if (old.userId !== record.userId) this.#unindex(id, old.userId);
      old.data = copyTexts(record.data); // the caller's object stays the caller's
      old.createdAt = record.createdAt;
      old.expiresAt = record.expiresAt;
      old.userId = record.userId;
      this.#used(id, old);
    }
    if (record.userId !== undefined) this.#index(id, record.userId);
    // Deleted and evicted sessions leave their heap slot behind until it comes up. Under a flood
    // with a cap those would pile up between prunes, so rebuild the heap once it is mostly stale
    // (amortised O(1) a set, since the heap must have doubled since the last rebuild).
    if (this.#heapTimes.length > 1024 && this.#heapTimes.length > 2 * this.#sessions.size) this.#rebuildHeap();
  }

  async patch(id: string, patch: SessionPatch): Promise<boolean> {
    const entry = this.#live(id);
    if (entry === undefined) return false; // update-only: what is gone stays gone
    // In place: `get` hands out copies, so nobody else holds this object.
    for (const key in patch.set) entry.data[key] = patch.set[key]!;
    for (const key of patch.remove) delete entry.data[key];
    if (patch.userId !== undefined && patch.userId !== entry.userId) {
      this.#unindex(id, entry.userId);
      entry.userId = patch.userId;
      this.#index(id, patch.userId);
    }
    if (patch.expiresAt !== undefined) this.#moveExpiry(id, entry, patch.expiresAt);
    this.#used(id, entry);
    return true;
  }

  async touch(id: string, expiresAt: number): Promise<void> {
    const entry = this.#live(id);
    if (entry === undefined) return;
    this.#moveExpiry(id, entry, expiresAt);
    this.#used(id, entry);
  }

  async delete(id: string): Promise<void> {
    const entry = this.#sessions.get(id);
    if (entry !== undefined) this.#remove(id, entry);
  }

  async idsOfUser(userId: string): Promise<string[]> {
    const now = Date.now();
    const ids = this.#byUser.get(userId) ?? [];
    return [...ids].filter((id) => (this.#sessions.get(id)?.expiresAt ?? 0) > now);
  }

  async deleteUser(userId: string): Promise<number> {
    const now = Date.now();
    let live = 0;
    for (const id of [...(this.#byUser.get(userId) ?? [])]) {
      const entry = this.#sessions.get(id)!;
      if (entry.expiresAt > now) live++;
      this.#remove(id, entry);
    }
    return live;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Removes every expired session and says how many went. Runs by itself on the prune timer; call
   * it yourself when the timer is off. A pass in progress is shared, never run twice at once.
   */
  prune(): Promise<number> {
    this.#pruning ??= this.#prunePass().finally(() => (this.#pruning = undefined));
    return this.#pruning;
  }

  async #prunePass(): Promise<number> {
    let removed = 0;
    let now = Date.now();
    let sliceStart = performance.now();
    // The heap arrays are read afresh on every turn: a set() while we yield may rebuild them.
    for (let n = 1; this.#heapTimes.length > 0 && this.#heapTimes[0]! <= now; n++) {
      const id = this.#heapIds[0]!;
      this.#pop();
      const entry = this.#sessions.get(id);
      if (entry !== undefined) {
        if (entry.expiresAt <= now) {
          this.#remove(id, entry);
          removed++;
        } else {
          this.#push(entry.expiresAt, id); // touched since it was queued: wait for its real expiry
        }
      }
      if (n % 64 === 0 && performance.now() - sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve)); // let requests in
        now = Date.now();
        sliceStart = performance.now();
      }
    }
    debug('prune: removed %d expired sessions, %d left', removed, this.#sessions.size);
    return removed;
  }

  /** The entry for `id` if it is alive; an expired one is removed on the way (dead stays dead). */
  #live(id: string): Entry | undefined {
    const entry = this.#sessions.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > Date.now()) return entry;
    this.#remove(id, entry);
    return undefined;
  }

  #moveExpiry(id: string, entry: Entry, expiresAt: number): void {
    if (expiresAt < entry.expiresAt) this.#push(expiresAt, id); // see the heap's comment
    entry.expiresAt = expiresAt;
  }

  /** Moves a session to the most-recently-used end of the map; only a cap needs that order. */
  #used(id: string, entry: Entry): void {
    if (this.#maxSessions === Infinity) return;
    this.#sessions.delete(id);
    this.#sessions.set(id, entry);
  }

  #remove(id: string, entry: Entry): void {
    this.#sessions.delete(id);
    this.#unindex(id, entry.userId);
  }

  #evictOne(): void {
    // Map iterates in insertion order, and set/touch re-insert: the first key is the least recently used.
    const oldest = this.#sessions.keys().next();
    if (oldest.done) return;
    if (!this.#warnedEviction) {
      this.#warnedEviction = true;
      process.emitWarning(
        `MemoryStore holds maxSessions (${this.#maxSessions}) sessions; evicting the least recently used to make room`,
        { code: 'PLAIN_SESSION_EVICTING' },
      );
    }
    debug('evict %s: maxSessions reached', shortId(oldest.value));
    this.#remove(oldest.value, this.#sessions.get(oldest.value)!);
  }

  #index(id: string, userId: string): void {
    let ids = this.#byUser.get(userId);
    if (ids === undefined) this.#byUser.set(userId, (ids = new Set()));
    ids.add(id);
  }

  #unindex(id: string, userId: string | undefined): void {
    if (userId === undefined) return;
    const ids = this.#byUser.get(userId);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.#byUser.delete(userId);
  }

  // A binary min-heap on #heapTimes, with #heapIds moved alongside.

  #push(time: number, id: string): void {
    const times = this.#heapTimes;
    const ids = this.#heapIds;
    let i = times.length;
    times.push(time);
    ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= time) break;
      times[i] = times[parent]!;
      ids[i] = ids[parent]!;
      i = parent;
    }
    times[i] = time;
    ids[i] = id;
  }

  #pop(): void {
    const times = this.#heapTimes;
    const ids = this.#heapIds;
    const lastTime = times.pop()!;
    const lastId = ids.pop()!;
    const size = times.length;
    if (size === 0) return;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && times[child + 1]! < times[child]!) child++;
      if (times[child]! >= lastTime) break;
      times[i] = times[child]!;
      ids[i] = ids[child]!;
      i = child;
    }
    times[i] = lastTime;
    ids[i] = lastId;
  }

  #rebuildHeap(): void {
    this.#heapTimes = [];
    this.#heapIds = [];
    for (const [id, entry] of this.#sessions) this.#push(entry.expiresAt, id);
  }
}
