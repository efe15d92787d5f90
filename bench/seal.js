// Sealing a session into a cookie and opening it again, µs per seal + unseal.
//
//   node bench/seal.js [--smoke]
//
// - plain-session: `CookieStore.seal(id, record)` then `unseal(value, now)` (AES-256-GCM, keys
//   derived once when the store is made).
// - iron-session: `sealData(data, { password })` then `unsealData(seal, { password })` (its own API;
//   async, WebCrypto; keys derived from the password on every call).
// - cookie-session: it does not export its codec, so this replicates it with the same pieces it
//   uses: `Buffer.from(JSON.stringify(session)).toString('base64')` (cookie-session's `encode`),
//   signed by `cookies` as `keygrip.sign('session=' + value)` (HMAC-SHA1, base64url), and checked
//   with `keygrip.index(...)` before `JSON.parse` on the way back. It signs only; it does not encrypt.
// Every variant seals `{ views: 1 }` and must read it back, which is checked before timing.

import { createRequire } from 'node:module';
import { sealData, unsealData } from 'iron-session';
import { loadPlain } from './lib/plain.js';
import { SECRET } from './http/variants.js';
import { fmt, isMain, median, report, table } from './lib/stats.js';

const require = createRequire(import.meta.url);
const Keygrip = require('keygrip'); // cookie-session's signer (through `cookies`)

const DATA = { views: 1 };

/** `{ name: async () => views }`: one seal + unseal round trip each. */
async function makeCodecs() {
  const codecs = {};
  const plain = await loadPlain(['CookieStore', 'generateId']);
  if (!plain.skipped) {
    const store = new plain.CookieStore({ secret: SECRET });
    const id = plain.generateId();
    // What the manager hands the store: each key of the data as its JSON text, and the cookie's name.
    const texts = { views: JSON.stringify(DATA.views) };
    codecs['plain-session CookieStore'] = () => {
      const now = Date.now();
      const value = store.seal(id, { data: texts, createdAt: now, expiresAt: now + 30 * 60 * 1000 }, 'sid');
      return JSON.parse(store.unseal(value, now, 'sid').record.data.views);
    };
  }
  codecs['cookie-session (keygrip)'] = (() => {
    const keys = new Keygrip([SECRET]);
    return () => {
      const value = Buffer.from(JSON.stringify(DATA)).toString('base64');
      const signature = keys.sign(`session=${value}`);
      if (keys.index(`session=${value}`, signature) < 0) throw new Error('cookie-session signature did not verify');
      return JSON.parse(Buffer.from(value, 'base64').toString('utf8')).views;
    };
  })();
  codecs['iron-session'] = async () => {
    const sealed = await sealData(DATA, { password: SECRET });
    return (await unsealData(sealed, { password: SECRET })).views;
  };
  return { codecs, skipped: plain.skipped };
}

/** Runs `codec` for about `ms` milliseconds; returns µs per seal + unseal. */
async function usPerOp(codec, ms) {
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < 100; i++) {
      const result = codec();
      if (result instanceof Promise) await result; // only iron-session's API is async
    }
    ops += 100;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (elapsed * 1000) / ops;
}

export async function measureSeal({ rounds = 5, ms = 500 } = {}) {
  const { codecs, skipped } = await makeCodecs();
  for (const [name, codec] of Object.entries(codecs)) {
    const views = await codec();
    if (views !== 1) throw new Error(`${name}: sealed { views: 1 } but read back ${views}`);
    await usPerOp(codec, ms / 2); // warm-up
  }
  const samples = Object.fromEntries(Object.keys(codecs).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, codec] of Object.entries(codecs)) samples[name].push(await usPerOp(codec, ms));
  }
  return {
    results: Object.entries(samples).map(([name, s]) => ({ name, usPerOp: median(s) })),
    skipped,
  };
}

export function sealMarkdown({ results, skipped }) {
  const plain = results.find((r) => r.name.startsWith('plain-session'));
  const rows = results.map((r) => [r.name, fmt(r.usPerOp, 2), plain ? `${fmt(r.usPerOp / plain.usPerOp, 1)}×` : '—']);
  let text = table(['codec', 'seal + unseal µs/op', 'vs plain-session'], rows);
  if (skipped) text += `\n\nplain-session skipped: ${skipped}`;
  return text;
}

if (isMain(import.meta.url)) {
  const smoke = process.argv.includes('--smoke');
  const result = await measureSeal(smoke ? { rounds: 1, ms: 100 } : {});
  if (process.send) report(result);
  else console.log(sealMarkdown(result));
}
