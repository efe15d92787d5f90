/**
 * Adversarial suite, groups 4 and 7 for the stores that need no server: session fixation and strict
 * mode, and concurrent requests on one session. The suites themselves live in
 * adversarial-helpers.ts so every store can run them (see adversarial-stores.test.ts).
 */
import { CookieStore } from '../lib/stores/cookie.js';
import { MemoryStore } from '../lib/stores/memory.js';
import { InstrumentedStore } from './helpers.js';
import { concurrencySuite, FaultyStore, fixationSuite } from './adversarial-helpers.js';

const SECRET = 'a-very-long-random-test-secret-number-one-0123456789';

/**
 * A sealed cookie cannot be taken back, so an app on the CookieStore that wants "logged out means
 * logged out" keeps the IDs it retired (on login and logout) and refuses them with `isRevoked`,
 * as lib/cookie-store.ts recommends. A real app keeps each ID only until its absolute lifetime ends.
 */
const retired = new Set<string>();
const revokingCookieStore = () => new CookieStore({ secret: SECRET, isRevoked: (id) => retired.has(id) });

fixationSuite('MemoryStore', () => new MemoryStore({ pruneInterval: 0 }));
fixationSuite('async store with 20 ms latency', () => {
  const store = new InstrumentedStore();
  store.delay = 20;
  return store;
});
fixationSuite('CookieStore with a denylist in isRevoked', revokingCookieStore, { retire: (id) => retired.add(id) });

concurrencySuite('MemoryStore', () => new MemoryStore({ pruneInterval: 0 }), { twoManagers: true });
concurrencySuite('async store with 0-5 ms random latency', () => {
  const store = new FaultyStore(new MemoryStore({ pruneInterval: 0 }));
  store.faults = { get: 'slow', set: 'slow', patch: 'slow', touch: 'slow', delete: 'slow' };
  return store;
}, { twoManagers: true });
// A store of the user's own without patch(): the manager reads, merges and writes, one merge of a
// session at a time, which holds within one process (across processes it cannot: documented).
concurrencySuite('a store without patch(), 0-5 ms random latency (the manager merges)', () => {
  const store = new FaultyStore(new MemoryStore({ pruneInterval: 0 }));
  store.faults = { get: 'slow', set: 'slow', touch: 'slow', delete: 'slow' };
  const { get, set, touch, delete: remove } = store;
  return { get: get.bind(store), set: set.bind(store), touch: touch.bind(store), delete: remove.bind(store) };
});
