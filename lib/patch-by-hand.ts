/**
 * `patch` for a store that has none: read, merge, write.
 *
 * A store's own `patch` is one atomic step in the database, so two requests that change different
 * keys both keep their change, and an update never brings back a session that is gone. A store
 * that only has `get` and `set` (yours, say, or an old one) cannot promise that by itself: two
 * read-merge-writes that interleave lose one of the merges, and a write that lands after a logout
 * writes the session back. This file gives such a store as much of the promise as one process can:
 *
 * - the merges of one session take turns, so within this process nothing is lost;
 * - an ID destroyed here in the last minute is remembered, and no merge writes it back;
 * - a delete waits for the merges of its session that are in flight, so it comes after them.
 *
 * Across processes such a store is last-writer-wins, and a session destroyed elsewhere between the
 * read and the write can come back. The README says so; stores that matter implement `patch`.
 */
import { applyPatch } from './data.js';
import type { StoreGuard } from './store-guard.js';
import type { SessionPatch, SessionRecord, Store } from './store.js';

/** How long an ID destroyed in this process is remembered. */
const REMEMBER_DESTROYED_MS = 60_000;

export class PatchByHand {
  readonly #store: Store;
  readonly #guard: StoreGuard;
  /** IDs destroyed lately, with when, oldest first. */
  readonly #destroyed = new Map<string, number>();
  /** The merge in progress per session ID, so merges of one session take turns. */
  readonly #merging = new Map<string, Promise<unknown>>();

  constructor(store: Store, guard: StoreGuard) {
    this.#store = store;
    this.#guard = guard;
  }

  /** Applies `patch` to the stored record, after the merges of the same session before it. Like a store's `patch`: false when the session is gone. */
  patch(id: string, patch: SessionPatch): Promise<boolean> {
    const merge = async (): Promise<boolean> => {
      const record = await this.#store.get(id);
      if (record === undefined || this.wasDestroyed(id)) return false;
      const next: SessionRecord = {
        data: applyPatch(record.data, patch),
        createdAt: record.createdAt,
        expiresAt: patch.expiresAt ?? record.expiresAt,
        userId: patch.userId ?? record.userId,
      };
      if (this.wasDestroyed(id)) return false; // destroyed while we were reading
      await this.#store.set(id, next);
      return true;
    };
    const previous = this.#merging.get(id);
    const turn = previous === undefined ? merge() : previous.then(merge, merge);
    // The next merge waits for this one, but no longer than storeTimeout: a hung store must not
    // hold every later save of the session behind it.
    const settled = this.#guard.call(() => turn).catch(() => {});
    this.#merging.set(id, settled);
    void settled.then(() => {
      if (this.#merging.get(id) === settled) this.#merging.delete(id);
    });
    return turn;
  }

  /** Whether `id` was destroyed in this process in the last minute. */
  wasDestroyed(id: string): boolean {
    return this.#destroyed.has(id);
  }

  /**
   * Call before deleting `id`: remembers it, so that no later merge writes it back, and answers a
   * promise of the merges of it in flight, which the delete must come after.
   */
  destroying(id: string): Promise<unknown> {
    const now = Date.now();
    for (const [old, at] of this.#destroyed) {
      if (at > now - REMEMBER_DESTROYED_MS) break; // a Map iterates in insertion order: the rest is younger
      this.#destroyed.delete(old);
    }
    this.#destroyed.set(id, now);
    return this.#merging.get(id) ?? Promise.resolve();
  }
}
