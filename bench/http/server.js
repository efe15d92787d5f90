// One benchmark server: `node bench/http/server.js VARIANT SCENARIO`.
//
// Listens on 127.0.0.1 with a free port and prints `port N` (and, when forked, sends
// `{ type: 'ready', port }`). It measures its own CPU with `process.cpuUsage()` between a start
// and a stop signal, so the number covers the server process only, never the load generator:
//   forked:      send 'start' / 'stop'; the reply to 'stop' is `{ type: 'stopped', cpuUs, requests, ms }`
//   standalone:  GET /__bench/start, then GET /__bench/stop answers the same JSON.
// Control requests are not counted. A variant that cannot run prints `skip REASON` (or sends
// `{ type: 'skip', reason }`) and exits 0.

import { createServer } from 'node:http';
import { infoOf, Skip, SCENARIOS, VARIANTS } from './variants.js';

const [variantName, scenario] = process.argv.slice(2);
if (!VARIANTS[variantName] || !SCENARIOS.includes(scenario)) {
  console.error(`usage: node bench/http/server.js VARIANT SCENARIO
  VARIANT:  ${Object.keys(VARIANTS).join(' | ')}
  SCENARIO: ${SCENARIOS.join(' | ')}`);
  process.exit(2);
}

function tell(message, then = () => {}) {
  if (process.send) return process.send(message, then);
  console.log(message.type === 'ready' ? `port ${message.port}` : JSON.stringify(message));
  then();
}

let variant;
try {
  variant = await VARIANTS[variantName](scenario);
} catch (error) {
  if (!(error instanceof Skip)) throw error;
  tell({ type: 'skip', reason: error.message }, () => process.exit(0));
  await new Promise(() => {}); // exit once the message is out
}

let requests = 0;
let cpuAtStart = process.cpuUsage();
let timeAtStart = performance.now();

function start() {
  requests = 0;
  cpuAtStart = process.cpuUsage();
  timeAtStart = performance.now();
}

function stop() {
  const cpu = process.cpuUsage(cpuAtStart);
  return { type: 'stopped', cpuUs: cpu.user + cpu.system, requests, ms: performance.now() - timeAtStart };
}

const { handler } = variant;
const server = createServer((req, res) => {
  if (req.url.startsWith('/__bench/')) {
    if (req.url === '/__bench/start') start();
    const body = req.url === '/__bench/stop' ? stop() : { ok: true };
    res.setHeader('Content-Type', 'application/json');
    return res.end(JSON.stringify(body));
  }
  requests += 1;
  handler(req, res);
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());

async function shutdown() {
  server.closeAllConnections?.();
  server.close();
  // Requests that were in flight when the load stopped may still be in their handlers, waiting on
  // a database: let them finish before its client goes, or they log errors for nothing.
  if (infoOf(variantName).database) await sleep(300);
  // Database variants drop their keys or table here; give them a few seconds, not forever.
  await Promise.race([variant.close?.(), sleep(5000)]);
  process.exit(0);
}

process.on('message', (message) => {
  if (message === 'start') start();
  else if (message === 'stop') tell(stop());
  else if (message === 'exit') void shutdown();
});
// If the harness dies, so do we: no stray servers left behind.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));

server.listen(0, '127.0.0.1', () => tell({ type: 'ready', port: server.address().port }));
