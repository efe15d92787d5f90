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

/** How long a prune pass may run before it lets other work in, in milliseconds. */
const SLICE_MS = 2;

export class MemoryStore implements Store {
  // Sessions are kept by columns rather than one object each: `#slots` maps an ID to a slot number,
  // and the session's parts sit at that index of the arrays below. An object per session would
  // cost about 90 bytes more (its header, and a box for each of its two times), in a store that
  // may hold millions. Measured parts of a `{ views: 1 }` session: bench/RESULTS.md.
  readonly #slots = new Map<string, number>(); // in least-recently-used order when capped
  /** The data of each slot (a text per key); `undefined` for a free slot. */
  #texts: (StoredData | undefined)[] = [];
  /** Two numbers per slot: createdAt, then expiresAt. */
  #times = new Float64Array(2 * 64);
  /** The user of each slot that is bound to one (few are, so not a column). */
  readonly #userOf = new Map<number, string>();
  /** Slots freed by a removal, for the next new session. */
  #free: number[] = [];
  readonly #byUser = new Map<string, Set<string>>();
  readonly #maxSessions: number;
  #warnedEviction = false;
  #timer: NodeJS.Timeout | undefined;
  #pruning: Promise<number> | undefined;

  // The expiry heap, as two parallel arrays (times and IDs), so it costs 16 bytes a session. A
  // session's heap time may be earlier than its real expiry (a touch does not move it); a prune that
  // finds such a session puts it back at its real expiry. That keeps touch O(1).
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
    return this.#slots.size;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const slot = this.#live(id);
    if (slot === undefined) return undefined;
    // A copy: whoever reads the record cannot change what is stored, nor see later changes.
    const record: SessionRecord = { data: copyTexts(this.#texts[slot]!), createdAt: this.#times[2 * slot]!, expiresAt: this.#times[2 * slot + 1]! };
    const userId = this.#userOf.get(slot);
    if (userId !== undefined) record.userId = userId;
    return record;
  }

  async set(id: string, record: SessionRecord): Promise<void> {
    let slot = this.#slots.get(id);
    if (slot === undefined) {
      if (this.#slots.size >= this.#maxSessions) this.#evictOne();
      slot = this.#newSlot();
      this.#slots.set(id, slot);
      this.#push(record.expiresAt, id);
    } else {
      this.#moveExpiry(id, slot, record.expiresAt);
      this.#used(id, slot);
    }
    this.#texts[slot] = copyTexts(record.data); // the caller's object stays the caller's
    this.#times[2 * slot] = record.createdAt;
    this.#times[2 * slot + 1] = record.expiresAt;
    this.#bind(id, slot, record.userId);
    // Deleted and evicted sessions leave their heap slot behind until it comes up. Under a flood
    // with a cap those would pile up between prunes, so rebuild the heap once it is mostly stale
    // (amortised O(1) a set, since the heap must have doubled since the last rebuild).
    if (this.#heapTimes.length > 1024 && this.#heapTimes.length > 2 * this.#slots.size) this.#rebuildHeap();
  }

  async patch(id: string, patch: SessionPatch): Promise<boolean> {
    const slot = this.#live(id);
    if (slot === undefined) return false; // update-only: what is gone stays gone
    // In place: `get` hands out copies, so nobody else holds this object.
    const texts = this.#texts[slot]!;
    for (const key in patch.set) texts[key] = patch.set[key]!;
    for (const key of patch.remove) delete texts[key];
    if (patch.userId !== undefined) this.#bind(id, slot, patch.userId);
    if (patch.expiresAt !== undefined) this.#moveExpiry(id, slot, patch.expiresAt);
    this.#used(id, slot);
    return true;
  }

  async touch(id: string, expiresAt: number): Promise<void> {
    const slot = this.#live(id);
    if (slot === undefined) return;
    this.#moveExpiry(id, slot, expiresAt);
    this.#used(id, slot);
  }

  async delete(id: string): Promise<boolean> {
    const slot = this.#slots.get(id);
    if (slot === undefined) return false;
    const live = this.#times[2 * slot + 1]! > Date.now();
    this.#remove(id, slot);
    return live;
  }

  async idsOfUser(userId: string): Promise<string[]> {
    const now = Date.now();
    const ids = this.#byUser.get(userId) ?? [];
    return [...ids].filter((id) => this.#expiresAt(id) > now);
  }

  async deleteUser(userId: string): Promise<number> {
    const now = Date.now();
    let live = 0;
    for (const id of [...(this.#byUser.get(userId) ?? [])]) {
      const slot = this.#slots.get(id)!;
      if (this.#times[2 * slot + 1]! > now) live++;
      this.#remove(id, slot);
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
      const slot = this.#slots.get(id);
      if (slot !== undefined) {
        const expiresAt = this.#times[2 * slot + 1]!;
        if (expiresAt <= now) {
          this.#remove(id, slot);
          removed++;
        } else {
          this.#push(expiresAt, id); // touched since it was queued: wait for its real expiry
        }
      }
      if (n % 64 === 0 && performance.now() - sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve)); // let requests in
        now = Date.now();
        sliceStart = performance.now();
      }
    }
    debug('prune: removed %d expired sessions, %d left', removed, this.#slots.size);
    return removed;
  }

  /** The slot of `id` if its session is alive; an expired one is removed on the way (dead stays dead). */
  #live(id: string): number | undefined {
    const slot = this.#slots.get(id);
    if (slot === undefined) return undefined;
    if (this.#times[2 * slot + 1]! > Date.now()) return slot;
    this.#remove(id, slot);
    return undefined;
  }

  #expiresAt(id: string): number {
    const slot = this.#slots.get(id);
    return slot === undefined ? 0 : this.#times[2 * slot + 1]!;
  }

  /** A free slot: one a removal left, or a new one at the end (the times column doubles when full). */
  #newSlot(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const slot = this.#texts.length;
    this.#texts.push(undefined);
    if (2 * slot + 2 > this.#times.length) {
      const times = new Float64Array(2 * this.#times.length);
      times.set(this.#times);
      this.#times = times;
    }
    return slot;
  }

  #moveExpiry(id: string, slot: number, expiresAt: number): void {
    if (expiresAt < this.#times[2 * slot + 1]!) this.#push(expiresAt, id); // see the heap's comment
    this.#times[2 * slot + 1] = expiresAt;
  }

  /** Binds the session in `slot` to `userId` (or to nobody), keeping the index of users in step. */
  #bind(id: string, slot: number, userId: string | undefined): void {
    const old = this.#userOf.get(slot);
    if (old === userId) return;
    if (old !== undefined) {
      const ids = this.#byUser.get(old);
      ids?.delete(id);
      if (ids?.size === 0) this.#byUser.delete(old);
    }
    if (userId === undefined) {
      this.#userOf.delete(slot);
      return;
    }
    this.#userOf.set(slot, userId);
    let ids = this.#byUser.get(userId);
    if (ids === undefined) this.#byUser.set(userId, (ids = new Set()));
    ids.add(id);
  }

  /** Moves a session to the most-recently-used end of the map; only a cap needs that order. */
  #used(id: string, slot: number): void {
    if (this.#maxSessions === Infinity) return;
    this.#slots.delete(id);
    this.#slots.set(id, slot);
  }

  #remove(id: string, slot: number): void {
    this.#slots.delete(id);
    this.#bind(id, slot, undefined);
    this.#texts[slot] = undefined; // let the data go now, not when the slot is reused
    this.#free.push(slot);
    // After a flood is pruned, most slots are free: give the memory back (amortised O(1), as above).
    if (this.#free.length > 1024 && this.#free.length > 3 * this.#slots.size) this.#compact();
  }

  /** Renumbers the live sessions 0, 1, 2… into columns just big enough for them. */
  #compact(): void {
    const texts: (StoredData | undefined)[] = [];
    const times = new Float64Array(2 * Math.max(64, this.#slots.size));
    const userOf = new Map(this.#userOf);
    this.#userOf.clear();
    for (const [id, slot] of this.#slots) {
      const next = texts.length;
      texts.push(this.#texts[slot]);
      times[2 * next] = this.#times[2 * slot]!;
      times[2 * next + 1] = this.#times[2 * slot + 1]!;
      const userId = userOf.get(slot);
      if (userId !== undefined) this.#userOf.set(next, userId);
      this.#slots.set(id, next); // an existing key keeps its place in the map's order
    }
    this.#texts = texts;
    this.#times = times;
    this.#free = [];
  }

  #evictOne(): void {
    // Map iterates in insertion order, and set/touch re-insert: the first key is the least recently used.
    const oldest = this.#slots.entries().next();
    if (oldest.done) return;
    if (!this.#warnedEviction) {
      this.#warnedEviction = true;
      process.emitWarning(
        `MemoryStore holds maxSessions (${this.#maxSessions}) sessions; evicting the least recently used to make room`,
        { code: 'PLAIN_SESSION_EVICTING' },
      );
    }
    const [id, slot] = oldest.value;
    debug('evict %s: maxSessions reached', shortId(id));
    this.#remove(id, slot);
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
    for (const [id, slot] of this.#slots) this.#push(this.#times[2 * slot + 1]!, id);
  }
}
