// The attack lab (/lab/): experiments that attack the three session techniques with real requests,
// and show what the server did and why.
//
// Each experiment (tamper.js, steal.js, fixation.js, tabs.js, expiry.js) runs on variants of the
// demo's own techniques: the same Map, the same SQLite table, the same secret, with a cookie
// scoped to the experiment's path, so an experiment never touches the shop's carts.
//
// Your browser makes your requests: one click on "Run" starts a chain of requests, each answered
// with a redirect to the next step (307 keeps a POST a POST), so the browser sends each one with the
// cookie the previous answer gave it. The attacker's requests come from the demo's server side: it
// sends them to itself over loopback (attacker.js), as a second browser would.
import { parseCookie } from 'plain-session';
import { html } from '../html.js';
import { renderInspector } from '../inspector.js';
import { layout, messagePage } from '../pages.js';
import { readForm, redirect, sendPage } from '../respond.js';
import { commit, cookieAfter, noteChanges, open, setCookieLines } from '../steps.js';
import { note, short, traceLines } from '../trace.js';
import { createAttacker } from './attacker.js';
import { plantLine, sessionIdOf } from './cookies.js';
import { entryList, experimentPage, labIndex } from './lab-pages.js';
import { createRuns } from './runs.js';
import { expiry } from './expiry.js';
import { fixation } from './fixation.js';
import { steal } from './steal.js';
import { tabs } from './tabs.js';
import { tamper } from './tamper.js';

const EXPERIMENTS = [tamper, steal, fixation, tabs, expiry];

/**
 * Sets up every experiment on the demo's techniques. `server` is the demo's HTTP server: the
 * attacker sends its requests to it over loopback.
 */
export async function createLab({ techniques, server }) {
  const base = Object.fromEntries(techniques.map((t) => [t.key, t]));
  const runs = createRuns();
  const attacker = createAttacker(server);
  const labs = [];
  for (const experiment of EXPERIMENTS) {
    const variants = await experiment.setUp(base, (key) => `/lab/${experiment.key}/${key}`);
    labs.push({ experiment, variants });
  }
  const findLab = (key) => labs.find((l) => l.experiment.key === key);

  async function route(req, res, url, method) {
    const parts = url.pathname.split('/').slice(2); // '/lab/steal/memory/run' → ['steal', 'memory', 'run']
    if (parts.length === 0) return redirect(res, 308, '/lab/');
    if (parts.length === 1 && parts[0] === '') {
      if (method !== 'GET') return notAllowed(res, 'GET, HEAD');
      return sendPage(res, 200, layout({ title: 'Attack lab', techniques, lab: true, body: labIndex(labs) }));
    }
    const lab = findLab(parts[0]);
    if (lab === undefined) return notFound(res);
    if (parts.length === 1 || (parts.length === 2 && parts[1] === '')) return redirect(res, 303, `${lab.variants[0].path}/`);
    const t = lab.variants.find((v) => v.key === parts[1]);
    if (t === undefined) return notFound(res);
    if (parts.length === 2) return redirect(res, 308, `${t.path}/`);
    const action = parts.slice(2).join('/');
    const ctx = context(lab, t, req, res, url);

    if (action === '') {
      if (method !== 'GET') return notAllowed(res, 'GET, HEAD');
      return showPage(ctx);
    }
    if (action === 'account' || action === 'whoami') {
      if (method !== 'GET' && !(action === 'whoami' && method === 'POST')) return notAllowed(res, action === 'whoami' ? 'GET, HEAD, POST' : 'GET, HEAD');
      return account(ctx, action === 'whoami', method === 'POST');
    }
    const handler = lab.experiment.actions?.[action];
    if (handler !== undefined) {
      if (method !== handler.method) return notAllowed(res, handler.method === 'GET' ? 'GET, HEAD' : handler.method);
      return handler.handle(ctx);
    }
    if (action === 'run' || action === 'step') {
      if (method !== 'POST') return notAllowed(res, 'POST');
      return chain(ctx, action);
    }
    return notFound(res);
  }

  /** Everything a step of an experiment needs for one request. */
  function context(lab, t, req, res, url) {
    const ctx = {
      lab,
      experiment: lab.experiment,
      t,
      req,
      res,
      url,
      runs,
      run: runs.get(url.searchParams.get('run'), lab.experiment.key, t.key),
      /** Loads this request's session on the experiment's manager (notes the trace). */
      open: () => open(t, req, t.sessions),
      /** Commits it and answers the Set-Cookie lines. */
      commit: (session) => commit(t, session, res, t.sessions),
      /** The cookie value this request carries for the experiment, if any. */
      cookie: () => parseCookie(req.headers.cookie)[t.cookieName],
      /** The attacker's request, sent from the server side over loopback; recorded in the run. */
      attack: async (title, { method = 'GET', cookie, form } = {}) => {
        const entry = await attacker.send(`${t.path}/whoami`, { method, cookieName: t.cookieName, cookie, form });
        entry.title = title;
        ctx.run.entries.push(entry);
        note('lab', `${title}: the attacker’s ${method} ${t.path}/whoami with ${cookie === undefined ? 'no cookie' : `${t.cookieName}=${short(cookie)}`} got ${entry.status}${entry.result.user ? `, logged in as ${entry.result.user}` : ', not logged in'}`);
        return entry;
      },
      /**
       * Puts `value` into the visitor's browser as the experiment's cookie, as an attacker who can
       * set cookies for this site (through a sibling subdomain, say) or the visitor's devtools would.
       */
      plant: (value) => {
        res.appendHeader('set-cookie', plantLine(t, value));
        note('lab', `Set-Cookie: ${t.cookieName}=${short(value)}: the browser now holds this value`, { kind: 'planted', value });
      },
      page: (parts) => sendPage(res, 200, layout({ title: `Lab: ${lab.experiment.title}, ${t.title}`, techniques, current: t, lab: true, body: experimentPage({ ...parts, lab, t, labs, run: ctx.run }), head: parts.head ?? '' })),
      /** The inspector for this request, once it has committed. */
      inspector: async (sent, setCookies) => renderInspector({
        technique: t,
        request: { method: req.method, path: req.url, cookieHeader: req.headers.cookie },
        response: { setCookies, cacheControl: res.getHeader('cache-control') },
        holds: await t.holds(cookieAfter(t, sent, setCookies)),
        trace: traceLines(),
      }),
      /** Records this browser request in the run, as the timeline shows it. */
      record: (title, extra = {}) => {
        const entry = browserEntry(req, res, title, extra);
        ctx.run?.entries.push(entry);
        return entry;
      },
    };
    return ctx;
  }

  /**
   * One step of a one-click experiment. `run` starts a run (step 0); `step` continues one. Each
   * step answers with a 307 to the next, so the browser makes the next request at once, with the
   * cookie it now holds; the last one (or a pause) answers 303 to the experiment's page.
   */
  async function chain(ctx, action) {
    const { experiment, t, res, url } = ctx;
    const form = await readForm(ctx.req);
    if (action === 'run') {
      const mode = experiment.modes?.find((m) => m.key === form.get('mode'))?.key ?? experiment.modes?.[0]?.key;
      ctx.run = runs.start(experiment.key, t.key, { mode, stepwise: form.get('stepwise') === '1' });
    }
    const run = ctx.run;
    const n = action === 'run' ? 0 : Number(url.searchParams.get('n'));
    if (run === undefined || n !== run.next) {
      return sendPage(res, 409, messagePage({ techniques, current: t, title: 'That step has run already', message: 'Each step of an experiment runs once. Start the experiment again to repeat it.', back: `${t.path}/` }));
    }
    run.next = n + 1; // claimed before anything waits, so the same step sent twice runs once
    const step = experiment.steps[n];
    const entry = ctx.record(step.title(run, t), { carrier: step.carrier === true });
    const outcome = await step.run(ctx, run);
    Object.assign(entry, browserEntry(ctx.req, res, entry.title, { trace: traceLines(), outcome, carrier: entry.carrier }));
    const pause = step.pause && run.stepwise;
    if (run.next < experiment.steps.length && !pause) {
      entry.status = 307;
      entry.location = `${t.path}/step?run=${run.key}&n=${run.next}`;
      return redirect(res, 307, entry.location);
    }
    entry.status = 303;
    entry.location = `${t.path}/?run=${run.key}#results`;
    if (run.next >= experiment.steps.length) run.done = true;
    redirect(res, 303, entry.location);
  }

  /** The experiment's page: what it does, its button, and the timeline of the last run. */
  async function showPage(ctx) {
    if (ctx.experiment.show) return ctx.experiment.show(ctx);
    const { run, t, experiment } = ctx;
    const { session, sent } = await ctx.open();
    const setCookies = await ctx.commit(session);
    // The first visit after a run is part of it (the browser comes back with its cookie).
    if (run?.done && experiment.resultVisit && !run.visited) {
      run.visited = true;
      ctx.record(experiment.resultVisit(run, t), { trace: traceLines(), status: 200, cart: session.data.cart ?? [], user: session.data.user });
    }
    return ctx.page({
      results: run && html`${run.done ? experiment.verdict(run, t) : continueForm(run, t, experiment)}${entryList(run.entries, t)}`,
      inspector: await ctx.inspector(sent, setCookies),
    });
  }

  /** The visitor's account on an experiment: HTML for a browser, JSON for the attacker's requests. */
  async function account(ctx, json, adding) {
    const { t, req, res } = ctx;
    const { session, sent, before } = await ctx.open();
    if (adding) {
      // The attacker's own visit: a date in the cart is enough to get a real session and its cookie.
      await readForm(req);
      session.data.cart = [...(session.data.cart ?? []), 'dates'];
      note('handler', `added dates: session.data.cart now has ${session.data.cart.length} items`);
      noteChanges(before, session);
    }
    const setCookies = await ctx.commit(session);
    const state = traceLines().find((l) => l.fact?.kind === 'session')?.fact.state;
    const result = { state, user: session.data.user, cart: session.data.cart ?? [], id: sessionIdOf(t, cookieAfter(t, sent, setCookies)) };
    if (json) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return res.end(JSON.stringify({ result, setCookies, trace: traceLines() }));
    }
    return ctx.page({
      account: result,
      inspector: await ctx.inspector(sent, setCookies),
    });
  }

  function notFound(res) {
    sendPage(res, 404, messagePage({ techniques, title: 'Not found', message: 'There is no such page in the lab.', back: '/lab/' }));
  }

  function notAllowed(res, allow) {
    res.setHeader('allow', allow);
    sendPage(res, 405, messagePage({ techniques, title: 'Not allowed', message: `This page answers ${allow} only.`, back: '/lab/' }));
  }

  return { route, close: async () => {} };
}

/** What the timeline keeps of one request your browser made. */
function browserEntry(req, res, title, extra) {
  return {
    actor: 'browser',
    title,
    method: req.method,
    path: req.url,
    cookieHeader: req.headers.cookie,
    setCookies: setCookieLines(res),
    trace: [],
    at: performance.now(),
    wall: Date.now(),
    ...extra,
  };
}

/** The button that goes on with a run paused after a step ("step by step"). */
function continueForm(run, t, experiment) {
  return html`<form method="post" action="${t.path}/step?run=${run.key}&amp;n=${run.next}" class="continue">
    <p class="small">Paused: nothing happens until you go on. ${experiment.pauseHint?.(t) ?? ''}</p>
    <button class="continue-button">Continue: ${experiment.steps[run.next].title(run, t)}</button></form>`;
}
