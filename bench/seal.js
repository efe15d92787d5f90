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
//
// Then the AEAD primitives Node offers, on the same payload the CookieStore seals for `{ views: 1 }`
// (about 90 bytes), one seal and one open each: AES-256-GCM (what the CookieStore uses) and
// ChaCha20-Poly1305, both through createCipheriv/createDecipheriv, with the key as a Buffer or as a
// KeyObject; and WebCrypto's AES-GCM, Node's only one-shot AEAD call (on Node 20 and 24 alike),
// which is asynchronous: a sealed cookie must be ready when the headers go out, so it could not
// serve `seal()`, and is measured for the record.

import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, webcrypto } from 'node:crypto';
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

/** `{ name: () => void }`: one AEAD seal and one open of a CookieStore-sized payload, checked. */
async function makePrimitives() {
  const key = randomBytes(32);
  const keyObject = createSecretKey(key);
  const aad = Buffer.from('v3.sid');
  const payload = Buffer.from(`["${'A'.repeat(43)}",${Date.now()},${Date.now() + 1_800_000},null,"views",1]\n1`);
  const aead = (algorithm, k) => () => {
    const iv = randomBytes(12);
    const options = { authTagLength: 16 };
    const cipher = createCipheriv(algorithm, k, iv, options);
    cipher.setAAD(aad, { plaintextLength: payload.length });
    const ciphertext = cipher.update(payload);
    cipher.final();
    const tag = cipher.getAuthTag();
    const decipher = createDecipheriv(algorithm, k, iv, options);
    decipher.setAAD(aad, { plaintextLength: ciphertext.length });
    decipher.setAuthTag(tag);
    const opened = decipher.update(ciphertext);
    decipher.final();
    if (opened.length !== payload.length) throw new Error(`${algorithm} did not open what it sealed`);
  };
  const subtleKey = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
  return {
    'AES-256-GCM, key as Buffer (the CookieStore)': aead('aes-256-gcm', key),
    'AES-256-GCM, KeyObject': aead('aes-256-gcm', keyObject),
    'ChaCha20-Poly1305, key as Buffer': aead('chacha20-poly1305', key),
    'ChaCha20-Poly1305, KeyObject': aead('chacha20-poly1305', keyObject),
    'WebCrypto AES-GCM (async, one-shot)': async () => {
      const iv = randomBytes(12);
      const sealed = await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, subtleKey, payload);
      const opened = await webcrypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, subtleKey, sealed);
      if (opened.byteLength !== payload.length) throw new Error('WebCrypto did not open what it sealed');
    },
  };
}

export async function measureSeal({ rounds = 5, ms = 500 } = {}) {
  const primitives = await makePrimitives();
  const primitiveSamples = Object.fromEntries(Object.keys(primitives).map((name) => [name, []]));
  for (const primitive of Object.values(primitives)) await usPerOp(primitive, ms / 2); // checks and warms up
  for (let round = 0; round < rounds; round++) {
    for (const [name, primitive] of Object.entries(primitives)) primitiveSamples[name].push(await usPerOp(primitive, ms));
  }
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
    primitives: Object.entries(primitiveSamples).map(([name, s]) => ({ name, usPerOp: median(s) })),
    skipped,
  };
}

export function sealMarkdown({ results, primitives = [], skipped }) {
  const plain = results.find((r) => r.name.startsWith('plain-session'));
  const rows = results.map((r) => [r.name, fmt(r.usPerOp, 2), plain ? `${fmt(r.usPerOp / plain.usPerOp, 1)}×` : '—']);
  let text = table(['codec', 'seal + unseal µs/op', 'vs plain-session'], rows);
  if (skipped) text += `\n\nplain-session skipped: ${skipped}`;
  if (primitives.length > 0) {
    const ours = primitives[0];
    text += `\n\nThe AEAD primitives Node offers, one seal and one open of the CookieStore's ${'`{ views: 1 }`'} payload:\n\n`;
    text += table(['primitive', 'seal + open µs/op', 'vs AES-256-GCM (Buffer key)'],
      primitives.map((r) => [r.name, fmt(r.usPerOp, 2), `${fmt(r.usPerOp / ours.usPerOp, 2)}×`]));
  }
  return text;
}

if (isMain(import.meta.url)) {
  const smoke = process.argv.includes('--smoke');
  const result = await measureSeal(smoke ? { rounds: 1, ms: 100 } : {});
  if (process.send) report(result);
  else console.log(sealMarkdown(result));
}
