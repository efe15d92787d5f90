// The lab's pages: the index of experiments, the frame of an experiment's page, and the timeline
// of a run, one entry per request (yours, the attacker's, or a tab's).
import { parseCookie } from 'plain-session';
import { explainAnswer } from '../explain.js';
import { html } from '../html.js';
import { traceList } from '../inspector.js';
import { lineFor, valueOf } from '../steps.js';
import { short } from '../trace.js';

/** `/lab/`: what each experiment tries, with a link per technique. */
export function labIndex(labs) {
  return html`<main class="index lab-index">
  <section class="intro">
    <h1>Attack lab</h1>
    <p>What a tutorial leaves out, and what real code gets wrong, are the attacks. Each experiment
    here is one click: it sends real requests to the same three techniques as the shop (the same
    Map, the same table, the same secret, with a cookie of its own for each experiment), then shows
    every request, what the server did, and why.</p>
    <p class="small">Your own steps are requests your browser makes. The attacker’s steps are sent
    by the demo’s server side to itself over loopback (127.0.0.1), as a second browser would: that
    way one click shows both sides.</p>
  </section>
  <div class="lab-cards">${labs.map(({ experiment, variants }) => html`<article class="card lab-card">
    <h2><a href="${variants[0].path}/">${experiment.title}</a></h2>
    <p>${experiment.question}</p>
    <p class="small">${experiment.summary}</p>
    <p class="pills">${variants.map((v) => html`<a class="pill t-${v.color ?? v.key}" href="${v.path}/">${v.title}</a>`)}</p>
  </article>`)}</div>
</main>`;
}

/** The frame of an experiment's page. The parts come from lab.js and the experiment. */
export function experimentPage({ lab, t, labs, run, results, account, inspector }) {
  const { experiment, variants } = lab;
  return html`<main class="lab-page">
  <nav class="lab-nav" aria-label="Experiments">${labs.map((l) => html`<a href="${l.variants[0].path}/"${l === lab ? html` aria-current="page"` : ''}>${l.experiment.title}</a>`)}</nav>
  <div class="lab-grid${inspector ? '' : ' single'}">
    <section class="card lab-main">
      <h1>${experiment.title} <small>on</small></h1>
      <nav class="pills" aria-label="Techniques">${variants.map((v) => html`<a class="pill t-${v.color ?? v.key}" href="${v.path}/"${v === t ? html` aria-current="page"` : ''}>${v.title}</a>`)}</nav>
      <p class="question">${experiment.question}</p>
      <details class="intro-text"${run ? '' : ' open'}><summary>What happens, step by step</summary>${experiment.intro(t)}</details>
      <div class="controls">${runForms(experiment, t)}</div>
      ${account && accountView(account, t)}
      ${results && html`<section class="results" id="results" aria-labelledby="results-title"><h2 id="results-title">What happened${run ? html` <small>run ${run.key.slice(0, 6)}</small>` : ''}</h2>${results}</section>`}
    </section>
    ${inspector && html`<div class="lab-side">${inspector}</div>`}
  </div>
</main>`;
}

/** The one-click buttons: one per mode, and "step by step" where the experiment can pause. */
function runForms(experiment, t) {
  const modes = experiment.modes ?? [{ key: '', label: 'Run the experiment' }];
  const stepwise = experiment.steps?.some((s) => s.pause);
  return modes.map((m) => html`<form method="post" action="${t.path}/run" class="run">
    <input type="hidden" name="mode" value="${m.key}">
    <button class="run-button" data-mode="${m.key}">${m.label}</button>
    ${stepwise && html`<button class="secondary" name="stepwise" value="1">Step by step</button>`}
  </form>`);
}

/** What an account page shows: who the session says you are. */
function accountView(result, t) {
  return html`<section class="account-view">
    <h2>Account</h2>
    ${result.user ? html`<p>Logged in as <b id="user">${result.user}</b>.</p>` : html`<p id="anonymous">Not logged in.</p>`}
    <p>Cart: <span id="cart">${result.cart.length ? result.cart.join(', ') : 'empty'}</span></p>
    <p class="small">This page loads the session the cookie names, on the ${t.title.toLowerCase()} experiment’s path. Open it with a copied cookie to see what a thief sees.</p>
  </section>`;
}

const ACTORS = { browser: 'Your browser', attacker: 'The attacker', 'tab A': 'Tab A', 'tab B': 'Tab B' };

/** The timeline of a run: each request, what it carried, what came back, and why. */
export function entryList(entries, t) {
  return html`<ol class="timeline">${entries.map((e) => html`<li class="entry entry-${e.actor.replace(' ', '-')}">
    <p class="who"><b>${ACTORS[e.actor] ?? e.actor}</b>${e.actor === 'attacker' ? html` <span class="small">(sent by the demo’s server side, over loopback)</span>` : ''}${e.carrier ? html` goes on to the next step. While the server answers it:` : html`: ${e.title}`}</p>
    <pre class="wire"><b>${e.method} ${pathOnly(e.path)}</b>
${e.cookieHeader === undefined ? html`<i>(no cookie)</i>` : html`Cookie: ${cookieText(e.cookieHeader)}`}</pre>
    ${answerText(e, t)}
    ${e.result && resultText(e.result)}
    ${e.outcome && html`<p class="result">${e.outcome}</p>`}
    ${e.trace.length > 0 && html`<details class="entry-trace"><summary>Trace (${e.trace.length} steps)</summary>${traceList(e.trace)}</details>`}
  </li>`)}</ol>`;
}

function pathOnly(path) {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

function cookieText(header) {
  const pairs = Object.entries(parseCookie(header));
  return pairs.length ? pairs.map(([n, v]) => `${n}=${short(v)}`).join('; ') : short(header, 40);
}

/** The answer: status, this technique's Set-Cookie, and (if a session was involved) why. */
function answerText(e, t) {
  const line = lineFor(e.setCookies ?? [], t.cookieName);
  const status = e.status === 307 ? html`<code>307</code> to the next step` : e.status === 303 ? html`<code>303</code> to this page` : html`<code>${e.status ?? 200}</code>`;
  const cookie = line === undefined ? 'no Set-Cookie' : valueOf(line) === '' ? html`<code>Set-Cookie: ${t.cookieName}=; Max-Age=0</code> (delete)` : html`<code>Set-Cookie: ${t.cookieName}=${short(valueOf(line))}</code>`;
  const involved = e.trace.some((l) => l.fact?.kind === 'session');
  return html`<p class="answer">→ ${status}, ${cookie}.${involved ? html` <span class="why">${explainAnswer(e.trace, t).reason}</span>` : ''}</p>`;
}

/** What the attacker's request found. */
export function resultText(result) {
  const cart = result.cart?.length ? result.cart.join(', ') : 'empty';
  if (result.state === 'loaded') {
    return html`<p class="result result-in"><b>Got in:</b> ${result.user ? html`logged in as <b>${result.user}</b>` : 'a session that is not logged in'}, cart: ${cart}.</p>`;
  }
  if (result.state === 'error') return html`<p class="result result-out"><b>No answer</b> the lab could read.</p>`;
  return html`<p class="result result-out"><b>Refused:</b> ${result.state === 'new' ? 'no cookie, so' : 'the cookie names no live session, so'} a new, empty session. Not logged in.</p>`;
}
