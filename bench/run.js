// The benchmark harness: `npm run bench` (builds first), or `node bench/run.js [flags]`.
//
//   --smoke              one short round of everything (for CI: it keeps the harness from rotting)
//   --only=LIST          some of: http, heap, prune, parse, seal, redis (comma-separated)
//   --duration=SECONDS   timed load per variant and round (default 5; env BENCH_DURATION)
//   --rounds=N           interleaved rounds (default 3; env BENCH_ROUNDS)
//   --warmup=SECONDS     load before each timed run, not measured (default 1)
//   --variants=LIST      HTTP variants to run (raw is always added: it is the baseline)
//   --scenarios=LIST     many-modify, many-read, returning-modify, returning-read, anonymous, new
//   --sessions=N         sessions made up front in the many-visitors scenarios (default 2000; smoke 100)
//   --pipelining=N       requests in flight per connection, one-session scenarios (default 10; env BENCH_PIPELINING)
//   --many-pipelining=N  the same for the many-visitors scenarios (default 1: no pipelining, as issue #15 measured)
//   --out=FILE           where to write the markdown. A full run writes bench/RESULTS.md; a smoke
//                        or partial run only prints, unless --out is given.
// Env: REDIS_URL and DATABASE_URL give the Redis and PostgreSQL variants their server
// (`source .ci/services.sh` starts throwaway ones). Without them those variants are reported as
// skipped; with CI=true a database variant that cannot run fails the run.
//
// Every measuring process is a child of this one and is killed when it exits.

import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runChild } from './lib/children.js';
import { fmt, machine, table } from './lib/stats.js';
import { runHttp, httpMarkdown, ratioBetween } from './http/bench.js';
import { HEAP_VARIANTS } from './http/heap.js';
import { infoOf, SCENARIOS, variantNames } from './http/variants.js';
import { runPrune, pruneMarkdown } from './prune.js';
import { parseMarkdown } from './parse.js';
import { sealMarkdown } from './seal.js';
import { redisClientMarkdown } from './redis-client.js';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const SECTIONS = ['http', 'heap', 'prune', 'parse', 'seal', 'redis'];

function parseFlags(argv) {
  const flags = {};
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new TypeError(`unknown argument ${arg} (see the top of bench/run.js)`);
    flags[match[1]] = match[2] ?? true;
  }
  const known = ['smoke', 'only', 'duration', 'rounds', 'warmup', 'variants', 'scenarios', 'sessions', 'pipelining',
    'many-pipelining', 'out'];
  for (const name of Object.keys(flags)) {
    if (!known.includes(name)) throw new TypeError(`unknown flag --${name}; known: ${known.join(', ')}`);
  }
  return flags;
}

const list = (value, all, what) => {
  if (value === undefined) return all;
  const items = String(value).split(',').filter(Boolean);
  const unknown = items.filter((item) => !all.includes(item));
  if (unknown.length > 0) throw new TypeError(`unknown ${what}: ${unknown.join(', ')}; choose from ${all.join(', ')}`);
  return items;
};

const flags = parseFlags(process.argv.slice(2));
const smoke = flags.smoke === true;
const only = list(flags.only, SECTIONS, 'section');
// "--only=http" means the HTTP numbers, which include the heap per session.
if (flags.only !== undefined && only.includes('http') && !only.includes('heap')) only.push('heap');
const settings = {
  rounds: Number(flags.rounds ?? process.env.BENCH_ROUNDS ?? (smoke ? 1 : 3)),
  duration: Number(flags.duration ?? process.env.BENCH_DURATION ?? (smoke ? 0.5 : 5)),
  warmup: Number(flags.warmup ?? (smoke ? 0.2 : 1)),
  heapN: smoke ? 5_000 : 100_000,
  pruneN: smoke ? 20_000 : 1_000_000,
  pipelining: Number(flags.pipelining ?? process.env.BENCH_PIPELINING ?? 10),
  manyPipelining: Number(flags['many-pipelining'] ?? 1),
  sessions: Number(flags.sessions ?? (smoke ? 100 : 2_000)),
};
for (const [name, value] of Object.entries(settings)) {
  if (!(value > 0)) throw new RangeError(`${name} must be a number > 0, got ${value}`);
}
for (const name of ['rounds', 'pipelining', 'manyPipelining', 'sessions']) {
  if (!Number.isInteger(settings[name])) throw new RangeError(`${name} must be a whole number, got ${settings[name]}`);
}
// Each session must see one request at a time, or the many-visitors check could not count them.
if (settings.sessions < 10 * settings.manyPipelining) {
  throw new RangeError(`--sessions must be at least 10 × --many-pipelining (${10 * settings.manyPipelining}), ` +
    `so that no session has two requests in flight; got ${settings.sessions}`);
}
const allVariants = variantNames();
let variants = list(flags.variants, allVariants, 'variant');
if (!variants.includes('raw')) variants = ['raw', ...variants];
const scenarios = list(flags.scenarios, SCENARIOS, 'scenario');
const fullRun = !smoke && flags.only === undefined && flags.variants === undefined && flags.scenarios === undefined;
const out = flags.out ?? (fullRun ? here('./RESULTS.md') : undefined);

/** How busy the CPUs are with other work right now (Linux only): the numbers are only as quiet as the machine. */
async function backgroundLoad() {
  if (!existsSync('/proc/stat')) return undefined;
  const sample = () => readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const a = sample();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const b = sample();
  const delta = b.map((v, i) => v - a[i]);
  const total = delta.reduce((x, y) => x + y, 0);
  const idle = delta[3] + (delta[4] ?? 0);
  return total > 0 ? (1 - idle / total) * 100 : undefined;
}

const started = performance.now();
const log = (line) => console.log(line);
const info = await machine();
const load = await backgroundLoad();
log(`plain-session benchmarks on ${info.cpu} (${info.cores} cores), Node ${info.node}${smoke ? ', smoke mode' : ''}`);
if (load !== undefined) log(`CPU busy with other work before the run: ${fmt(load)}%${load > 10 ? ' (numbers will be noisy)' : ''}`);

const results = {};
if (only.includes('parse')) {
  log('parse: parseCookie vs cookie.parse');
  results.parse = await runChild(here('./parse.js'), smoke ? ['--smoke'] : [], { what: 'parse' });
}
if (only.includes('seal')) {
  log('seal: CookieStore vs iron-session vs cookie-session');
  results.seal = await runChild(here('./seal.js'), smoke ? ['--smoke'] : [], { what: 'seal' });
}
if (only.includes('redis')) {
  log('redis: node-redis CPU per command, with and without its default command timeout');
  results.redis = await runChild(here('./redis-client.js'), smoke ? ['--smoke'] : [], { what: 'redis' });
  if (results.redis.skipped && process.env.CI === 'true') throw new Error(`redis client benchmark: ${results.redis.skipped}, and CI=true`);
}
if (only.includes('heap')) {
  log(`heap: bytes per session over ${fmt(settings.heapN)} sessions`);
  results.heap = [];
  for (const variant of HEAP_VARIANTS) {
    const result = await runChild(here('./http/heap.js'), [variant, String(settings.heapN)], {
      execArgv: ['--expose-gc'],
      what: `heap ${variant}`,
    });
    log(result.skipped ? `  ${variant}: skipped (${result.skipped})` : `  ${variant}: ${fmt(result.bytesPerSession)} bytes`);
    results.heap.push(result);
  }
}
if (only.includes('http')) {
  log(`http: ${variants.length} variants × ${scenarios.length} scenarios × ${settings.rounds} rounds of ${settings.duration} s`);
  results.http = await runHttp({ variants, scenarios, ...settings, log });
}
if (only.includes('prune')) {
  log(`prune: ${fmt(settings.pruneN)} sessions`);
  results.prune = await runPrune({ n: settings.pruneN, log });
}

const minutes = (performance.now() - started) / 60_000;
// Hand-written analysis of the misses, kept next to the numbers it explains.
const analysis = existsSync(here('./ANALYSIS.md')) && fullRun ? `\n${readFileSync(here('./ANALYSIS.md'), 'utf8')}` : '';
const markdown = render() + analysis;
console.log(`\n${markdown}`);
if (out) {
  writeFileSync(out, markdown);
  log(`written to ${out}`);
}
log(`done in ${fmt(minutes, 1)} min`);
process.exit(0);

function render() {
  const parts = [
    '# plain-session benchmark results',
    '',
    `- Machine: ${info.cpu}, ${info.cores} cores, ${info.platform}`,
    `- Node ${info.node}, ${info.date}${smoke ? ' (smoke mode: one short round, numbers are rough)' : ''}`,
    `- HTTP: autocannon, 10 connections, loopback; many visitors: ${fmt(settings.sessions)} sessions, pipelining ` +
      `${settings.manyPipelining}${settings.manyPipelining === 1 ? ' (none, as issue #15 measured)' : ''}; one visitor: ` +
      `pipelining ${settings.pipelining}; ${settings.rounds} interleaved round(s) of ${settings.duration} s after ` +
      `${settings.warmup} s of warm-up; medians over rounds`,
    `- Database servers: ${databaseServers()}`,
    load === undefined ? '' : `- CPU busy with other work just before the run: ${fmt(load)}%`,
    `- Whole run: ${fmt(minutes, 1)} min. Method: bench/README.md`,
    '',
  ];
  if (results.http) {
    parts.push(headline(results.http), '', targets(), '', databaseCpu(results.http), '', '## HTTP', '',
      httpMarkdown(results.http, settings));
  } else if (results.heap) parts.push(targets(), '');
  if (results.heap) {
    parts.push('## Heap per session', '', `\`{ views: 1 }\` sessions, ${fmt(settings.heapN)} of them, after a forced GC. ` +
      'cookie-session, iron-session and the CookieStore keep nothing on the server.', '');
    parts.push(table(['variant', 'heap bytes per session'], results.heap.map((r) =>
      [r.variant, r.skipped ? `skipped: ${r.skipped}` : fmt(r.bytesPerSession)])), '');
  }
  if (results.prune) {
    parts.push('## Pruning', '', `A pass over ${fmt(settings.pruneN)} sessions. express-session's MemoryStore has no sweep: ` +
      'it drops expired sessions only when it reads them, so its pass is `store.all()`. The delay includes the 1 ms ' +
      'timer period of `monitorEventLoopDelay`.', '', pruneMarkdown(results.prune), '');
  }
  if (results.parse) parts.push('## Cookie header parsing', '', parseMarkdown(results.parse), '');
  if (results.redis) {
    parts.push('## node-redis: the default command timeout', '', 'Node CPU per `HGETALL` of a small session hash, 10 in ' +
      'flight. node-redis 5 and later arm an `AbortSignal.timeout()` for every command (5 s by default); plain-session ' +
      'has its own `storeTimeout`, so its client can go without: `createClient({ commandOptions: { timeout: 0 } })`. ' +
      'Both Redis variants of the HTTP benchmark use that setting.', '', redisClientMarkdown(results.redis), '');
  }
  if (results.seal) {
    parts.push('## Sealing', '', 'One seal + unseal of `{ views: 1 }`. cookie-session is replicated with `keygrip` ' +
      '(base64 JSON, HMAC-SHA1 signature), the way `cookies` signs it; it does not encrypt.', '', sealMarkdown(results.seal), '');
  }
  return parts.filter((p, i, all) => !(p === '' && all[i - 1] === '')).join('\n');
}

/** One table: extra server CPU µs per request over raw, variant × scenario. */
function headline(http) {
  const scenarioNames = Object.keys(http);
  const rows = variants.filter((v) => v !== 'raw').map((variant) => [variant, ...scenarioNames.flatMap((s) => {
    const r = http[s][variant];
    if (r.skipped) return ['skipped', ''];
    return [fmt(r.extraUsPerReq, 1), `${fmt(r.ratioToRaw, 2)}×`];
  })]);
  const raw = scenarioNames.map((s) => fmt(http[s].raw?.cpuUsPerReq, 1)).join(' / ');
  return ['## Headline: extra server CPU per request over raw node:http', '',
    `Raw node:http itself used ${raw} µs/req (${scenarioNames.join(' / ')}).`, '',
    table(['variant', ...scenarioNames.flatMap((s) => [`${s} µs/req`, 'req/s vs raw'])], rows)].join('\n');
}

/** Where the Redis and PostgreSQL variants ran (host and port only: a URL may hold a password). */
function databaseServers() {
  const where = (name, url) => {
    if (!url) return `${name} not set (its variants skipped)`;
    try {
      return `${name} at ${new URL(url).host}`;
    } catch {
      return `${name} set`;
    }
  };
  return `${where('REDIS_URL', process.env.REDIS_URL)}, ${where('DATABASE_URL', process.env.DATABASE_URL)}; ` +
    'both variants of a database share its server; SQLite: one better-sqlite3 file per server process, WAL';
}

/** What Redis and PostgreSQL themselves spend per request, variant × scenario. */
function databaseCpu(http) {
  const scenarioNames = Object.keys(http);
  const names = variants.filter((v) => ['redis', 'postgres'].includes(infoOf(v).database));
  if (names.length === 0) return '';
  const rows = names.map((variant) => [variant, ...scenarioNames.map((s) => {
    const r = http[s][variant];
    if (!r || r.skipped) return 'skipped';
    return r.databaseUsPerReq === undefined ? (r.databaseNote ?? '—') : fmt(r.databaseUsPerReq, 1);
  })]);
  return ['## Database servers: CPU per request', '',
    'CPU time of the database server during the timed load divided by the requests served, besides the Node ' +
    "process's own. Redis: `INFO cpu` (user + sys). PostgreSQL: every process of the server (the connections' " +
    'backends, WAL writer, checkpointer, autovacuum…) from /proc/PID/stat. SQLite runs inside the Node process, so ' +
    'its cost is in the server CPU column.', '',
    table(['variant', ...scenarioNames.map((s) => `${s} µs/req`)], rows)].join('\n');
}

/**
 * The targets of issue #15, each a ratio taken in this run. Many visitors means the many-modify
 * scenario (2,000 small sessions that every request changes, as the issue measured them).
 */
function targets() {
  const http = results.http ?? {};
  const rows = [];
  const lostIn = (scenario, names) => names.some((v) => http[scenario]?.[v]?.lost > 0);
  // `ahead`: the goal is to beat `goal`, not just to reach it.
  const add = (what, goal, value, ahead, scenario, names) => {
    const measured = value !== undefined && Number.isFinite(value);
    const met = ahead ? value > goal : value >= goal;
    const by = ` (${fmt(Math.abs(value / goal - 1) * 100)}% ${value >= goal ? 'above' : 'below'} the goal)`;
    const warning = lostIn(scenario, names) ? '; **updates lost, see the counts**' : '';
    rows.push([what, `${ahead ? '>' : '≥'} ${fmt(goal, 2)}×`, measured ? `${fmt(value, 2)}×` : 'not measured',
      measured ? `${met ? 'met' : 'missed'}${by}${warning}` : '—']);
  };
  const many = http['many-modify'];
  const versus = (a, b) => ratioBetween(many, a, b);
  add('MemoryStore, many visitors: req/s vs raw node:http', 0.93, versus('plain-session-memory', 'raw'), false,
    'many-modify', ['plain-session-memory']);
  add('MemoryStore, one returning visitor, concurrent requests that modify: req/s vs raw', 0.85,
    ratioBetween(http['returning-modify'], 'plain-session-memory', 'raw'), false, 'returning-modify', ['plain-session-memory']);
  const pairs = [
    ['RedisStore', 'plain-session-redis', 'express-session + connect-redis (same Redis)',
      'express-session+connect-redis', 2],
    ['PostgresStore', 'plain-session-postgres', 'express-session + connect-pg-simple (same PostgreSQL)',
      'express-session+connect-pg-simple', 1.5],
    ['CookieStore', 'plain-session-cookie', 'cookie-session', 'cookie-session', 2],
  ];
  for (const [store, ours, peerName, peer, goal] of pairs) {
    add(`${store}, many visitors: req/s vs ${peerName}`, goal, versus(ours, peer), false, 'many-modify', [ours, peer]);
  }
  add('SqliteStore, many visitors: req/s vs express-session + better-sqlite3-session-store', 1,
    versus('plain-session-sqlite', 'express-session+better-sqlite3-session-store'), true, 'many-modify',
    ['plain-session-sqlite', 'express-session+better-sqlite3-session-store']);
  const heap = results.heap?.find((r) => r.variant === 'plain-session-memory')?.bytesPerSession;
  const heapRow = ['MemoryStore heap per small `{ views }` session (the aim of §5), bytes', '≤ 150',
    heap === undefined ? 'not measured' : fmt(heap), heap === undefined ? '—' : heap <= 150 ? 'met' : 'missed'];
  return ['## Targets (issue #15)', '',
    'Ratios of req/s taken in this run (the median over rounds of the ratio within each round). "Many visitors" is the ' +
    'many-modify scenario.', '',
    table(['target', 'goal', 'this run', ''], [...rows, heapRow])].join('\n');
}
