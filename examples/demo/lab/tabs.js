// Two tabs: two requests of one session change it at the same moment. What does the session keep?
//
// The page holds two frames, tab A and tab B; your browser loads both at once, each a request with
// the same cookie. The server holds each one right after it has loaded the session until the other
// has loaded it too, so both start from the same state; then tab A changes its key and commits,
// and tab B changes its key and commits after A has answered. Which changes survive:
// - a server-side store that saves per key keeps both changes when the keys differ, and the later
//   one when both change the same key;
// - a cookie session cannot merge anything: each answer carries a whole new cookie, and the
//   browser keeps the last one it received.
// The page says what actually happened, read off the store and the two traces.
import { html } from '../html.js';
import { layout } from '../pages.js';
import { redirect, readForm, sendPage } from '../respond.js';
import { noteChanges } from '../steps.js';
import { factsOf, note, traceLines } from '../trace.js';
import { threeVariants } from '../techniques.js';

/** How long one tab waits for the other before it goes on alone. */
const WAIT_MS = 3000;

export const tabs = {
  key: 'tabs',
  title: 'Two tabs',
  question: 'What if two requests change the same session at the same moment?',
  summary: 'Two frames of one page send two requests at once, each changing the session; see what each store keeps.',
  setUp: threeVariants,
  modes: [
    { key: 'different', label: 'Different keys: A adds to the cart, B to the wishlist' },
    { key: 'same', label: 'The same key: both add to the cart' },
  ],
  intro: () => html`<ol class="plan">
    <li>Your browser sets the session to a known start: one cherry in the cart, no wishlist.</li>
    <li>The page opens two frames, tab A and tab B; your browser loads both at once, with the same cookie.</li>
    <li>The server lets each tab load the session, waits until both have, then tab A adds an apple to the cart and commits; tab B adds a banana (to the wishlist, or to the cart too) and commits just after.</li>
    <li>This page then loads the session once more and shows what was kept.</li>
  </ol>`,
  actions: {
    run: { method: 'POST', handle: start },
    tab: { method: 'GET', handle: tab },
  },
  show,
};

/** POST run: the known start, then the page with the two frames. */
async function start(ctx) {
  const form = await readForm(ctx.req);
  const mode = form.get('mode') === 'same' ? 'same' : 'different';
  ctx.run = ctx.runs.start('tabs', ctx.t.key, { mode });
  const run = ctx.run;
  run.state = { A: lane(), B: lane(), bothLoaded: deferred(), finished: deferred() };
  const { session, before } = await ctx.open();
  session.data.cart = ['cherry'];
  delete session.data.wishlist;
  note('handler', 'the known start: one cherry in the cart, no wishlist');
  noteChanges(before, session);
  await ctx.commit(session);
  ctx.record('Start: one cherry in the cart', { trace: traceLines(), status: 303 });
  redirect(ctx.res, 303, `${ctx.t.path}/?run=${run.key}#results`);
}

/** GET tab?run=…&tab=A|B: one tab's request, held until both have loaded the session. */
async function tab(ctx) {
  const { run, res } = ctx;
  const name = ctx.url.searchParams.get('tab');
  if (run === undefined || (name !== 'A' && name !== 'B')) return sendFrame(res, 404, html`<p>No such tab in this run.</p>`);
  const me = run.state[name];
  const other = run.state[name === 'A' ? 'B' : 'A'];
  if (me.started) return sendFrame(res, 200, html`<p>Tab ${name} has run already; start the experiment again to repeat it.</p>`);
  me.started = true;

  const { session, before } = await ctx.open();
  me.loaded = snapshotText(session);
  note('lab', `tab ${name} has loaded the session: ${me.loaded}`);
  if (other.loadedAt === undefined) {
    me.loadedAt = performance.now();
    note('lab', `tab ${name} waits for tab ${name === 'A' ? 'B' : 'A'} to load it too`);
    if (!(await within(run.state.bothLoaded.promise, WAIT_MS))) note('lab', `the other tab did not come within ${WAIT_MS / 1000} s: tab ${name} goes on alone`);
  } else {
    me.loadedAt = performance.now();
    run.state.bothLoaded.resolve();
  }

  if (name === 'A') {
    session.data.cart = [...(session.data.cart ?? []), 'apple'];
    note('handler', 'tab A adds an apple to the cart');
  } else {
    if (!(await within(run.state.A.answered.promise, WAIT_MS))) note('lab', 'tab A has not answered: tab B goes on');
    if (run.mode === 'same') {
      session.data.cart = [...(session.data.cart ?? []), 'banana'];
      note('handler', 'tab B adds a banana to the cart');
    } else {
      session.data.wishlist = [...(session.data.wishlist ?? []), 'banana'];
      note('handler', 'tab B adds a banana to the wishlist');
    }
  }
  noteChanges(before, session);
  await ctx.commit(session);
  note('lab', `tab ${name} answers`);
  const entry = ctx.record(`Tab ${name} ${name === 'A' ? 'adds an apple to the cart' : `adds a banana to the ${run.mode === 'same' ? 'cart' : 'wishlist'}`}`, { actor: `tab ${name}`, trace: traceLines(), status: 200 });
  sendFrame(res, 200, html`<p><b>Tab ${name}</b> loaded <code>${me.loaded}</code>, ${name === 'A' ? 'added an apple to the cart' : `added a banana to the ${run.mode === 'same' ? 'cart' : 'wishlist'}`}, and committed: ${entry.setCookies.some((l) => l.startsWith(`${ctx.t.cookieName}=`)) ? 'its answer carries a new cookie' : 'no Set-Cookie'}.</p>`);
  me.answered.resolve();
  if (run.state.A.answered.done && run.state.B.answered.done) {
    run.done = true;
    run.state.finished.resolve();
  }
}

/** GET the page: the start, the frames while the run is on, and then what was kept. */
async function show(ctx) {
  const { run, t, url } = ctx;
  if (run !== undefined && !run.done && url.searchParams.get('result') === null) {
    // The two tabs: this page loads no session itself, so only the frames touch it.
    const result = `${t.path}/?run=${run.key}&result=1#results`;
    return ctx.page({
      head: html`<meta http-equiv="refresh" content="2;url=${result}">`,
      results: html`<div class="frames">
        <iframe src="${t.path}/tab?run=${run.key}&amp;tab=A" title="Tab A" name="tab-a"></iframe>
        <iframe src="${t.path}/tab?run=${run.key}&amp;tab=B" title="Tab B" name="tab-b"></iframe>
      </div>
      <p class="small">Both frames load at once. This page loads no session itself, and in two seconds it reloads to show what was kept (or <a href="${result}" id="see-result">see it now</a>).</p>`,
    });
  }
  if (run !== undefined) await within(run.state.finished.promise, WAIT_MS * 2);
  const { session, sent } = await ctx.open();
  const setCookies = await ctx.commit(session);
  return ctx.page({
    results: run && html`${kept(run, t, session)}${timeline(run)}`,
    inspector: await ctx.inspector(sent, setCookies),
  });
}

/** The two tabs side by side, each step at the moment it happened. */
function timeline(run) {
  const tabsEntries = run.entries.filter((e) => e.actor.startsWith('tab'));
  const lines = tabsEntries.flatMap((e) => e.trace.map((l) => ({ ...l, lane: e.actor })));
  lines.sort((a, b) => a.at - b.at);
  const zero = lines[0]?.at ?? 0;
  return html`<table class="lanes" id="timeline">
    <thead><tr><th>ms</th><th>Tab A</th><th>Tab B</th></tr></thead>
    <tbody>${lines.map((l) => html`<tr><td class="ms">${(l.at - zero).toFixed(1)}</td>${l.lane === 'tab A' ? html`<td>${l.text}</td><td></td>` : html`<td></td><td>${l.text}</td>`}</tr>`)}</tbody>
  </table>`;
}

/** What the session holds now, and whose change survived, with the reason read off the traces. */
function kept(run, t, session) {
  const cart = session.data.cart ?? [];
  const wishlist = session.data.wishlist ?? [];
  const aKept = cart.includes('apple');
  const bKept = run.mode === 'same' ? cart.includes('banana') : wishlist.includes('banana');
  const entryOf = (name) => run.entries.find((e) => e.actor === `tab ${name}`);
  const [a, b] = [entryOf('A'), entryOf('B')];
  const cookieOf = (e) => e?.setCookies.find((l) => l.startsWith(`${t.cookieName}=`));
  const writes = (e) => (e ? factsOf(e.trace, 'store').filter((f) => f.op === 'set' || f.op === 'patch') : []);
  let why;
  if (t.sealed) {
    why = html`Each tab’s answer carried a whole new cookie (${cookieOf(a) ? 'tab A: yes' : 'tab A: none'}, ${cookieOf(b) ? 'tab B: yes' : 'tab B: none'}), each sealed from the state that tab loaded. A browser keeps one cookie per name: the last <code>Set-Cookie</code> it received, tab B’s. A cookie session cannot merge two tabs.`;
  } else {
    const describe = (name, e) => {
      const w = writes(e);
      if (w.length === 0) return html`tab ${name} wrote nothing`;
      return html`tab ${name} ${w.map((f) => (f.op === 'patch' ? html`patched ${f.keys.length ? f.keys.join(', ') : 'the expiry'} (<code>store.patch</code>, other keys left alone)` : html`wrote the whole record (<code>store.set</code>: <code>${f.data}</code>)`))}`;
    };
    why = html`${describe('A', a)}; then ${describe('B', b)}.`;
    // A save that carries the other tab's change although its request loaded the session before that change.
    const bWrote = writes(b).find((f) => f.op === 'set');
    if (aKept && bKept && bWrote && /"apple"/.test(bWrote.data) && b && !/apple/.test(b.trace.find((l) => /has loaded the session/.test(l.text))?.text ?? 'apple')) {
      why = html`${why} Tab B loaded the cart before tab A’s apple was in it, yet its save wrote the apple too: the two requests shared one session object in this process, so each saw the other’s change.`;
    }
  }
  const outcome = aKept && bKept ? 'both' : bKept ? 'later' : aKept ? 'earlier' : 'none';
  const headline = {
    both: 'Both changes are kept.',
    later: 'Only tab B’s change is kept: the later one won, and tab A’s apple is lost.',
    earlier: 'Only tab A’s change is kept: tab B’s banana is lost.',
    none: 'Neither change is kept.',
  }[outcome];
  return html`<div class="verdict ${outcome === 'both' || (outcome === 'later' && run.mode === 'same' && !t.sealed) ? 'verdict-good' : 'verdict-bad'}" id="verdict" data-outcome="${outcome}">
    <p><b>${headline}</b></p>
    <table class="ids"><tr><th>cart</th><td id="kept-cart">${cart.join(', ') || 'empty'}</td></tr><tr><th>wishlist</th><td id="kept-wishlist">${wishlist.join(', ') || 'empty'}</td></tr></table>
    <p>${why}</p>
    ${outcome === 'later' && run.mode === 'same' && !t.sealed && html`<p class="small">Two tabs that change the same key: the later commit wins. Keep independent pieces of state under keys of their own, and they never overwrite each other.</p>`}
  </div>`;
}

function snapshotText(session) {
  const { cart = [], wishlist } = session.data;
  return `cart [${cart.join(', ')}]${wishlist ? `, wishlist [${wishlist.join(', ')}]` : ''}`;
}

function lane() {
  return { started: false, loadedAt: undefined, loaded: undefined, answered: deferred() };
}

function deferred() {
  const d = { done: false };
  d.promise = new Promise((resolve) => (d.resolve = () => ((d.done = true), resolve())));
  return d;
}

/** Waits for `promise` at most `ms`; answers whether it settled in time. */
function within(promise, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    promise.then(() => (clearTimeout(timer), resolve(true)));
  });
}

/** A frame's page: bare, no header, the demo's look. */
function sendFrame(res, status, body) {
  sendPage(res, status, layout({ title: 'Tab', techniques: [], bare: true, body: html`<main class="frame">${body}</main>` }));
}

