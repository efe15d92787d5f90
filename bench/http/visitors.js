// Many visitors: N sessions made up front, then a load in which each request names the next one.
//
// The sessions are made through the variant's own HTTP API: N `GET /setup` requests without a
// cookie (10 at a time), keeping the cookies each answer sets. During a load, the k-th request sent
// carries the cookie of session k mod N, whichever of the 10 connections sends it: autocannon calls
// `setupRequest` for every request, and one counter shared by all connections picks the cookie.
// So each session sees one request in every N, and two requests of one session are never in flight
// together (N is at least the number of requests in flight; run.js checks that).
//
// The checks, per session:
// - Before timing, every session gets one request of the scenario (10 at a time), and every answer
//   must be exact: 2 views after a modify, 1 after a read. A wrong answer stops the run, like the
//   one-session check.
// - Every load records, per session, the requests it sent and the ones answered (autocannon hands
//   `setupRequest` and `onResponse` the same per-request `context`; with pipelining each connection
//   reuses its context for several requests, so then only what was sent is known). After the timed
//   load, a server-side store must hold 1 (from /setup) + every answered request, and at most
//   1 + every request sent: a request still in flight when a load stopped may or may not have been
//   counted. Without that per-request record (pipelining > 1), each session gets a slack of one
//   request per load. A count below the least is a lost update: reported, not fatal, so a peer that
//   loses updates is still measured and shown as such. A count above what was sent, or a read that
//   changes a count, is a broken variant and stops the run.
// Cookie-based variants keep the session in the cookie, and the load sends the cookie from /setup
// every time, so each request counts from 1 and nothing adds up: for them the check is that every
// answer is 2 (or 1 for a read) and the cookie from /setup still reads 1.

import autocannon from 'autocannon';
import { cookieHeader, get, inParallel } from './client.js';
import { infoOf } from './variants.js';

/** How many sessions the checks read (evenly spread over the N). */
const SAMPLE = 100;

/**
 * Makes `n` sessions on the variant's server at `port` and returns the visitors: their cookies,
 * `visitOnce()` (the check before timing), `load(options)` for autocannon runs over them, and
 * `check()`, which reads a sample of sessions, throws for a broken variant and returns
 * `{ checked, lost }` (sessions read, views missing from their counts).
 */
export async function makeVisitors(port, variant, scenario, n) {
  const info = infoOf(variant);
  const cookies = await inParallel(n, 10, async () => {
    const jar = new Map();
    await get(port, '/setup', jar);
    return jar.size > 0 ? cookieHeader(jar) : undefined;
  });
  const sessionless = cookies.filter((cookie) => cookie === undefined).length;
  if (!info.noSessions && sessionless > 0) {
    throw new Error(`check failed for ${variant} / ${scenario}: ${sessionless} of ${n} /setup requests set no cookie`);
  }

  const sent = new Uint32Array(n); // requests each session was sent so far
  const answered = new Uint32Array(n); // and the ones answered with a 200
  let unknownAnswers = 0; // loads with pipelining, whose answers cannot be told apart per session
  let loads = 0;
  let next = 0;

  /** One autocannon run of `duration` seconds over the sessions in turn. */
  async function load({ duration, pipelining }) {
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/`,
      connections: 10,
      pipelining,
      duration,
      sampleInt: 100, // autocannon looks at the clock once per sample: this ends short loads on time
      requests: [
        {
          setupRequest(request, context) {
            const i = next;
            next = next + 1 === n ? 0 : next + 1;
            sent[i] += 1;
            context.session = i;
            if (cookies[i] !== undefined) request.headers.cookie = cookies[i];
            return request;
          },
          // Only asked for when it can be told which session answered (see the top of this file).
          ...(pipelining === 1 && {
            onResponse(status, body, context) {
              if (status === 200) answered[context.session] += 1;
            },
          }),
        },
      ],
    });
    loads += 1;
    if (pipelining !== 1) unknownAnswers += 1;
    return result;
  }

  const expect = (ok, message) => {
    if (!ok) throw new Error(`check failed for ${variant} / ${scenario}: ${message}`);
  };
  const modify = scenario === 'many-modify';

  /** Before timing: one request of the scenario per session, every answer checked. */
  async function visitOnce() {
    if (info.noSessions) return;
    const answers = await inParallel(n, 10, (i) => get(port, '/', peekJar(cookies[i])));
    for (const [i, { body }] of answers.entries()) {
      sent[i] += 1;
      answered[i] += 1;
      expect(body === (modify ? '2' : '1'), `session ${i}, made by /setup, answered ${JSON.stringify(body)} to its ` +
        `first ${modify ? 'modifying' : 'reading'} request (expected ${modify ? 2 : 1})`);
    }
  }

  const sample = Array.from({ length: Math.min(SAMPLE, n) }, (_, k) => Math.floor((k * n) / Math.min(SAMPLE, n)));

  /** Reads the sampled sessions' counts and compares them with what the loads sent. */
  async function check() {
    if (info.noSessions) return { checked: 0, lost: 0 };
    // A request still being handled when its load stopped may land a moment later.
    if (loads > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    const counts = await inParallel(sample.length, 10, (k) => get(port, '/peek', peekJar(cookies[sample[k]])));
    let lost = 0;
    for (const [k, { count, body }] of counts.entries()) {
      const i = sample[k];
      if (!modify || info.clientSide) {
        const why = modify ? 'its cookie from /setup is sent unchanged' : 'made by /setup, then only read';
        expect(count === 1, `session ${i} should still read 1 (${why}), read ${JSON.stringify(body)}`);
        continue;
      }
      const most = 1 + sent[i];
      const least = unknownAnswers > 0 ? most - unknownAnswers : 1 + answered[i];
      expect(Number.isInteger(count), `session ${i}: expected a count, got ${JSON.stringify(body)}`);
      expect(count <= most, `session ${i} counted ${count} views but was sent only ${sent[i]} requests after /setup`);
      if (count < least) lost += least - count;
    }
    if (modify) {
      const stranger = await get(port, '/', new Map());
      expect(stranger.count === 1, `a visitor without a cookie should see 1, saw ${stranger.count}`);
    }
    return { checked: sample.length, lost };
  }

  return { cookies, visitOnce, load, check };
}

/** A jar holding the cookies of one Cookie header, for the checks' own requests. */
function peekJar(header) {
  const jar = new Map();
  for (const pair of header.split('; ')) {
    const eq = pair.indexOf('=');
    jar.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return jar;
}
