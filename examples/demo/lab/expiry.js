// Expiry: a session that ends by itself. OWASP asks for two timeouts (Session Management Cheat
// Sheet, "Session Expiration"): an idle timeout, after which an unused session dies, and an
// absolute lifetime, after which it dies however much it is used. Expired entries must also leave
// the store, or it grows forever: the prune sweeps them.
//
// Here the idle timeout is 10 seconds and the lifetime 30 (DEMO_LAB_IDLE_SECONDS and
// DEMO_LAB_ABSOLUTE_SECONDS change them), on stores of their own, so the counts below are this
// experiment's only. The cookie is a browser-session cookie (no Max-Age): the browser keeps
// sending it after the timeout, so you see the *server* refuse it.
//
// A countdown counts the seconds (a few lines of script); without script the page still says when,
// and reloads itself when the time is up.
import { html, trusted } from '../html.js';
import { duration, rowTable } from '../inspector.js';
import { redirect, readForm } from '../respond.js';
import { cookieAfter, noteChanges } from '../steps.js';
import { clock, factsOf, note, traceLines } from '../trace.js';

const IDLE_MS = seconds(process.env.DEMO_LAB_IDLE_SECONDS, 10);
const ABSOLUTE_MS = seconds(process.env.DEMO_LAB_ABSOLUTE_SECONDS, 30);
/** How often the "keep using it" page reloads itself: a third of the idle timeout. */
const USE_EVERY_S = Math.max(1, Math.floor(IDLE_MS / 3000));

export const expiry = {
  key: 'expiry',
  title: 'Expiry',
  question: `What ends a session nobody logs out of? An idle timeout (${duration(IDLE_MS)} here), a lifetime (${duration(ABSOLUTE_MS)}), and the prune.`,
  summary: `A session with an idle timeout of ${duration(IDLE_MS)} and a lifetime of ${duration(ABSOLUTE_MS)}: watch it die left alone, die while in use, and leave the store.`,
  async setUp(base, pathOf) {
    const timing = { idleTimeout: IDLE_MS, absoluteTimeout: ABSOLUTE_MS, persistent: false };
    // Stores of its own, swept every 5 minutes on their own, so the prune you press is the one that acts.
    return [
      await base.cookie.variant({ path: pathOf('cookie'), ...timing }),
      await base.memory.variant({ path: pathOf('memory'), ...timing, ownStore: { pruneInterval: 300_000 } }),
      await base.database.variant({ path: pathOf('database'), ...timing, ownStore: { table: 'lab_expiry_sessions', pruneInterval: 300_000 } }),
    ];
  },
  modes: [
    { key: 'idle', label: 'Start a session, and leave it alone' },
    { key: 'keepalive', label: `Start a session, and use it every ${USE_EVERY_S} s` },
  ],
  intro: (t) => html`<ul class="plan">
    <li><b>Leave it alone:</b> the page counts down the idle timeout (${duration(IDLE_MS)}) without using the session (looking at this page does not load it). When the time is up, send a request with your cookie, and run the prune.</li>
    <li><b>Use it:</b> the page reloads itself every ${USE_EVERY_S} s, and each reload uses the session, which moves its idle timeout on, until the lifetime (${duration(ABSOLUTE_MS)}) is over.</li>
    <li class="small">Your cookie here has no Max-Age, so your browser keeps sending it after the timeout: what ends the session is the server${t.sealed ? ', reading the expiry sealed inside the cookie' : ''}.</li>
  </ul>`,
  actions: {
    run: { method: 'POST', handle: start },
    use: { method: 'POST', handle: use },
    prune: { method: 'POST', handle: prune },
  },
  show,
};

/** POST run: a new session with an apple in it. */
async function start(ctx) {
  const form = await readForm(ctx.req);
  const mode = form.get('mode') === 'keepalive' ? 'keepalive' : 'idle';
  ctx.run = ctx.runs.start('expiry', ctx.t.key, { mode });
  const { session, sent, before } = await ctx.open();
  session.data.cart = ['apple'];
  note('handler', `a new session: one apple in the cart; idle timeout ${duration(IDLE_MS)}, lifetime ${duration(ABSOLUTE_MS)}`);
  noteChanges(before, session);
  const lines = await ctx.commit(session);
  await remember(ctx, cookieAfter(ctx.t, sent, lines));
  ctx.record('You start a session', { trace: traceLines(), status: 303 });
  redirect(ctx.res, 303, `${ctx.t.path}/?run=${ctx.run.key}#results`);
}

/** POST use: one request that loads the session (and so moves its idle timeout on, if it is alive). */
async function use(ctx) {
  if (ctx.run === undefined) return redirect(ctx.res, 303, `${ctx.t.path}/`);
  await useOnce(ctx, 'You send a request with your cookie');
  redirect(ctx.res, 303, `${ctx.t.path}/?run=${ctx.run.key}#results`);
}

async function useOnce(ctx, title) {
  const { session, sent } = await ctx.open();
  const lines = await ctx.commit(session);
  const alive = !session.isNew;
  if (alive) await remember(ctx, cookieAfter(ctx.t, sent, lines));
  else ctx.run.state.endedAt ??= Date.now();
  const entry = ctx.record(title, { trace: traceLines(), status: 200 });
  const { expiresAt, createdAt } = ctx.run.state;
  // Within a second of the lifetime, the expiry cannot move any further (and a renewal too small to
  // be worth a write is skipped): from here on the lifetime decides when the session ends.
  entry.capped = alive && expiresAt >= createdAt + ABSOLUTE_MS - 1000;
  entry.outcome = alive
    ? html`<b>Alive.</b> It now expires at ${clock(expiresAt)}${entry.capped ? ': the end of its lifetime, however often it is used' : ', unless used again'}.`
    : html`<b>Refused:</b> ${refusal(entry.trace)}.`;
  trim(ctx.run);
  return alive;
}

/** POST prune: the sweep the store otherwise runs on its timer. */
async function prune(ctx) {
  if (ctx.run === undefined) return redirect(ctx.res, 303, `${ctx.t.path}/`);
  const before = await ctx.t.peek(ctx.run.state.id);
  const removed = await ctx.t.prune();
  const after = await ctx.t.peek(ctx.run.state.id);
  note('lab', `prune() removed ${removed} expired ${removed === 1 ? 'session' : 'sessions'}`);
  const entry = ctx.record('You run the prune (the store also runs it every 5 minutes on its own)', { trace: traceLines(), status: 303 });
  entry.outcome = ctx.t.sealed
    ? html`<b>Nothing to remove:</b> the server keeps nothing for a cookie session; an expired cookie is simply refused when it comes back.`
    : html`<b>prune() removed ${removed}.</b> ${storeWords(before)} before, ${storeWords(after)} after.`;
  ctx.run.state.pruned = { removed, before, after };
  redirect(ctx.res, 303, `${ctx.t.path}/?run=${ctx.run.key}#results`);
}

/** GET the page. Left alone, it looks at the store without loading the session; kept alive, it uses it. */
async function show(ctx) {
  const { run, t } = ctx;
  if (run === undefined) return ctx.page({});
  const s = run.state;
  // The reload's address, written out: a refresh to the page's own address with its #results
  // would only scroll, not reload.
  const self = `${t.path}/?run=${run.key}`;
  let head = '';
  if (run.mode === 'keepalive' && s.endedAt === undefined) {
    const alive = await useOnce(ctx, 'The page uses the session (it reloads itself)');
    if (alive) head = html`<meta http-equiv="refresh" content="${USE_EVERY_S};url=${self}">`;
  }
  const now = Date.now();
  const idleLeft = s.expiresAt - now;
  if (run.mode === 'idle' && idleLeft > 0) head = html`<meta http-equiv="refresh" content="${Math.ceil(idleLeft / 1000) + 1};url=${self}">`;
  const peek = await t.peek(s.id);
  return ctx.page({
    head: html`${head}${trusted(COUNTDOWN)}`,
    results: html`${clocks(run, now)}
      <div class="store-now" id="store-now"><h3>The store now</h3>${peekView(t, peek, run)}</div>
      <form method="post" action="${t.path}/use?run=${run.key}" class="inline"><button id="use">Send a request with your cookie</button></form>
      <form method="post" action="${t.path}/prune?run=${run.key}" class="inline"><button id="prune" class="secondary">Run the prune now</button></form>
      ${verdict(run, t)}
      ${timelineOf(run)}`,
  });
}

/** The two deadlines, with a countdown each. */
function clocks(run, now) {
  const s = run.state;
  const row = (label, at, id) => {
    const left = at - now;
    return html`<tr><th>${label}</th><td>${clock(at)}</td><td>${left > 0 ? html`in <span class="countdown" id="${id}" data-left="${left}">${Math.ceil(left / 1000)} s</span>` : html`<b>passed</b> ${duration(-left)} ago`}</td></tr>`;
  };
  return html`<table class="ids clocks" id="clocks">
    ${s.endedAt === undefined || run.mode === 'idle' ? row(`idle timeout (${duration(IDLE_MS)} after the last use)`, s.expiresAt, 'idle-left') : ''}
    ${row(`lifetime (${duration(ABSOLUTE_MS)} after the start)`, s.createdAt + ABSOLUTE_MS, 'absolute-left')}
  </table>`;
}

/** What the store holds for this experiment, looked at without loading the session. */
function peekView(t, peek, run) {
  if (t.sealed) {
    const opened = run.state.cookie && t.openAt(run.state.cookie, run.state.createdAt);
    return html`<p><b>Nothing on the server.</b> Your browser holds the seal${opened ? html`, and the expiry inside it is ${clock(opened.record.expiresAt)}${opened.record.expiresAt <= Date.now() ? ': passed' : ''}` : ''}.</p>`;
  }
  if (peek.kind === 'memory') {
    return html`<p>The Map of this experiment holds <b id="store-count">${peek.count}</b> ${peek.count === 1 ? 'entry' : 'entries'}. An expired entry still counts until something removes it: the prune, or a read that finds it expired.</p>`;
  }
  return html`${peek.row ? rowTable(peek.row, run.state.id, peek.table) : html`<p><b id="no-row">No row</b> for your session in table <code>${peek.table}</code>.</p>`}
    <p class="small">The table holds <b id="store-count">${peek.count}</b> ${peek.count === 1 ? 'row' : 'rows'}. A read never returns an expired row (it asks for <code>expires_at &gt; now</code>), but the row stays until the prune deletes it.</p>`;
}

function timelineOf(run) {
  return html`<details class="entry-log" open><summary>Every request of this run (${run.entries.length})</summary>${entriesCompact(run)}</details>`;
}

function entriesCompact(run) {
  return html`<ol class="timeline compact">${run.entries.map((e) => html`<li class="entry"><p class="who"><b>${clock(e.wall)}</b> ${e.title}</p>${e.outcome && html`<p class="result">${e.outcome}</p>`}<details class="entry-trace"><summary>Trace (${e.trace.length} steps)</summary><ol class="trace">${e.trace.map((l) => html`<li><span class="step step-${l.step}">${l.step}</span> ${l.text}</li>`)}</ol></details></li>`)}</ol>`;
}

/** What the run showed, read off its requests. */
function verdict(run, t) {
  const s = run.state;
  const uses = run.entries.filter((e) => e.outcome !== undefined && factsOf(e.trace, 'session').length > 0);
  const refused = uses.find((e) => factsOf(e.trace, 'session')[0]?.state !== 'loaded');
  const words = [];
  if (refused) {
    const lastAlive = [...uses].reverse().find((e) => e.wall < refused.wall && factsOf(e.trace, 'session')[0]?.state === 'loaded');
    const since = (lastAlive ?? run.entries[0]).wall;
    const end = s.createdAt + ABSOLUTE_MS;
    if (lastAlive?.capped || refused.wall >= end) {
      words.push(html`<b>Ended by the lifetime.</b> It was in use until ${duration(refused.wall - since)} before, but its expiry could not move past the end of its lifetime (${clock(end)}, ${duration(ABSOLUTE_MS)} after the start). Refused at ${clock(refused.wall)}: ${refusal(refused.trace)}.`);
    } else {
      words.push(html`<b>Ended by the idle timeout.</b> Your cookie was refused ${duration(refused.wall - since)} after the session was last used (the idle timeout is ${duration(IDLE_MS)}): ${refusal(refused.trace)}.`);
    }
  }
  if (s.pruned) {
    words.push(t.sealed
      ? html`The prune had nothing to do: a cookie session leaves nothing behind on the server.`
      : html`The prune removed ${s.pruned.removed} expired ${s.pruned.removed === 1 ? 'entry' : 'entries'}${s.pruned.removed === 0 && refused && refused.wall < (run.entries.find((e) => /prune/.test(e.title))?.wall ?? 0) && !t.table ? html`: the request before it had already found the entry expired and removed it, as the Map does on every read` : ''}.`);
  }
  if (words.length === 0) return '';
  return html`<p class="verdict verdict-good" id="verdict" data-ended="${refused ? 'yes' : 'no'}" data-pruned="${s.pruned ? s.pruned.removed : ''}">${words.map((w) => html`${w} `)}</p>`;
}

/** Why the session was refused, as the trace says. */
function refusal(trace) {
  const sealed = factsOf(trace, 'seal-refused')[0];
  if (sealed) return html`the seal opened, but the expiry inside it had passed (<code>${sealed.reason}</code>), so a fresh session started`;
  if (factsOf(trace, 'cookie-in')[0]?.value === undefined) return 'no cookie came with the request';
  return 'the store answered nothing for the ID (expired rows and entries are never returned), so a fresh session started';
}

function storeWords(peek) {
  if (peek.kind === 'memory') return `${peek.count} ${peek.count === 1 ? 'entry' : 'entries'} in the Map`;
  return `${peek.count} ${peek.count === 1 ? 'row' : 'rows'} in the table${peek.row ? ' (yours among them)' : ''}`;
}

/** Keeps the session's ID, cookie and expiry, read from the store, for the page and the peek. */
async function remember(ctx, value) {
  const { t, run } = ctx;
  const holds = await t.holds(value);
  const record = holds.record ?? holds.opened?.record ?? (holds.row && { createdAt: Number(holds.row.created_at), expiresAt: Number(holds.row.expires_at) });
  run.state.cookie = value;
  run.state.id = holds.id ?? holds.opened?.id;
  if (record) {
    run.state.createdAt = record.createdAt;
    run.state.expiresAt = record.expiresAt;
  }
}

/** A long "keep using it" run keeps its newest 40 requests. */
function trim(run) {
  if (run.entries.length > 40) run.entries.splice(1, run.entries.length - 40);
}

function seconds(value, fallback) {
  const n = Number(value ?? fallback);
  return (Number.isFinite(n) && n > 0 ? n : fallback) * 1000;
}

// The countdown: a few lines of script that count the seconds down. Without it the page still
// shows the time, and the refresh above still reloads it when the time is up.
const COUNTDOWN = `<script>
addEventListener('DOMContentLoaded', () => {
  const start = performance.now();
  for (const el of document.querySelectorAll('[data-left]')) {
    const tick = () => {
      const left = Math.ceil((Number(el.dataset.left) - (performance.now() - start)) / 1000);
      el.textContent = left > 0 ? left + ' s' : 'now';
      if (left > 0) setTimeout(tick, 200);
    };
    tick();
  }
});
</script>`;
