/**
 * Adversarial suite, group 9: a bounded load run on loopback against the cart (the example's
 * logic, built with wrap). 20 keep-alive connections, each with its own cart session, add items
 * for 5 s (30 s with SOAK=1); then every cart must hold exactly the items its connection added.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CookieStore } from '../lib/stores/cookie.js';
import { MemoryStore } from '../lib/stores/memory.js';
import { figure, loadRun, SOAK } from './adversarial-helpers.js';

const SECONDS = SOAK ? 30 : 5;

describe('9. load on the cart', () => {
  test(`MemoryStore: 20 connections for ${SECONDS} s, 0 errors, 0 carts differ`, async () => {
    const result = await loadRun(new MemoryStore(), 20, SECONDS);
    figure(`load (MemoryStore): 20 connections x ${SECONDS} s -> ${result.requests} requests (${result.perSecond}/s), ${result.errors} errors, ${result.differing} of 20 carts differ from the adds sent`);
    assert.equal(result.errors, 0);
    assert.equal(result.differing, 0);
    assert.ok(result.requests > 20 * 10, 'the run did real work');
  });

  test(`CookieStore: 20 connections for ${SOAK ? 30 : 2} s (100 adds each, then browsing), 0 errors, 0 carts differ`, async () => {
    const seconds = SOAK ? 30 : 2;
    const store = new CookieStore({ secret: 'a-very-long-random-test-secret-number-one-0123456789' });
    const result = await loadRun(store, 20, seconds, { maxAdds: 100 });
    figure(`load (CookieStore): 20 connections x ${seconds} s -> ${result.requests} requests (${result.perSecond}/s), ${result.errors} errors, ${result.differing} of 20 carts differ from the adds sent`);
    assert.equal(result.errors, 0);
    assert.equal(result.differing, 0);
  });
});
