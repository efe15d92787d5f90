// The HTTP benchmark: every variant under every scenario, in interleaved rounds.
//
// For each scenario and round, each variant gets a fresh server process (bench/http/server.js).
// The harness checks that the server really counts views per session, warms it up, then runs
// autocannon (10 connections, loopback) from this process while the server measures its own CPU.
// Rounds are interleaved (A B C … A B C …) so a slow moment of the machine hits every variant, and
// the report takes medians over rounds. The headline is the server's extra CPU per request over
// raw node:http in the same round: it stays stable on a noisy machine where req/s does not.

import autocannon from 'autocannon';
import { fileURLToPath } from 'node:url';
import { nextMessage, spawnChild, stopChild } from '../lib/children.js';
import { fmt, median, table } from '../lib/stats.js';

const serverScript = fileURLToPath(new URL('./server.js', import.meta.url));

/** Starts a server for `variant` × `scenario`; resolves to `{ child, port }` or `{ skipped }`. */
async function startServer(variant, scenario) {
  const child = spawnChild(serverScript, [variant, scenario]);
  const message = await nextMessage(
    child,
    (m) => (m?.type === 'ready' || m?.type === 'skip' ? m : undefined),
    30_000,
    `server ${variant} ${scenario}`,
  );
  if (message.type === 'skip') {
    await stopChild(child);
    return { skipped: message.reason };
  }
  return { child, port: message.port };
}

// A minimal cookie jar, the way a browser would keep the cookies between the check's requests.
function remember(jar, setCookies) {
  for (const line of setCookies) {
    const pair = line.split(';', 1)[0];
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = value === '' || /;\s*max-age=0\b/i.test(line) || /;\s*expires=[^;]*1970/i.test(line);
    if (expired) jar.delete(name);
    else jar.set(name, value);
  }
}
const cookieHeader = (jar) => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');

async function get(port, path, jar) {
  const headers = jar.size > 0 ? { cookie: cookieHeader(jar) } : {};
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${body}`);
  const setCookies = response.headers.getSetCookie();
  remember(jar, setCookies);
  return { body, count: Number(body), setCookies };
}

/**
 * Checks that the variant does what the scenario claims before any timing, and returns the
 * Cookie header the load generator should send (undefined for visitors without a cookie).
 * Throws with the evidence if the variant does not count views per session.
 */
async function check(port, variant, scenario) {
  const raw = variant === 'raw';
  const expect = (ok, message) => {
    if (!ok) throw new Error(`check failed for ${variant} / ${scenario}: ${message}`);
  };
  if (scenario === 'anonymous') {
    const { body, setCookies } = await get(port, '/', new Map());
    expect(body === 'ok', `expected "ok", got ${JSON.stringify(body)}`);
    expect(setCookies.length === 0, `an anonymous request got Set-Cookie: ${setCookies}`);
    return undefined;
  }
  if (scenario === 'new') {
    for (let i = 0; i < 2; i++) {
      const { count, setCookies } = await get(port, '/', new Map());
      expect(raw || count === 1, `a new visitor should see 1, saw ${count}`);
      expect(raw || setCookies.length > 0, 'a new session set no cookie');
    }
    return undefined;
  }
  // A returning visitor: the session is created once, and its cookie is sent on every request.
  const jar = new Map();
  const setup = await get(port, '/setup', jar);
  expect(raw || jar.size > 0, 'creating the session set no cookie');
  expect(Number.isInteger(setup.count), `expected a count, got ${JSON.stringify(setup.body)}`);
  const loadCookie = jar.size > 0 ? cookieHeader(jar) : undefined;
  const first = await get(port, '/', jar);
  const second = await get(port, '/', jar);
  if (scenario === 'returning-modify') {
    expect(first.count === setup.count + 1 && second.count === first.count + 1,
      `two requests should count up by 1 each: ${setup.count} → ${first.count} → ${second.count}`);
    if (!raw) {
      const stranger = await get(port, '/', new Map());
      expect(stranger.count === 1, `a visitor without the cookie should see 1, saw ${stranger.count}`);
    }
  } else {
    expect(first.count === setup.count && second.count === setup.count && (raw || setup.count >= 1),
      `reading should give the stored count: ${setup.count} → ${first.count} → ${second.count}`);
  }
  return loadCookie;
}

async function load(port, cookie, seconds, pipelining) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections: 10,
    pipelining,
    duration: seconds,
    headers: cookie ? { cookie } : {},
  });
  return result;
}

/** One measured run of one variant: a fresh server, the check, a warm-up, then the timed load. */
async function measure(variant, scenario, { duration, warmup, pipelining }) {
  const server = await startServer(variant, scenario);
  if (server.skipped) return { skipped: server.skipped };
  const { child, port } = server;
  try {
    const cookie = await check(port, variant, scenario);
    if (warmup > 0) await load(port, cookie, warmup, pipelining);
    const stopped = nextMessage(child, (m) => (m?.type === 'stopped' ? m : undefined), 60_000, `server ${variant}`);
    child.send('start');
    const result = await load(port, cookie, duration, pipelining);
    child.send('stop');
    const { cpuUs, requests } = await stopped;
    const failures = result.errors + result.timeouts + result.non2xx;
    if (failures > 0) throw new Error(`${variant} / ${scenario}: ${failures} failed requests under load`);
    return {
      reqPerSec: result.requests.total / result.duration,
      p50: result.latency.p50,
      p99: result.latency.p99,
      cpuUsPerReq: cpuUs / requests,
      requests,
    };
  } finally {
    await stopChild(child);
  }
}

/**
 * Runs every variant under every scenario for `rounds` interleaved rounds and returns, per scenario
 * and variant, the medians and the per-round samples (or `skipped` with the reason).
 */
export async function runHttp({ variants, scenarios, rounds, duration, warmup, pipelining = 10, log = console.log }) {
  // Warm up the load generator itself (it runs in this process), so the first variant measured
  // does not meet a cold autocannon that sends requests more slowly than it will later.
  await measure('raw', 'anonymous', { duration: warmup, warmup, pipelining });
  const results = {};
  for (const scenario of scenarios) {
    const samples = Object.fromEntries(variants.map((v) => [v, []]));
    const skipped = {};
    for (let round = 1; round <= rounds; round++) {
      for (const variant of variants) {
        if (skipped[variant]) continue;
        const sample = await measure(variant, scenario, { duration, warmup, pipelining });
        if (sample.skipped) {
          skipped[variant] = sample.skipped;
          log(`  ${scenario} ${variant}: skipped (${sample.skipped})`);
          continue;
        }
        samples[variant].push(sample);
        log(`  ${scenario} round ${round}/${rounds} ${variant.padEnd(30)} ${fmt(sample.reqPerSec).padStart(7)} req/s  ` +
          `${fmt(sample.cpuUsPerReq, 1).padStart(7)} µs CPU/req`);
      }
    }
    results[scenario] = summarize(variants, samples, skipped);
  }
  return results;
}

function summarize(variants, samples, skipped) {
  const raw = samples.raw ?? [];
  const rows = {};
  for (const variant of variants) {
    if (skipped[variant]) {
      rows[variant] = { skipped: skipped[variant] };
      continue;
    }
    const own = samples[variant];
    // Compare with raw in the same round, then take the median of those differences.
    const extra = own.map((s, i) => (raw[i] ? s.cpuUsPerReq - raw[i].cpuUsPerReq : NaN));
    const ratio = own.map((s, i) => (raw[i] ? s.reqPerSec / raw[i].reqPerSec : NaN));
    rows[variant] = {
      reqPerSec: median(own.map((s) => s.reqPerSec)),
      ratioToRaw: median(ratio),
      p50: median(own.map((s) => s.p50)),
      p99: median(own.map((s) => s.p99)),
      cpuUsPerReq: median(own.map((s) => s.cpuUsPerReq)),
      extraUsPerReq: median(extra),
      rounds: own.length,
      samples: own,
    };
  }
  return rows;
}

const SCENARIO_TITLES = {
  'returning-modify': 'Returning visitor, session modified',
  'returning-read': 'Returning visitor, session only read',
  anonymous: 'Anonymous visitor, session never touched',
  new: 'New visitor, a session created on every request',
};

/** The HTTP results as markdown, one table per scenario. */
export function httpMarkdown(results) {
  const parts = [];
  for (const [scenario, rows] of Object.entries(results)) {
    parts.push(`### ${SCENARIO_TITLES[scenario] ?? scenario}\n`);
    const body = Object.entries(rows).map(([variant, r]) =>
      r.skipped
        ? [variant, `skipped: ${r.skipped}`, '', '', '', '', '']
        : [variant, fmt(r.extraUsPerReq, 1), fmt(r.cpuUsPerReq, 1), fmt(r.reqPerSec), `${fmt(r.ratioToRaw, 2)}×`,
          fmt(r.p50, 0), fmt(r.p99, 0)]);
    parts.push(table(['variant', 'extra CPU µs/req over raw', 'server CPU µs/req', 'req/s', 'req/s vs raw',
      'p50 ms', 'p99 ms'], body));
    parts.push('');
  }
  return parts.join('\n');
}
