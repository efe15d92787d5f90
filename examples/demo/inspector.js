// The inspector panel: what the browser holds next to what the server holds, for one request.
// Everything here is rendered on the server from the real request, the real response headers and
// the real store, right before the page is sent. There is no script in the page.
//
// Cookie values are shown shortened. Printing a full session ID into the page would hand it to
// any script on the page, which is exactly what the cookie's HttpOnly attribute is there to stop.
import { parseCookie } from 'plain-session';
import { html } from './html.js';
import { clock, dataText, short } from './trace.js';

/** Browsers promise to keep a cookie of at least 4096 bytes, name and attributes included (RFC 6265 §6.1). */
const COOKIE_BUDGET = 4096;

/**
 * @param view.technique  the technique (see techniques.js)
 * @param view.request    { method, path, cookieHeader }
 * @param view.response   { status, setCookies: string[], cacheControl }
 * @param view.previous   the POST this page is the answer to, if any: { method, path, status, location, setCookies, trace }
 * @param view.holds      what the technique's `holds()` answered
 * @param view.trace      this request's trace lines
 */
export function renderInspector({ technique, request, response, previous, holds, trace }) {
  return html`<section class="inspector card" aria-labelledby="inspector-title">
  <h2 id="inspector-title">Inspector <small>what this request looked like</small></h2>

  <h3><span class="n">1</span> The browser sent</h3>
  <pre class="wire"><b>${request.method} ${request.path}</b>
${request.cookieHeader === undefined ? html`<i>(no Cookie header: the browser holds no cookie for ${technique.path})</i>` : html`Cookie: ${shortenCookieHeader(request.cookieHeader)}`}</pre>
  ${request.cookieHeader !== undefined && html`<p class="small">Values are shortened on this page: a full ID printed here could be read by a script in the page, which is what the cookie’s HttpOnly attribute prevents.</p>`}

  <h3><span class="n">2</span> What the server holds now</h3>
  ${serverSide(holds)}

  <h3><span class="n">3</span> What the server answered</h3>
  ${previous && html`<div class="previous">
    <p>Your click sent <code>${previous.method} ${previous.path}</code>, answered with
    <code>${previous.status} See Other</code> to <code>${previous.location}</code> (Post/Redirect/Get:
    reloading this page does not repeat the action):</p>
    ${setCookieList(previous.setCookies, technique, previous.keeps)}
  </div>
  <p>Then the browser followed the redirect, and this page’s response said:</p>`}
  ${setCookieList(response.setCookies, technique, Boolean(holds.record || holds.row || holds.opened))}
  ${response.cacheControl && html`<p class="small"><code>Cache-Control: ${response.cacheControl}</code>: no cache may keep a page that sets a session cookie, or it could replay it to someone else.</p>`}

  <h3><span class="n">4</span> Cookie size</h3>
  ${sizeBar(technique, request, response)}

  <h3><span class="n">5</span> Trace</h3>
  <p class="small">The steps <code>NODE_DEBUG=plain-session</code> prints, seen in this request.</p>
  ${previous && html`<p class="trace-title"><code>${previous.method} ${previous.path}</code></p>${traceList(previous.trace)}<p class="trace-title"><code>${request.method} ${request.path}</code></p>`}
  ${traceList(trace)}

  <h3><span class="n">6</span> If the server restarts</h3>
  <p class="restart">${technique.restart}</p>
  <p class="small">Try it: press Ctrl-C in the terminal that runs the demo, start it again with <code>npm start</code>, and reload this page.</p>
</section>`;
}

function shortenCookieHeader(header) {
  const pairs = Object.entries(parseCookie(header));
  if (pairs.length === 0) return header.length > 60 ? short(header, 60) : header;
  return pairs.map(([name, value]) => `${name}=${short(value)}`).join('; ');
}

/** The Set-Cookie lines of a response, each attribute with a few words on what it does. */
function setCookieList(lines, technique, hasSession) {
  if (lines.length === 0) {
    const why = hasSession
      ? 'nothing in the session changed, and its expiry moved too little to be worth a new cookie: the browser keeps the cookie it has.'
      : 'the session is empty, so nothing is stored and no cookie is set (a lazy session: a visitor who never adds anything costs nothing). Add an item to start one.';
    return html`<p><b>No <code>Set-Cookie</code>:</b> ${why}</p>`;
  }
  return lines.map((line) => {
    const [pair, ...attributes] = line.split('; ');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    return html`<pre class="wire">Set-Cookie: ${name}=${short(value)}${attributes.map((a) => `; ${a}`).join('')}</pre>
    <dl class="attrs">
      <dt><code>${name}=${value === '' ? '' : '…'}</code></dt><dd>${explainValue(name, value, technique)}</dd>
      ${attributes.map((a) => html`<dt><code>${a}</code></dt><dd>${explainAttribute(a, technique)}</dd>`)}
      ${value !== '' && !attributes.includes('Secure') && html`<dt><code class="missing">Secure</code></dt><dd>missing because this demo runs on plain <code>http://</code>; over HTTPS plain-session adds it by itself.</dd>`}
    </dl>`;
  });
}

function explainValue(name, value, technique) {
  if (name !== technique.cookieName) return 'a cookie this demo did not set.';
  if (value === '') return 'an empty value: with Max-Age=0 this deletes the cookie from the browser.';
  if (technique.key === 'cookie') return `the sealed session, ${value.length} characters: ID, cart and times, encrypted and signed. The browser cannot read or change it.`;
  return `the session ID, ${value.length} characters of 256 random bits. It means nothing by itself; the server looks it up.`;
}

function explainAttribute(attribute, technique) {
  const [key, value = ''] = attribute.split('=');
  switch (key.toLowerCase()) {
    case 'max-age':
      return value === '0'
        ? 'delete the cookie now.'
        : `keep it ${minutes(Number(value) * 1000)}: the browser forgets it when the server would (the idle timeout). Each visit moves it on.`;
    case 'expires':
      return new Date(value).getTime() <= 0 ? 'a date in 1970, for old browsers that know only Expires: delete now.' : 'the same moment, for old browsers that know only Expires.';
    case 'path':
      return `send it back only to pages under ${value}, so each technique’s cookie stays with its own cart.`;
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

/** How much of the 4096-byte budget the cookie uses. */
function sizeBar(technique, request, response) {
  const line = response.setCookies.find((l) => l.startsWith(`${technique.cookieName}=`));
  const sent = request.cookieHeader && parseCookie(request.cookieHeader)[technique.cookieName];
  let bytes = 0;
  let what = 'no cookie yet';
  if (line !== undefined && line.startsWith(`${technique.cookieName}=;`)) what = 'this response deletes the cookie';
  else if (line !== undefined) [bytes, what] = [Buffer.byteLength(line), 'the Set-Cookie line, attributes included'];
  else if (sent) [bytes, what] = [Buffer.byteLength(`${technique.cookieName}=${sent}`), 'the cookie as the browser sends it'];
  const percent = Math.min(100, (bytes / COOKIE_BUDGET) * 100);
  const advice = technique.key === 'cookie'
    ? 'The whole cart is in here, so it grows with every item. Sealing adds about 113 bytes and base64url a third more: about 2.9 KB of cart fit. plain-session refuses to send a bigger cookie rather than lose it silently.'
    : 'Only the ID travels, so the cookie stays this small however big the cart grows.';
  return html`<div class="bar" role="img" aria-label="${bytes} of ${COOKIE_BUDGET} bytes"><span style="width:${percent.toFixed(1)}%"></span></div>
  <p class="small"><b>${bytes} of ${COOKIE_BUDGET} bytes</b> (${what}). ${advice}</p>`;
}

function serverSide(holds) {
  if (holds.kind === 'cookie') {
    const o = holds.opened;
    return html`<p><b>Nothing.</b> No Map entry, no database row: between two requests the server forgets you completely.</p>
    ${o ? html`<p class="small">Inside the seal, which only a holder of the secret can open:</p>
    <pre>seal of <span id="session-id">${short(o.id)}</span> → ${recordText(o.record)}</pre>` : html`<p class="small">No sealed cookie yet.</p>`}
    <p class="small">The secret comes from <code>${holds.secretSource}</code>, so a restart can still open old cookies. The cost of keeping nothing: logging out cannot recall a copy of the cookie; it keeps working until it expires.</p>`;
  }
  if (holds.kind === 'memory') {
    return html`${holds.record
      ? html`<p>The <code>Map</code> entry, under the ID itself:</p><pre>sessions.get('<span id="session-id">${short(holds.id)}</span>') → ${recordText(holds.record)}</pre>`
      : html`<p><b>No entry</b> for this browser.</p>`}
    <p class="small">The Map holds ${holds.count} ${holds.count === 1 ? 'session' : 'sessions'} (every visitor’s). Expired entries are pruned on a timer, so it cannot grow forever.</p>`;
  }
  const row = holds.row;
  return html`${row
    ? html`<p>The row in table <code>sessions</code> for session <code id="session-id">${short(holds.id)}</code>:</p>
    <table class="row">
      <tr><th>id</th><td><code>${short(row.id, 16)}</code><br><span class="small">SHA-256 of the ID, not the ID: a leaked file holds nothing to put in a cookie</span></td></tr>
      <tr><th>data</th><td><code>${row.data}</code></td></tr>
      <tr><th>created_at</th><td>${Number(row.created_at)} <span class="small">(${clock(Number(row.created_at))})</span></td></tr>
      <tr><th>expires_at</th><td>${Number(row.expires_at)} <span class="small">(${clock(Number(row.expires_at))}, ${fromNow(Number(row.expires_at))})</span></td></tr>
      <tr><th>user_id</th><td>${row.user_id ?? html`<i>NULL</i>`}</td></tr>
    </table>`
    : html`<p><b>No row</b> for this browser.</p>`}
  <p class="small">The table holds ${holds.count} ${holds.count === 1 ? 'row' : 'rows'}, in <code>${holds.file}</code> (opened with ${holds.driver}).</p>`;
}

/** A session record written like the object it is. */
function recordText(record) {
  return `{
  data:      ${dataText(record.data)},
  createdAt: ${record.createdAt},   // ${clock(record.createdAt)}
  expiresAt: ${record.expiresAt},   // ${clock(record.expiresAt)}, ${fromNow(record.expiresAt)}
  userId:    ${record.userId === undefined ? 'undefined' : `'${record.userId}'`}
}`;
}

const STEP_NAMES = { cookie: 'cookie', check: 'ID check', load: 'load', handler: 'handler', save: 'save' };

function traceList(lines) {
  return html`<ol class="trace">${lines.map((l) => html`<li><span class="step step-${l.step}">${STEP_NAMES[l.step] ?? l.step}</span> ${l.text}</li>`)}</ol>`;
}

function minutes(ms) {
  const m = Math.round(ms / 60_000);
  return m >= 120 ? `${Math.round(m / 60)} hours` : m === 1 ? '1 minute' : `${m} minutes`;
}

function fromNow(ms) {
  const delta = ms - Date.now();
  return delta <= 0 ? 'expired' : `in ${minutes(delta)}`;
}
