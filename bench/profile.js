// Where a variant's server spends its CPU: `node bench/profile.js VARIANT [SCENARIO] [SECONDS]`.
//
// Starts `http/server.js VARIANT SCENARIO` under `node --cpu-prof`, makes the visitors (many-visitors
// scenarios, 2,000 sessions) or the returning visitor's cookie, runs the load the benchmark runs
// (10 connections; no pipelining for many visitors, 10 for one visitor) for SECONDS (default 8),
// then prints the functions with the most self time, and the inclusive time of plain-session's own
// functions (lib/ in dist/). The .cpuprofile stays in a temporary folder, named in the output, for
// Chrome DevTools. This is the tool behind the "what the profile shows" notes in ANALYSIS.md.

import autocannon from 'autocannon';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nextMessage, spawnChild, stopChild } from './lib/children.js';
import { get, cookieHeader } from './http/client.js';
import { isManyVisitors, SCENARIOS, VARIANTS } from './http/variants.js';
import { makeVisitors } from './http/visitors.js';

const [variant, scenario = 'many-modify', seconds = '8'] = process.argv.slice(2);
if (!VARIANTS[variant] || !SCENARIOS.includes(scenario)) {
  console.error(`usage: node bench/profile.js VARIANT [SCENARIO] [SECONDS]\n  VARIANT: ${Object.keys(VARIANTS).join(' | ')}\n  SCENARIO: ${SCENARIOS.join(' | ')}`);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'plain-session-profile-'));
process.env.BENCH_TMPDIR = dir;
const server = fileURLToPath(new URL('./http/server.js', import.meta.url));
const child = spawnChild(server, [variant, scenario], { execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
const ready = await nextMessage(child, (m) => (m?.type === 'ready' || m?.type === 'skip' ? m : undefined), 30_000, 'server');
if (ready.type === 'skip') {
  console.error(`skipped: ${ready.reason}`);
  process.exit(1);
}
const { port } = ready;

let run;
if (isManyVisitors(scenario)) {
  const visitors = await makeVisitors(port, variant, scenario, 2000);
  run = (duration) => visitors.load({ duration, pipelining: 1 });
} else {
  const jar = new Map();
  if (scenario.startsWith('returning')) await get(port, '/setup', jar);
  const cookie = jar.size > 0 ? cookieHeader(jar) : undefined;
  run = (duration) =>
    autocannon({ url: `http://127.0.0.1:${port}/`, connections: 10, pipelining: 10, duration, headers: cookie ? { cookie } : {} });
}
await run(1); // warm-up
const stopped = nextMessage(child, (m) => (m?.type === 'stopped' ? m : undefined), 60_000, 'server');
child.send('start');
const result = await run(Number(seconds));
child.send('stop');
const { cpuUs, requests } = await stopped;
console.log(`${variant} / ${scenario}: ${Math.round(result.requests.total / result.duration)} req/s, ` +
  `${(cpuUs / requests).toFixed(1)} µs server CPU per request`);
await stopChild(child); // the server exits through process.exit(), which writes the profile

const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
if (!file) {
  console.error(`no profile written in ${dir}`);
  process.exit(1);
}
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
summarize(profile);
console.log(`\nprofile: ${join(dir, file)}`);
process.exit(0);

function summarize({ nodes, samples, timeDeltas }) {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const self = new Map();
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i] ?? 0;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
    total += dt;
  }
  const name = (node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^.*\/(node_modules|dist|bench)\//, '$1/').replace(/^node:/, '')}:${lineNumber + 1}` : '';
    return `${functionName || '(anonymous)'} ${where}`.trim();
  };
  const selfByName = new Map();
  for (const [id, us] of self) {
    const key = name(byId.get(id));
    selfByName.set(key, (selfByName.get(key) ?? 0) + us);
  }
  const idle = [...selfByName].filter(([key]) => key.startsWith('(idle)')).reduce((s, [, us]) => s + us, 0);
  const busy = total - idle;
  console.log(`\nself time, % of busy samples (${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms):`);
  for (const [key, us] of [...selfByName].filter(([key]) => !key.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    console.log(`  ${((us / busy) * 100).toFixed(1).padStart(5)}%  ${key}`);
  }
  // Inclusive time of our own functions: a sample counts once per distinct function on its stack.
  const inclusive = new Map();
  for (const [id, us] of self) {
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (!node.callFrame.url.includes('/dist/')) continue;
      const key = name(node);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  console.log('\nplain-session functions, inclusive, % of busy samples:');
  for (const [key, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`  ${((us / busy) * 100).toFixed(1).padStart(5)}%  ${key}`);
  }
}
