// What node-redis's default command timeout costs: `node bench/redis-client.js [--smoke]`.
//
// node-redis 5 and later give every command a 5-second timeout by default, through its own
// `AbortSignal.timeout()`: a timer and an event listener per command, and garbage for the GC.
// plain-session has its own timeout for every store call (`storeTimeout`), so with it the client's
// can go: `createClient({ commandOptions: { timeout: 0 } })`. This measures the Node process's CPU
// per command both ways, 10 commands in flight (as 10 connections' requests would be): `HGETALL` of
// a small session hash, what the RedisStore sends for every read. The HTTP benchmark's two Redis
// variants (plain-session and connect-redis) both use `timeout: 0`.

import { createRequire } from 'node:module';
import { fmt, isMain, median, report, table } from './lib/stats.js';

const require = createRequire(import.meta.url);

const CLIENTS = {
  'node-redis, default (5 s timeout per command)': {},
  'node-redis, commandOptions: { timeout: 0 }': { commandOptions: { timeout: 0 } },
};

async function cpuPerCommand(options, commands) {
  const { createClient } = require('redis');
  const client = createClient({ url: process.env.REDIS_URL, ...options });
  await client.connect();
  const key = `bench-redis-client:${process.pid}`;
  try {
    await client.hSet(key, { 'm:created': String(Date.now()), 'm:expires': String(Date.now() + 3_600_000), 'd:views': '1' });
    const run = async (n) => {
      const worker = async () => {
        for (let i = 0; i < n / 10; i++) await client.sendCommand(['HGETALL', key]);
      };
      await Promise.all(Array.from({ length: 10 }, worker));
    };
    await run(commands / 4); // warm-up
    const before = process.cpuUsage();
    await run(commands);
    const cpu = process.cpuUsage(before);
    return (cpu.user + cpu.system) / commands;
  } finally {
    await client.del(key);
    await client.quit();
  }
}

export async function measureRedisClient({ rounds = 5, commands = 20_000 } = {}) {
  if (!process.env.REDIS_URL) return { skipped: 'set REDIS_URL to measure the Redis client' };
  const samples = Object.fromEntries(Object.keys(CLIENTS).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, options] of Object.entries(CLIENTS)) samples[name].push(await cpuPerCommand(options, commands));
  }
  return { results: Object.entries(samples).map(([name, s]) => ({ name, usPerCommand: median(s) })) };
}

export function redisClientMarkdown({ results, skipped }) {
  if (skipped) return `Skipped: ${skipped}.`;
  const base = results[0].usPerCommand;
  return table(['client', 'Node CPU µs per command', 'vs default'],
    results.map((r) => [r.name, fmt(r.usPerCommand, 1), `${fmt(r.usPerCommand / base, 2)}×`]));
}

if (isMain(import.meta.url)) {
  const smoke = process.argv.includes('--smoke');
  const result = await measureRedisClient(smoke ? { rounds: 1, commands: 2_000 } : {});
  if (process.send) report(result);
  else console.log(redisClientMarkdown(result));
}
