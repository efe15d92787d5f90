// The inspector panel: what the browser holds next to what the server holds, for one request.
// Everything here is rendered on the server from the real request, the real response headers and
// the real store, right before the page is sent. There is no script in the page.
//
// The sentences that say *why* (why a cookie was sent or not) come from explain.js, which reads
// them off the request's trace: the same facts the trace section lists.
//
// Cookie values are shown shortened. Printing a full session ID into the page would hand it to
// any script on the page, which is exactly what the cookie's HttpOnly attribute is there to stop.
import { parseCookie, stringifySetCookie } from 'plain-session';
import { explainAnswer } from './explain.js';
import { html } from './html.js';
import { lineSentFor, valueOf } from './steps.js';
import { cartOf, clock, dataText, short } from './trace.js';

/** Browsers promise to keep a cookie of at least 4096 bytes, name and attributes included (RFC 6265 §6.1). */
const COOKIE_BUDGET = 4096;

/**
 * @param view.technique  the technique (see techniques.js)
 * @param view.request    { method, path, cookieHeader }
 * @param view.response   { setCookies: string[], cacheControl }
 * @param view.previous   the POST this page is the answer to, if any: { method, path, status, location, setCookies, trace }
 * @param view.holds      what the technique's `holds()` answered
 * @param view.trace      this request's trace lines
 */
export function renderInspector({ technique, request, response, previous, holds, trace }) {
  const held = cookieHeld(technique, request, response);
  const steps = (previous?.trace.length ?? 0) + trace.length;
  return html`<section class="inspector card" aria-labelledby="inspector-title">
  <h2 id="inspector-title">Inspector <small>what this request looked like</small></h2>

  <details class="sec" id="sec-sent">
    <summary><span class="n">1</span> The browser sent <span class="gist"><code>${request.method} ${pathOnly(request.path)}</code>${request.cookieHeader === undefined ? ' with no cookie' : html` with <code>${shortenCookieHeader(request.cookieHeader)}</code>`}</span></summary>
    <pre class="wire"><b>${request.method} ${request.path}</b>
${request.cookieHeader === undefined ? html`<i>(no Cookie header: the browser holds no cookie for ${technique.path})</i>` : html`Cookie: ${shortenCookieHeader(request.cookieHeader)}`}</pre>
    ${request.cookieHeader !== undefined && html`<p class="small">Values are shortened on this page: a full ID printed here could be read by a script in the page, which is what the cookie’s HttpOnly attribute prevents.</p>`}
  </details>

  <details class="sec" id="sec-holds">
    <summary><span class="n">2</span> What the server holds now <span class="gist">${holdsGist(holds)}</span></summary>
    ${serverSide(holds)}
  </details>

  <details class="sec" id="sec-answer" open>
    <summary><span class="n">3</span> What the server answered</summary>
    ${previous && html`<div class="previous">
      <p class="small">Your click: <code>${previous.method} ${previous.path}</code> → <code>${previous.status} See Other</code> → <code>GET ${previous.location}</code> (Post/Redirect/Get: a reload repeats nothing).</p>
      ${answerBlock(previous.setCookies, previous.trace, technique)}
    </div>
    <p class="small">Then this page, <code>${request.method} ${pathOnly(request.path)}</code>:</p>`}
    ${answerBlock(response.setCookies, trace, technique)}
    ${response.cacheControl && html`<p class="small"><code>Cache-Control: ${response.cacheControl}</code>: no cache may keep a page that shows or sets a session, or it could replay it to someone else.</p>`}
  </details>

  <div class="sec" id="sec-size">
    <p class="sec-title"><span class="n">4</span> Cookie size</p>
    ${sizeBar(technique, held, holds)}
  </div>

  <details class="sec" id="sec-trace">
    <summary><span class="n">5</span> Trace <span class="gist">${steps} steps, as <code>NODE_DEBUG=plain-session</code> prints them</span></summary>
    ${previous && html`<p class="trace-title"><code>${previous.method} ${previous.path}</code></p>${traceList(previous.trace)}<p class="trace-title"><code>${request.method} ${request.path}</code></p>`}
    ${traceList(trace)}
  </details>

  ${technique.restart && html`<details class="sec" id="sec-restart">
    <summary><span class="n">6</span> If the server restarts</summary>
    <p class="restart">${technique.restart}</p>
    <p class="small">Try it: press Ctrl-C in the terminal that runs the demo, start it again with <code>npm start</code>, and reload this page.</p>
  </details>`}
</section>`;
}

/** A path without its query string (the `?after=` key means nothing to a reader). */
function pathOnly(path) {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

function shortenCookieHeader(header) {
  const pairs = Object.entries(parseCookie(header));
  if (pairs.length === 0) return header.length > 60 ? short(header, 60) : header;
  return pairs.map(([name, value]) => `${name}=${short(value)}`).join('; ');
}

/** The cookie value the browser holds once this response arrives, and the Set-Cookie line, if any, that set it here. */
function cookieHeld(technique, request, response) {
  const line = response.setCookies.find((l) => l.startsWith(`${technique.cookieName}=`));
  if (line !== undefined) return { value: valueOf(line) || undefined, line, deleted: valueOf(line) === '' };
  const sent = request.cookieHeader === undefined ? undefined : parseCookie(request.cookieHeader)[technique.cookieName];
  return { value: sent, line: undefined, deleted: false };
}

/** Why the response did or did not carry the cookie (from the trace), then its Set-Cookie lines. */
export function answerBlock(lines, trace, technique) {
  const { sent, reason } = explainAnswer(trace, technique);
  const ours = lines.filter((l) => l.startsWith(`${technique.cookieName}=`));
  return html`<p class="why"><b>${sent === 'none' ? html`No <code>Set-Cookie</code>.` : sent === 'delete' ? html`<code>Set-Cookie</code> deletes the cookie.` : html`<code>Set-Cookie</code> with a new value.`}</b> ${reason}</p>
  ${ours.map((line) => setCookieLine(line, technique))}`;
}

/** One Set-Cookie line, and each attribute with a few words on what it does. */
function setCookieLine(line, technique) {
  const [pair, ...attributes] = line.split('; ');
  const eq = pair.indexOf('=');
  const name = pair.slice(0, eq);
  const value = pair.slice(eq + 1);
  return html`<pre class="wire">Set-Cookie: ${name}=${short(value)}${attributes.map((a) => `; ${a}`).join('')}</pre>
  <details class="attrs-box"><summary>What each part means</summary>
  <dl class="attrs">
    <dt><code>${name}=${value === '' ? '' : '…'}</code></dt><dd>${explainValue(name, value, technique)}</dd>
    ${attributes.map((a) => html`<dt><code>${a}</code></dt><dd>${explainAttribute(a, technique)}</dd>`)}
    ${value !== '' && !attributes.includes('Secure') && html`<dt><code class="missing">Secure</code></dt><dd>missing because this demo runs on plain <code>http://</code>; over HTTPS plain-session adds it by itself.</dd>`}
  </dl></details>`;
}

function explainValue(name, value, technique) {
  if (name !== technique.cookieName) return 'a cookie this demo did not set.';
  if (value === '') return 'an empty value: with Max-Age=0 this deletes the cookie from the browser.';
  if (technique.sealed) return `the sealed session, ${value.length} characters: ID, cart and times, encrypted and signed. The browser cannot read or change it.`;
  if (technique.plain) return `the cart itself, in clear JSON: the browser, or anyone who edits the cookie, can read and change it.`;
  return `the session ID, ${value.length} characters of 256 random bits. It means nothing by itself; the server looks it up.`;
}

function explainAttribute(attribute, technique) {
  const [key, value = ''] = attribute.split('=');
  switch (key.toLowerCase()) {
    case 'max-age': {
      if (value === '0') return 'delete the cookie now.';
      const ms = Number(value) * 1000;
      if (Math.abs(ms - technique.idleTimeout) <= 2000) return `keep it ${duration(ms)}, the idle timeout: the browser forgets it when the server would, unless a later response moves it on.`;
      if (technique.absoluteTimeout && ms <= technique.absoluteTimeout + 2000 && ms > technique.idleTimeout) return `keep it ${duration(ms)}, until the session’s absolute lifetime ends; the server still ends the session sooner if it goes unused for ${duration(technique.idleTimeout)}.`;
      return `keep it ${duration(ms)}: what is left of the session’s lifetime.`;
    }
    case 'expires':
      return new Date(value).getTime() <= 0 ? 'a date in 1970, for old browsers that know only Expires: delete now.' : 'the same moment, for old browsers that know only Expires.';
    case 'path':
      return `send it back only to pages under ${value}, so this cookie stays with its own cart.`;
    case 'httponly':
      return 'scripts cannot read it (document.cookie), so an injected script cannot steal the session.';
    case 'samesite':
      return 'not sent with POSTs from other sites (a defence against CSRF), still sent when you follow a link here.';
    case 'secure':
      return 'sent over HTTPS only, never in clear text.';
    case 'domain':
      return `also sent to every subdomain of ${value}.`;
    default:
      return '';
  }
}

/**
 * How much of the 4096-byte budget the cookie uses. The budget counts the whole Set-Cookie header,
 * name, value and attributes, which is also what plain-session checks before it sends one.
 */
function sizeBar(technique, held, holds) {
  let bytes = 0;
  let what = 'No cookie yet';
  if (held.deleted) what = 'This response deletes the cookie';
  else if (held.line !== undefined) [bytes, what] = [Buffer.byteLength(held.line), 'This response’s whole Set-Cookie header (name, value, attributes)'];
  else if (held.value !== undefined) {
    const earlier = lineSentFor(held.value);
    if (earlier !== undefined) [bytes, what] = [Buffer.byteLength(earlier), 'The whole Set-Cookie header that gave you this cookie (name, value, attributes)'];
    else [bytes, what] = [rebuiltSize(technique, held.value, holds), 'The whole Set-Cookie header for this cookie, rebuilt (name, value, attributes)'];
  }
  const percent = Math.min(100, (bytes / COOKIE_BUDGET) * 100);
  const advice = technique.sealed
    ? 'The whole cart is in here and grows with each item (about 2.9 KB of cart fit); past 4096 bytes plain-session refuses to send it rather than lose it.'
    : technique.plain ? 'The whole cart is in here, in clear text.'
    : 'Only the ID travels: it stays this small however big the cart grows.';
  return html`<div class="size"><div class="bar" role="img" aria-label="${bytes} of ${COOKIE_BUDGET} bytes"><span style="width:${percent.toFixed(1)}%"></span></div>
  <b class="bytes" id="cookie-bytes">${bytes} of ${COOKIE_BUDGET} bytes</b></div>
  <p class="small">${what}. ${advice}</p>`;
}

/** The size of the Set-Cookie header that carries `value`, built the way plain-session builds it. */
function rebuiltSize(technique, value, holds) {
  const expiresAt = holds.record?.expiresAt ?? (holds.row && Number(holds.row.expires_at)) ?? holds.opened?.record.expiresAt;
  try {
    const maxAge = technique.persistent && expiresAt ? Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000)) : undefined;
    return Buffer.byteLength(stringifySetCookie(technique.cookieName, value, { path: technique.path, httpOnly: true, sameSite: 'lax', ...(maxAge === undefined ? {} : { maxAge }) }));
  } catch {
    return Buffer.byteLength(`${technique.cookieName}=${value}`); // not a value we could have sent
  }
}

/** A few words on what the server holds, for the section's one-line summary. */
function holdsGist(holds) {
  const items = (data) => {
    const n = cartOf(data).length;
    return `${n} ${n === 1 ? 'item' : 'items'}`;
  };
  if (holds.kind === 'cookie') return holds.opened ? html`nothing; the seal in your cookie holds ${items(holds.opened.record.data)}` : 'nothing, and you hold no sealed cookie';
  if (holds.kind === 'plain') return 'nothing: the cart is in your cookie, in clear text';
  if (holds.kind === 'memory') return holds.record ? html`a Map entry with ${items(holds.record.data)}` : 'no Map entry for you';
  return holds.row ? html`a table row with ${items(holds.row.data)}` : 'no row for you';
}

function serverSide(holds) {
  if (holds.kind === 'cookie') {
    const o = holds.opened;
    return html`<p><b>Nothing.</b> No Map entry, no database row: between two requests the server forgets you completely.</p>
    ${o ? html`<p class="small">Inside the seal, which only a holder of the secret can open:</p>
    <pre>seal of <span id="session-id">${short(o.id)}</span> → ${recordText(o.record)}</pre>` : html`<p class="small">No sealed cookie that opens.</p>`}
    <p class="small">The secret comes from <code>${holds.secretSource}</code>, so a restart can still open old cookies. The cost of keeping nothing: logging out cannot recall a copy of the cookie; it keeps working until it expires.</p>`;
  }
  if (holds.kind === 'plain') {
    return html`<p><b>Nothing.</b> The cart is in the cookie as plain JSON, and the server believes whatever it says:</p><pre>${holds.text ?? '(no cookie)'}</pre>`;
  }
  if (holds.kind === 'memory') {
    return html`${holds.record
      ? html`<p>The <code>Map</code> entry, under the ID itself:</p><pre>sessions.get('<span id="session-id">${short(holds.id)}</span>') → ${recordText(holds.record)}</pre>`
      : html`<p><b>No entry</b> for this browser.</p>`}
    <p class="small">The Map holds ${holds.count} ${holds.count === 1 ? 'session' : 'sessions'} (every visitor’s). Expired entries are pruned on a timer, so it cannot grow forever.</p>`;
  }
  return html`${holds.row ? rowTable(holds.row, holds.id, holds.table) : html`<p><b>No row</b> for this browser.</p>`}
  <p class="small">The table holds ${holds.count} ${holds.count === 1 ? 'row' : 'rows'}, in <code>${holds.file}</code> (opened with ${holds.driver}).</p>`;
}

/** A database row, column by column, as the sqlite3 shell would show it. */
export function rowTable(row, id, table = 'sessions') {
  const note = {
    id: html`<br><span class="small">SHA-256 of the ID, not the ID: a leaked file holds nothing to put in a cookie</span>`,
    created_at: html` <span class="small">(${clock(Number(row.created_at))})</span>`,
    expires_at: html` <span class="small">(${clock(Number(row.expires_at))}, ${fromNow(Number(row.expires_at))})</span>`,
  };
  return html`<p>The row in table <code>${table}</code>${id ? html` for session <code id="session-id">${short(id)}</code>` : ''}:</p>
  <table class="row">${Object.entries(row).map(([column, value]) => html`<tr><th>${column}</th><td>${value === null ? html`<i>NULL</i>` : html`<code>${column === 'id' ? short(String(value), 16) : String(value)}</code>`}${note[column] ?? ''}</td></tr>`)}</table>`;
}

/** A session record written like the object it is. */
export function recordText(record) {
  return `{
  data:      ${dataText(record.data)},
  createdAt: ${record.createdAt},   // ${clock(record.createdAt)}
  expiresAt: ${record.expiresAt},   // ${clock(record.expiresAt)}, ${fromNow(record.expiresAt)}
  userId:    ${record.userId === undefined ? 'undefined' : `'${record.userId}'`}
}`;
}

const STEP_NAMES = { cookie: 'cookie', check: 'ID check', load: 'load', handler: 'handler', save: 'save', lab: 'lab' };

export function traceList(lines) {
  return html`<ol class="trace">${lines.map((l) => html`<li><span class="step step-${l.step}">${STEP_NAMES[l.step] ?? l.step}</span> ${l.text}</li>`)}</ol>`;
}

export function duration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 120) return s === 1 ? '1 second' : `${s} seconds`;
  const m = Math.round(ms / 60_000);
  return m >= 120 ? `${Math.round(m / 60)} hours` : m === 1 ? '1 minute' : `${m} minutes`;
}

export function fromNow(ms) {
  const delta = ms - Date.now();
  return delta <= 0 ? `expired ${duration(-delta)} ago` : `in ${duration(delta)}`;
}
