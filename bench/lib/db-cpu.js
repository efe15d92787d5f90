// CPU time spent by the database servers themselves, so the report can say what Redis and
// PostgreSQL cost per request besides the Node process (which measures its own CPU).
//
// - Redis: `INFO cpu` (used_cpu_user + used_cpu_sys, in seconds with µs resolution) covers the
//   whole redis-server process. https://redis.io/docs/latest/commands/info/
// - PostgreSQL: one process per connection plus background workers (WAL writer, checkpointer,
//   autovacuum…), all children of one postmaster. We find the postmaster as the parent of our own
//   backend (`pg_backend_pid()`), then add up, from /proc/<pid>/stat (proc(5)), utime + stime of
//   the postmaster and of every live child, plus the postmaster's cutime + cstime: the CPU of
//   children that exited and were reaped, so a connection that closes mid-run is not lost. Only
//   works when the server runs on this machine (the throwaway one of .ci/services.sh does).
//
// Each sampler is `{ read(): Promise<number> }`, the server's CPU time so far in µs; the harness
// reads it before and after a timed load. Or `{ unavailable: reason }`.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Clock ticks per second of the times in /proc/<pid>/stat (USER_HZ, 100 on Linux in practice). */
function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces), or undefined. */
function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    return { comm: text.slice(text.indexOf('(') + 1, close), fields: text.slice(close + 2).split(' ') };
  } catch {
    return undefined; // gone, or not ours to read
  }
}
// Field numbers of proc(5) minus 3 (pid and comm come first, and `fields` starts at field 3, state).
const PPID = 1;
const UTIME = 11;
const STIME = 12;
const CUTIME = 13;
const CSTIME = 14;

async function redisSampler() {
  if (!process.env.REDIS_URL) return { unavailable: 'no REDIS_URL' };
  const { createClient } = require('redis');
  const client = createClient({ url: process.env.REDIS_URL });
  await client.connect();
  const read = async () => {
    const info = await client.info('cpu');
    const field = (name) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1]);
    return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
  };
  if (!Number.isFinite(await read())) {
    await client.quit();
    return { unavailable: 'INFO cpu gave no used_cpu_user/used_cpu_sys' };
  }
  return { read, close: () => client.quit() };
}

async function postgresSampler() {
  if (!process.env.DATABASE_URL) return { unavailable: 'no DATABASE_URL' };
  if (!existsSync('/proc/self/stat')) return { unavailable: 'no /proc on this system' };
  const { Client } = require('pg');
  const client = new Client({ connectionString: process.env.DATABASE_URL, application_name: 'plain-session-bench-cpu' });
  await client.connect();
  let own;
  try {
    const { pid } = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0];
    own = procStat(pid); // read while our backend still lives: its parent is the postmaster
  } finally {
    await client.end();
  }
  const postmaster = own?.fields[PPID];
  if (own === undefined || !own.comm.startsWith('postgres') || !procStat(postmaster)?.comm.startsWith('postgres')) {
    return { unavailable: 'the PostgreSQL server is not a process on this machine' };
  }
  const ticks = clockTicks();
  const read = async () => {
    const main = procStat(postmaster);
    if (main === undefined) throw new Error(`the PostgreSQL postmaster (pid ${postmaster}) is gone`);
    const ticksOf = (stat, ...fields) => fields.reduce((sum, field) => sum + Number(stat.fields[field]), 0);
    let total = ticksOf(main, UTIME, STIME, CUTIME, CSTIME);
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const stat = procStat(name);
      if (stat?.fields[PPID] === postmaster) total += ticksOf(stat, UTIME, STIME);
    }
    return (total / ticks) * 1e6;
  };
  return { read, close: async () => {} };
}

const samplers = new Map();

/**
 * The CPU sampler for `database` ('redis' or 'postgres'), made once per harness process;
 * `{ unavailable }` for anything else or when the server cannot be measured from here.
 */
export function databaseCpu(database) {
  if (!samplers.has(database)) {
    const make = database === 'redis' ? redisSampler : database === 'postgres' ? postgresSampler : undefined;
    samplers.set(
      database,
      make
        ? make().catch((error) => ({ unavailable: `cannot sample its CPU: ${error.message.split('\n')[0]}` }))
        : Promise.resolve({ unavailable: 'runs inside the Node process' }),
    );
  }
  return samplers.get(database);
}

/** Closes the samplers' connections (at the end of the HTTP benchmark). */
export async function closeDatabaseCpu() {
  for (const sampler of samplers.values()) await (await sampler).close?.();
  samplers.clear();
}
