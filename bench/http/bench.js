// The HTTP benchmark: every variant under every scenario, in interleaved rounds.
//
// For each scenario and round, each variant gets a fresh server process (bench/http/server.js).
// The harness checks that the server really counts views per session, warms it up, then runs
// autocannon (10 connections, loopback) from this process while the server measures its own CPU
// and, for Redis and PostgreSQL, the harness samples the database server's CPU (lib/db-cpu.js).
// Rounds are interleaved (A B C … A B C …) so a slow moment of the machine hits every variant, and
// the report takes medians over rounds. The headline is the server's extra CPU per request over
// raw node:http in the same round: it stays stable on a noisy machine where req/s does not.
//
// Two kinds of scenario: one returning visitor (the same cookie on every request, pipelined), and
// many visitors (N sessions made up front, each request names the next: http/visitors.js).

import autocannon from 'autocannon';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nextMessage, spawnChild, stopChild } from '../lib/children.js';
import { closeDatabaseCpu, databaseCpu } from '../lib/db-cpu.js';
import { fmt, median, table } from '../lib/stats.js';
import { cookieHeader, get } from './client.js';
import { infoOf, isManyVisitors } from './variants.js';
import { makeVisitors } from './visitors.js';

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
    sampleInt: 100, // autocannon looks at the clock once per sample: this ends short loads on time
    headers: cookie ? { cookie } : {},
  });
  return result;
}

/** Throws unless every request of an autocannon run was answered with a 2xx. */
function expectAnswered(result, what) {
  const failures = result.errors + result.timeouts + result.non2xx;
  if (failures > 0) throw new Error(`${what}: ${failures} failed requests under load`);
  return result;
}

/**
 * One measured run of one variant: a fresh server, the check, a warm-up, then the timed load.
 * Many-visitors scenarios make their sessions first, check the counts before timing (one request
 * per session) and again after the timed load.
 */
async function measure(variant, scenario, settings) {
  const { duration, warmup, sessions } = settings;
  const many = isManyVisitors(scenario);
  const pipelining = many ? settings.manyPipelining : settings.pipelining;
  const what = `${variant} / ${scenario}`;
  const server = await startServer(variant, scenario);
  if (server.skipped) return { skipped: server.skipped };
  const { child, port } = server;
  try {
    let run;
    let visitors;
    let before;
    if (many) {
      visitors = await makeVisitors(port, variant, scenario, sessions);
      await visitors.visitOnce();
      before = await visitors.check();
      run = (seconds) => visitors.load({ duration: seconds, pipelining });
    } else {
      const cookie = await check(port, variant, scenario);
      run = (seconds) => load(port, cookie, seconds, pipelining);
    }
    if (warmup > 0) expectAnswered(await run(warmup), what);

    const { database } = infoOf(variant);
    const sampler = database ? await databaseCpu(database) : undefined;
    const databaseBefore = await sampler?.read?.();
    const stopped = nextMessage(child, (m) => (m?.type === 'stopped' ? m : undefined), 60_000, `server ${variant}`);
    child.send('start');
    const result = await run(duration);
    child.send('stop');
    const { cpuUs, requests } = await stopped;
    const databaseAfter = await sampler?.read?.();
    expectAnswered(result, what);

    const after = many ? await visitors.check() : undefined;
    return {
      reqPerSec: result.requests.total / result.duration,
      p50: result.latency.p50,
      p99: result.latency.p99,
      cpuUsPerReq: cpuUs / requests,
      databaseUsPerReq: sampler?.read ? (databaseAfter - databaseBefore) / requests : undefined,
      databaseNote: database === 'sqlite' ? 'in process' : sampler?.unavailable,
      checked: many ? after.checked : undefined,
      lost: many ? before.lost + after.lost : undefined,
      requests,
    };
  } finally {
    await stopChild(child);
  }
}

/**
 * Runs every variant under every scenario for `rounds` interleaved rounds and returns, per scenario
 * and variant, the medians and the per-round samples (or `skipped` with the reason).
 *
 * settings: rounds, duration and warmup (seconds), pipelining (one-session scenarios),
 * manyPipelining and sessions (many-visitors scenarios).
 * A variant that cannot run here is skipped, except a database variant under CI=true: CI starts
 * Redis and PostgreSQL, so there a missing server is an error, not a reason to measure less.
 */
export async function runHttp({ variants, scenarios, log = console.log, ...settings }) {
  // SQLite files go here; the folder goes when this process exits, even after a failure.
  const scratch = mkdtempSync(join(tmpdir(), 'plain-session-bench-'));
  process.env.BENCH_TMPDIR = scratch;
  const removeScratch = () => rmSync(scratch, { recursive: true, force: true });
  process.once('exit', removeScratch);
  try {
    // Warm up the load generator itself (it runs in this process), so the first variant measured
    // does not meet a cold autocannon that sends requests more slowly than it will later.
    await measure('raw', 'anonymous', { ...settings, duration: settings.warmup });
    const results = {};
    for (const scenario of scenarios) {
      const samples = Object.fromEntries(variants.map((v) => [v, []]));
      const skipped = {};
      for (let round = 1; round <= settings.rounds; round++) {
        for (const variant of variants) {
          if (skipped[variant]) continue;
          const sample = await measure(variant, scenario, settings);
          if (sample.skipped) {
            if (process.env.CI === 'true' && infoOf(variant).database) {
              throw new Error(`${variant} cannot run (${sample.skipped}), and CI=true: CI must run every database ` +
                'variant (source .ci/services.sh first)');
            }
            skipped[variant] = sample.skipped;
            log(`  ${scenario} ${variant}: skipped (${sample.skipped})`);
            continue;
          }
          samples[variant].push(sample);
          const database =
            sample.databaseUsPerReq === undefined ? '' : `  + ${fmt(sample.databaseUsPerReq, 1)} µs database CPU/req`;
          const lost = sample.lost > 0 ? `  LOST ${fmt(sample.lost)} updates in ${sample.checked} sessions checked` : '';
          log(`  ${scenario} round ${round}/${settings.rounds} ${variant.padEnd(44)} ${fmt(sample.reqPerSec).padStart(7)} req/s  ` +
            `${fmt(sample.cpuUsPerReq, 1).padStart(7)} µs CPU/req${database}${lost}`);
        }
      }
      results[scenario] = summarize(variants, samples, skipped);
    }
    return results;
  } finally {
    await closeDatabaseCpu();
    removeScratch();
  }
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
    const sum = (key) => (own.some((s) => s[key] !== undefined) ? own.reduce((total, s) => total + (s[key] ?? 0), 0) : undefined);
    rows[variant] = {
      reqPerSec: median(own.map((s) => s.reqPerSec)),
      ratioToRaw: median(ratio),
      p50: median(own.map((s) => s.p50)),
      p99: median(own.map((s) => s.p99)),
      cpuUsPerReq: median(own.map((s) => s.cpuUsPerReq)),
      extraUsPerReq: median(extra),
      databaseUsPerReq: own.some((s) => s.databaseUsPerReq !== undefined)
        ? median(own.map((s) => s.databaseUsPerReq))
        : undefined,
      databaseNote: own[0]?.databaseNote,
      checked: sum('checked'),
      lost: sum('lost'),
      rounds: own.length,
      samples: own,
    };
  }
  return rows;
}

/**
 * The median over rounds of `a`'s req/s divided by `b`'s in the same round, in `scenarioResults`
 * (one scenario's rows); undefined when either was not measured.
 */
export function ratioBetween(scenarioResults, a, b) {
  const x = scenarioResults?.[a]?.samples;
  const y = scenarioResults?.[b]?.samples;
  if (!x?.length || !y?.length) return undefined;
  return median(x.map((s, i) => (y[i] ? s.reqPerSec / y[i].reqPerSec : NaN)));
}

const SCENARIO_TITLES = {
  'many-modify': 'Many visitors, each session modified',
  'many-read': 'Many visitors, each session only read',
  'returning-modify': 'One returning visitor, session modified',
  'returning-read': 'One returning visitor, session only read',
  anonymous: 'Anonymous visitor, session never touched',
  new: 'New visitor, a session created on every request',
};

/** What the many-visitors check found for one variant. */
function countsChecked(variant, r) {
  const info = infoOf(variant);
  if (info.noSessions) return 'no sessions';
  if (info.clientSide) return `cookie-based: ${fmt(r.checked)} sessions read 1`;
  return r.lost > 0 ? `**lost ${fmt(r.lost)} updates** in ${fmt(r.checked)} sessions` : `exact in ${fmt(r.checked)} sessions`;
}

/**
 * The HTTP results as markdown, one table per scenario. `settings` (pipelining, manyPipelining,
 * sessions) go into each table's title line.
 */
export function httpMarkdown(results, settings = {}) {
  const parts = [];
  for (const [scenario, rows] of Object.entries(results)) {
    const many = isManyVisitors(scenario);
    const how = many
      ? `${fmt(settings.sessions)} sessions made up front, each request names the next; pipelining ${settings.manyPipelining}`
      : `pipelining ${settings.pipelining}`;
    parts.push(`### ${SCENARIO_TITLES[scenario] ?? scenario}\n`, `10 connections, ${how}.\n`);
    const body = Object.entries(rows).map(([variant, r]) => {
      if (r.skipped) return [variant, `skipped: ${r.skipped}`, '', '', '', '', '', '', ...(many ? [''] : [])];
      const database = r.databaseUsPerReq !== undefined ? fmt(r.databaseUsPerReq, 1) : (r.databaseNote ?? '');
      return [variant, fmt(r.extraUsPerReq, 1), fmt(r.cpuUsPerReq, 1), database, fmt(r.reqPerSec), `${fmt(r.ratioToRaw, 2)}×`,
        fmt(r.p50, 0), fmt(r.p99, 0), ...(many ? [countsChecked(variant, r)] : [])];
    });
    parts.push(table(['variant', 'extra CPU µs/req over raw', 'server CPU µs/req', 'database server CPU µs/req', 'req/s',
      'req/s vs raw', 'p50 ms', 'p99 ms', ...(many ? ['counts checked'] : [])], body));
    parts.push('');
  }
  return parts.join('\n');
}
