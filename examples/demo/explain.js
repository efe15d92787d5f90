// The inspector's words about a request, derived from that request's trace and nothing else.
//
// The trace records what happened as facts (trace.js): the cookie that came in, how the session
// was loaded, the keys the handler changed, each store call, each seal, and the Set-Cookie line
// read back from the real response. Every sentence here follows from those facts, so the words
// cannot say "nothing changed" above a trace that shows a save. What the session library decided
// is never assumed: a library version that sends fewer cookies reads just as truthfully.
import { html } from './html.js';
import { factsOf, short } from './trace.js';

/** The facts of one request, gathered once. */
export function factsOfTrace(lines) {
  const first = (kind) => factsOf(lines, kind)[0];
  const store = factsOf(lines, 'store');
  return {
    cookieIn: first('cookie-in')?.value,
    session: first('session'),
    changes: factsOf(lines, 'change').flatMap((f) => f.keys),
    regenerate: first('regenerate'),
    destroy: first('destroy'),
    // A patch that changes no key only moves the expiry: a touch by another name.
    writes: store.filter((f) => f.op === 'set' || (f.op === 'patch' && f.done !== false && f.keys.length > 0)),
    lostPatch: store.find((f) => f.op === 'patch' && f.done === false),
    touches: store.filter((f) => f.op === 'touch' || (f.op === 'patch' && f.done !== false && f.keys.length === 0)),
    deletes: store.filter((f) => f.op === 'delete'),
    seals: factsOf(lines, 'seal'),
    refused: first('seal-refused'),
    malformed: first('malformed') !== undefined,
    setCookie: first('set-cookie'),
  };
}

/**
 * Why the response did or did not carry this technique's cookie.
 * Answers `{ sent: 'set' | 'delete' | 'none', reason }`, `reason` being HTML.
 */
export function explainAnswer(lines, technique) {
  const f = factsOfTrace(lines);
  const value = f.setCookie?.value;
  const keys = f.changes.length ? html` (${f.changes.map((k, i) => html`${i ? ', ' : ''}<code>${k}</code>`)})` : '';
  const where = f.writes[0]?.where ?? f.touches[0]?.where ?? f.deletes[0]?.where ?? 'in the store';
  const ops = [...new Set([...f.writes, ...f.touches].map((w) => `store.${w.op}`))].join(' and ');

  if (value === '') {
    if (f.destroy) return { sent: 'delete', reason: html`<code>session.destroy()</code> ended the session${f.deletes.length ? html`, and <code>store.delete</code> removed it ${where}` : ''}; this line tells the browser to delete its cookie.` };
    return { sent: 'delete', reason: html`The cookie named no live session (${whyNotLive(f)}), so the server tells the browser to delete it rather than keep sending it.` };
  }

  if (value !== undefined) {
    if (technique.plain) return { sent: 'set', reason: html`The cart changed, and this cookie holds the cart itself, in clear JSON: it is sent again, and the browser (or anyone who edits the cookie) can change it.` };
    if (technique.sealed) {
      if (f.regenerate) return { sent: 'set', reason: html`<code>session.regenerate()</code> gave the session a new ID, sealed with the cart into a new cookie.` };
      if (f.session?.state !== 'loaded') return { sent: 'set', reason: html`A new session got its first seal: on this technique the cookie <em>is</em> the session.` };
      if (f.changes.length) return { sent: 'set', reason: html`The session changed${keys}: the cookie <em>is</em> the session, so it was sealed again.` };
      return { sent: 'set', reason: html`Nothing in the session changed, but its expiry moved on, so it was sealed again with the new expiry.` };
    }
    if (f.regenerate) return { sent: 'set', reason: html`<code>session.regenerate()</code> moved the session to a new ID (${short(f.regenerate.from ?? 'none')} → ${short(f.regenerate.to)}): the browser must get the new one, and the old one is dead.` };
    if (value === f.cookieIn) return { sent: 'set', reason: html`The same ID as the one that came in, sent again to move the cookie’s expiry (<code>Max-Age</code>) along with the session’s.` };
    if (f.session?.state !== 'loaded') return { sent: 'set', reason: html`A new session was saved for the first time${f.writes.length ? html` (<code>${ops}</code> ${where})` : ''}: the browser gets its ID.` };
    return { sent: 'set', reason: html`The session moved to a new ID, and the browser must get it.` };
  }

  // No Set-Cookie for this technique's cookie.
  if (f.lostPatch) return { sent: 'none', reason: html`The session is gone from the store (logged out, expired or removed), so <code>store.patch</code> wrote nothing and no cookie names it again.` };
  if (f.writes.length) return { sent: 'none', reason: html`The session changed${keys} and was saved ${where} (<code>${ops}</code>) under the same ID: the cookie that came in already names it, so there is nothing to send.` };
  if (f.touches.length) return { sent: 'none', reason: html`Only the session’s expiry moved ${where} (<code>store.${f.touches[0].op}</code>); the cookie that came in still names the session, so there is nothing to send.` };
  if (f.session?.state !== 'loaded') {
    if (f.cookieIn !== undefined) return { sent: 'none', reason: html`The cookie named no live session (${whyNotLive(f)}), and the new session is empty: nothing is stored and no cookie is set.` };
    return { sent: 'none', reason: html`The session is empty, so nothing is stored and no cookie is set (a lazy session: a visitor who never adds anything costs nothing).` };
  }
  if (technique.plain) return { sent: 'none', reason: html`The cart did not change, so the cookie that came in stays as it is.` };
  if (technique.sealed) return { sent: 'none', reason: html`No new seal was made in this request${f.changes.length ? '' : ' (nothing in the session changed)'}, so the cookie that came in stays as it is.` };
  return { sent: 'none', reason: html`Nothing was written${f.changes.length ? '' : ': the request changed nothing in the session'}. The cookie that came in still names the session, so there is nothing to send.` };
}

/** Why the cookie that came in names no live session, as far as the trace says. */
function whyNotLive(f) {
  if (f.refused) return html`the seal was refused: ${f.refused.reason}`;
  if (f.malformed) return 'not a well-formed ID';
  return 'the store holds nothing under it: unknown, expired or destroyed';
}
