// Tamper: edit the cookie in the browser, and see what the server makes of it.
//
// A sealed cookie (AES-256-GCM) is refused if one character changes: the visitor just gets a
// fresh session. An ID that is changed names nothing, and an ID the server never made is never
// adopted. A plain JSON cookie, for comparison, is believed whatever it says.
import { html } from '../html.js';
import { noteChanges } from '../steps.js';
import { factsOf, note } from '../trace.js';
import { tamperValue } from './cookies.js';
import { plainCookieTechnique } from './plain-cookie.js';
import { threeVariants } from '../techniques.js';

export const tamper = {
  key: 'tamper',
  title: 'Tamper',
  question: 'What if the visitor edits the cookie?',
  summary: 'Put an apple in the cart, then change the cookie in the browser and send it back.',
  async setUp(base, pathOf) {
    return [...(await threeVariants(base, pathOf)), plainCookieTechnique(pathOf('plain'))];
  },
  intro: (t) => html`<ol class="plan">
    <li>Your browser puts an apple in the cart: the server answers with a cookie.</li>
    <li>The cookie is edited in your browser, as you could in its devtools: ${t.plain ? 'the cart inside the JSON is rewritten' : t.sealed ? 'one character of the sealed value changes' : 'one character of the session ID changes'}.</li>
    <li>Your browser comes back with the edited cookie, and this page shows what the server believed.</li>
  </ol>`,
  steps: [
    {
      title: () => 'You put an apple in the cart',
      async run(ctx) {
        const { session, before } = await ctx.open();
        session.data.cart = [...(session.data.cart ?? []), 'apple'];
        note('handler', `added apple: session.data.cart now has ${session.data.cart.length} items`);
        noteChanges(before, session);
        await ctx.commit(session);
      },
    },
    {
      title: () => 'Your cookie is edited in the browser',
      async run(ctx, run) {
        const value = ctx.cookie();
        if (value === undefined) return note('lab', 'no cookie came with this request: nothing to edit');
        const edited = tamperValue(ctx.t, value);
        note('lab', `the lab ${edited.how}`);
        run.state.how = edited.how;
        ctx.plant(edited.value);
        return html`<b>Edited:</b> the lab ${edited.how}. The answer puts the edited value in your browser.`;
      },
    },
  ],
  resultVisit: () => 'Your browser sends the edited cookie',
  verdict(run, t) {
    const visit = run.entries.at(-1);
    const state = factsOf(visit.trace, 'session')[0]?.state;
    const refused = factsOf(visit.trace, 'seal-refused')[0];
    const cart = visit.cart ?? [];
    if (state === 'loaded') {
      return html`<p class="verdict verdict-bad" id="verdict" data-outcome="believed"><b>Believed.</b> The server took the edited cookie at its word: your cart now holds ${cart.join(', ') || 'nothing'}${cart.includes('gold bar') ? ', a product the shop does not even sell' : ''}. ${t.plain ? 'Nothing in a plain cookie tells the server it was changed, so never keep anything in one that the visitor must not choose.' : ''}</p>`;
    }
    const why = refused ? html`the seal did not open (<code>${refused.reason}</code>): AES-GCM’s tag no longer matches, so the server knows the value was changed` : 'the edited ID names no session in the store, and an ID the server does not hold is never adopted';
    return html`<p class="verdict verdict-good" id="verdict" data-outcome="refused"><b>Refused.</b> ${run.state.how ? `The lab ${run.state.how}; ` : ''}${why}. You got a fresh, empty session instead, and nothing of the edited cookie was believed.</p>`;
  },
};
