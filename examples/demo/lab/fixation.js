// Fixation: the attacker puts a session ID they know into your browser before you log in, hoping
// that your login lands in that session and they can use it afterwards.
//
// Two defences, both in plain-session (OWASP Session Management Cheat Sheet, "Session Fixation"
// and "Renew the Session ID After Any Privilege Level Change"):
// - an ID the server does not hold is never adopted, so a made-up ID is worth nothing;
// - a real ID (the attacker's own session) is adopted, as it must be, but `session.regenerate()`
//   at login moves the session to a new ID, and the planted one stops naming it.
import { generateId } from 'plain-session';
import { html } from '../html.js';
import { cookieAfter, lineFor, logIn, noteChanges, valueOf } from '../steps.js';
import { note, short } from '../trace.js';
import { sessionIdOf } from './cookies.js';
import { resultText } from './lab-pages.js';
import { threeVariants } from '../techniques.js';

export const fixation = {
  key: 'fixation',
  title: 'Fixation',
  question: 'What if an attacker plants a session ID in your browser before you log in?',
  summary: 'Plant a made-up ID or the attacker’s own real one, visit, log in, and see what the attacker’s copy can do before and after.',
  setUp: threeVariants,
  modes: [
    { key: 'known', label: 'Plant a real ID (the attacker’s own session)' },
    { key: 'unknown', label: 'Plant an ID the attacker made up' },
  ],
  pauseHint: () => 'So far the attacker holds the planted cookie, and your browser holds the session it led to: compare the cookies in the timeline below, then go on to the login.',
  intro: (t) => html`<ol class="plan">
    <li>The attacker gets an ID (a made-up one, or a real one from visiting the shop first) and plants it as your ${t.cookieName} cookie, as anyone who can set cookies for the site could (from a sibling subdomain, say).</li>
    <li>Your browser visits and adds an apple, sending the planted cookie.</li>
    <li>The attacker uses the planted cookie.</li>
    <li>Your browser logs in as ada: <code>session.regenerate()</code>.</li>
    <li>The attacker uses the planted cookie again.</li>
  </ol>`,
  steps: [
    {
      title: (run) => (run.mode === 'unknown' ? 'The attacker plants an ID they made up' : 'The attacker gets a real session, and plants its cookie in your browser'),
      async run(ctx, run) {
        let value;
        if (run.mode === 'unknown') {
          value = generateId(); // well-formed, random, and never handed out by this server
          note('lab', `the attacker made up ${short(value)}: well-formed, but no session of this server has it`);
        } else {
          const visit = await ctx.attack('The attacker visits the shop first, to get a real session', { method: 'POST', form: { item: 'dates' } });
          value = valueOf(lineFor(visit.setCookies, ctx.t.cookieName) ?? '=');
          note('lab', `the attacker’s own session: ${ctx.t.cookieName}=${short(value)}`);
        }
        run.state.planted = value;
        run.state.plantedId = sessionIdOf(ctx.t, value);
        ctx.plant(value);
      },
    },
    {
      title: () => 'You visit the shop and add an apple, with the planted cookie',
      async run(ctx, run) {
        const { session, sent, before } = await ctx.open();
        session.data.cart = [...(session.data.cart ?? []), 'apple'];
        note('handler', `added apple: session.data.cart now has ${session.data.cart.length} items`);
        noteChanges(before, session);
        const lines = await ctx.commit(session);
        run.state.adopted = !session.isNew;
        run.state.visitId = sessionIdOf(ctx.t, cookieAfter(ctx.t, sent, lines));
      },
    },
    {
      title: () => 'The attacker uses the planted cookie, before your login',
      carrier: true,
      pause: true,
      async run(ctx, run) {
        await ctx.attack('The attacker uses the planted cookie before your login', { cookie: run.state.planted });
      },
    },
    {
      title: () => 'You log in as ada',
      async run(ctx, run) {
        const { session, sent, before } = await ctx.open();
        await logIn(session, 'ada');
        noteChanges(before, session);
        const lines = await ctx.commit(session);
        run.state.loginId = sessionIdOf(ctx.t, cookieAfter(ctx.t, sent, lines));
      },
    },
    {
      title: () => 'The attacker uses the planted cookie again, after your login',
      carrier: true,
      async run(ctx, run) {
        await ctx.attack('The attacker uses the planted cookie after your login', { cookie: run.state.planted });
      },
    },
  ],
  verdict(run, t) {
    const s = run.state;
    const attacks = run.entries.filter((e) => e.actor === 'attacker' && /planted cookie/.test(e.title));
    const [before, after] = attacks;
    const id = (value) => (value ? html`<code>${short(value)}</code>` : html`<i>none</i>`);
    const afterIn = after?.result.state === 'loaded';
    const afterUser = afterIn && after.result.user;
    const beforeIn = before?.result.state === 'loaded';
    const seesYourApple = beforeIn && before.result.cart.includes('apple');
    const words = [];
    if (!s.adopted) words.push(html`<b>Not adopted.</b> The planted ${t.sealed ? 'value did not open as a seal' : 'ID names no session in the store'}, so your visit started a new session under an ID the attacker does not know.`);
    else words.push(html`<b>Adopted.</b> The planted ${t.sealed ? 'seal opened' : 'ID names a live session'}, so your visit continued the attacker’s session${seesYourApple ? html`, and before your login the attacker saw your apple in it` : t.sealed ? html`; on this technique the data travels in each cookie, so the attacker’s copy still held only what it held when planted` : ''}.`);
    if (afterUser) words.push(html`<b>After your login the attacker is logged in as ${afterUser}.</b> The login did not move the session to a new ID.`);
    else if (afterIn) words.push(html`After your login the attacker’s copy still opens, but it holds only the session as it was before the login: not logged in. <code>regenerate()</code> sealed your login under a new ID in a new cookie; the old seal cannot be recalled, but it carries nothing of the login.`);
    else words.push(html`After your login the attacker’s copy names nothing: ${s.adopted ? html`<code>regenerate()</code> moved the session to a new ID and deleted the old one` : 'it never named anything'}.`);
    const ok = !afterUser;
    return html`<div class="verdict ${ok ? 'verdict-good' : 'verdict-bad'}" id="verdict" data-adopted="${s.adopted ? 'yes' : 'no'}" data-after="${afterUser ? 'logged-in' : afterIn ? 'anonymous' : 'dead'}">
      <table class="ids">
        <tr><th>planted by the attacker</th><td>${id(s.plantedId ?? s.planted)}</td></tr>
        <tr><th>your session after the visit</th><td>${id(s.visitId)}${s.visitId && s.visitId === (s.plantedId ?? s.planted) ? ' (the same: adopted)' : ''}</td></tr>
        <tr><th>your session after login</th><td>${id(s.loginId)}</td></tr>
      </table>
      <p>${words.map((w) => html`${w} `)}</p>
      <p class="small">What the attacker’s copy could do, before and after your login:</p>
      ${before && resultText(before.result)}${after && resultText(after.result)}
    </div>`;
  },
};
