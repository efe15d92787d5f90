// The benchmark harness: `npm run bench` (builds first), or `node bench/run.js [flags]`.
//
//   --smoke              one short round of everything (for CI: it keeps the harness from rotting)
//   --only=LIST          some of: http, heap, prune, parse, seal (comma-separated)
//   --duration=SECONDS   timed load per variant and round (default 5; env BENCH_DURATION)
//   --rounds=N           interleaved rounds (default 3; env BENCH_ROUNDS)
//   --warmup=SECONDS     load before each timed run, not measured (default 1)
//   --variants=LIST      HTTP variants to run (raw is always added: it is the baseline)
//   --scenarios=LIST     returning-modify, returning-read, anonymous, new
//   --pipelining=N       autocannon's requests in flight per connection (default 10; env BENCH_PIPELINING)
//   --out=FILE           where to write the markdown. A full run writes bench/RESULTS.md; a smoke
//                        or partial run only prints, unless --out is given.
// Env: REDIS_URL adds the Redis variants (express-session + connect-redis, plain-session's RedisStore).
//
// Every measuring process is a child of this one and is killed when it exits.

import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runChild } from './lib/children.js';
import { fmt, machine, table } from './lib/stats.js';
import { runHttp, httpMarkdown } from './http/bench.js';
import { HEAP_VARIANTS } from './http/heap.js';
import { SCENARIOS, variantNames } from './http/variants.js';
import { runPrune, pruneMarkdown } from './prune.js';
import { parseMarkdown } from './parse.js';
import { sealMarkdown } from './seal.js';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const SECTIONS = ['http', 'heap', 'prune', 'parse', 'seal'];

function parseFlags(argv) {
  const flags = {};
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new TypeError(`unknown argument ${arg} (see the top of bench/run.js)`);
    flags[match[1]] = match[2] ?? true;
  }
  const known = ['smoke', 'only', 'duration', 'rounds', 'warmup', 'variants', 'scenarios', 'pipelining', 'out'];
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
};
for (const [name, value] of Object.entries(settings)) {
  if (!(value > 0)) throw new RangeError(`${name} must be a number > 0, got ${value}`);
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
    `- HTTP: autocannon, 10 connections, pipelining ${settings.pipelining}, loopback; ${settings.rounds} interleaved ` +
      `round(s) of ${settings.duration} s after ${settings.warmup} s of warm-up; medians over rounds`,
    load === undefined ? '' : `- CPU busy with other work just before the run: ${fmt(load)}%`,
    `- Whole run: ${fmt(minutes, 1)} min. Method: bench/README.md`,
    '',
  ];
  if (results.http) parts.push(headline(results.http), '', targets(), '', '## HTTP', '', httpMarkdown(results.http));
  else if (results.heap || results.prune || results.parse) parts.push(targets(), '');
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

/** The targets of issue #5, each against what this run measured. */
function targets() {
  const rows = [];
  const add = (what, target, value, ok, digits = 1, unit = '') =>
    rows.push([what, target, value === undefined || Number.isNaN(value) ? 'not measured' : `${fmt(value, digits)}${unit}`,
      value === undefined || Number.isNaN(value) ? '—' : ok(value) ? 'met' : 'missed']);
  const http = results.http ?? {};
  const row = (scenario, variant) => http[scenario]?.[variant];
  const mem = (scenario) => row(scenario, 'plain-session-memory');
  add('MemoryStore, returning visitor (modify): extra µs/req', '≤ 1.5', mem('returning-modify')?.extraUsPerReq, (v) => v <= 1.5);
  add('MemoryStore, returning visitor (modify): req/s vs raw', '≥ 0.9×', mem('returning-modify')?.ratioToRaw, (v) => v >= 0.9, 2, '×');
  add('MemoryStore, anonymous visitor: extra µs/req', '≤ 0.5', mem('anonymous')?.extraUsPerReq, (v) => v <= 0.5);
  add('MemoryStore, new visitor: extra µs/req', '≤ 4', mem('new')?.extraUsPerReq, (v) => v <= 4);
  add('CookieStore, returning visitor (modify): extra µs/req', '≤ 6', row('returning-modify', 'plain-session-cookie')?.extraUsPerReq, (v) => v <= 6);
  const heap = results.heap?.find((r) => r.variant === 'plain-session-memory');
  add('MemoryStore heap per `{views}` session, bytes', '≤ 150', heap?.bytesPerSession, (v) => v <= 150, 0);
  const prune = (percent) => results.prune?.find((r) => r.store === 'plain-session MemoryStore' && r.percent === percent);
  add('Prune, 10% expired: largest event-loop delay, ms', '≤ 10', prune(10)?.maxDelayMs, (v) => v <= 10);
  add('Prune, nothing expired: pass, ms', '≤ 1', prune(0)?.passMs, (v) => v <= 1, 2);
  for (const r of results.parse?.results ?? []) add(`parseCookie vs cookie, ${r.header}`, '≥ 1.0×', r.ratio, (v) => v >= 1, 2, '×');
  return ['## Targets (issue #5)', '', table(['target', 'goal', 'this run', ''], rows)].join('\n');
}
