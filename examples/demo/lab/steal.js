// Steal: someone gets a copy of your session cookie and replays it from another browser.
//
// A cookie is a bearer token: whoever sends it is you, until the server stops accepting it. With
// a server-side store that happens at logout, because destroy() deletes the stored session. A
// cookie session keeps nothing on the server, so a copy keeps working until the expiry sealed
// inside it, unless the server keeps a list of ended sessions and refuses them (`isRevoked`).
import { html } from '../html.js';
import { duration } from '../inspector.js';
import { logIn, logOut, noteChanges } from '../steps.js';
import { clock, factsOf, note, short } from '../trace.js';

export const steal = {
  key: 'steal',
  title: 'Steal',
  question: 'What can someone do with a copy of your cookie, and does logging out stop them?',
  summary: 'Log in, let an attacker copy the cookie and replay it, log out, and see whether the copy still works.',
  async setUp(base, pathOf) {
    // The IDs of sessions that logged out, kept until their absolute lifetime is over (after that
    // the seal is refused as expired anyway), for the variant that passes `isRevoked`.
    const ended = new Map();
    const revoked = await base.cookie.variant({
      path: pathOf('cookie-revoked'),
      key: 'cookie-revoked',
      title: 'In the cookie, with isRevoked',
      isRevoked: (id) => ended.has(id),
    });
    revoked.color = 'cookie';
    revoked.revoke = (id) => {
      const now = Date.now();
      for (const [old, until] of ended) if (until <= now) ended.delete(old);
      if (ended.size >= 10_000) ended.delete(ended.keys().next().value); // a bound for a demo
      ended.set(id, now + revoked.absoluteTimeout);
    };
    return [
      await base.cookie.variant({ path: pathOf('cookie') }),
      revoked,
      await base.memory.variant({ path: pathOf('memory') }),
      await base.database.variant({ path: pathOf('database') }),
    ];
  },
  pauseHint: (t) => html`Meanwhile, be the thief yourself: copy the <code>${t.cookieName}</code> cookie from your browser’s devtools into another browser, and open <a href="${t.path}/account"><code>${t.path}/account</code></a> there. Then go on, and reload it after your logout.`,
  intro: (t) => html`<ol class="plan">
    <li>Your browser logs in as ada.</li>
    <li>The attacker copies your cookie (here the lab copies it from your request; in real life
      malware, a shared computer, a proxy’s log, or a script if the cookie were not HttpOnly) and
      sends it from its own side.</li>
    <li>Your browser logs out${t.revoke ? html`; the logout also puts the session’s ID on a denylist that <code>isRevoked</code> checks` : ''}.</li>
    <li>The attacker sends the copy again.</li>
  </ol>`,
  steps: [
    {
      title: () => 'You log in as ada',
      async run(ctx) {
        const { session, before } = await ctx.open();
        session.data.cart = [...(session.data.cart ?? []), 'apple'];
        note('handler', 'added apple to the cart');
        await logIn(session, 'ada');
        noteChanges(before, session);
        await ctx.commit(session);
      },
    },
    {
      title: () => 'The lab copies your cookie from this request, and the attacker uses the copy',
      carrier: true,
      pause: true,
      async run(ctx, run) {
        const copy = ctx.cookie();
        run.state.copy = copy;
        note('lab', copy === undefined ? 'no cookie in this request: nothing to copy' : `copied ${ctx.t.cookieName}=${short(copy)} from this request’s Cookie header`);
        await ctx.attack('The attacker sends the copy', { cookie: copy });
      },
    },
    {
      title: () => 'You log out',
      async run(ctx) {
        const { session } = await ctx.open();
        if (ctx.t.revoke && !session.isNew) {
          ctx.t.revoke(session.id);
          note('handler', `isRevoked: session ${short(session.id)} goes on the denylist until its absolute lifetime is over`);
        }
        await logOut(session);
        await ctx.commit(session);
      },
    },
    {
      title: () => 'The attacker sends the copy again',
      carrier: true,
      async run(ctx, run) {
        await ctx.attack('The attacker sends the copy after your logout', { cookie: run.state.copy });
      },
    },
  ],
  verdict(run, t) {
    const [first, second] = run.entries.filter((e) => e.actor === 'attacker');
    const before = first?.result.state === 'loaded' && first.result.user;
    const after = second?.result.state === 'loaded' && second.result.user;
    const opened = t.sealed && run.state.copy ? t.openAt(run.state.copy, run.startedAt) : undefined;
    const refused = second && factsOf(second.trace, 'seal-refused')[0];
    const beforeText = before ? html`Before your logout the copy worked: the attacker was logged in as <b>${before}</b>.` : html`Even before your logout the copy did not get in.`;
    let afterText;
    if (after) {
      afterText = html`<b>After your logout it still works.</b> The server keeps nothing, so logging out only deleted your browser’s copy; the attacker’s copy opens until the expiry sealed inside it${opened ? html`: ${clock(opened.record.expiresAt)} if nobody uses it (the ${duration(t.idleTimeout)} idle timeout), and ${clock(opened.record.createdAt + t.absoluteTimeout)} at the latest (the absolute lifetime), however often it is used` : ''}. That is the limit the README states; keep the idle timeout short, or pass <code>isRevoked</code>.`;
    } else if (refused) {
      afterText = html`<b>After your logout the copy is refused</b> (<code>${refused.reason}</code>): the seal still opens, but <code>isRevoked</code> finds its ID on the denylist your logout wrote.`;
    } else {
      afterText = html`<b>After your logout the copy is dead:</b> <code>session.destroy()</code> deleted the session ${t.where}, so the ID names nothing and the server starts a fresh, empty session for it.`;
    }
    return html`<p class="verdict ${after ? 'verdict-bad' : 'verdict-good'}" id="verdict" data-before="${before ? 'in' : 'out'}" data-after="${after ? 'in' : 'out'}">${beforeText} ${afterText}</p>`;
  },
};
