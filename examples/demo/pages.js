// The pages of the demo: the index that explains the three techniques, and the shop and cart pages
// each technique serves. Plain HTML with a little CSS (style.css), no script.
import { readFileSync } from 'node:fs';
import { html, trusted } from './html.js';

export const PRODUCTS = ['apple', 'banana', 'cherry', 'dates', 'elderberries'];

const CSS = readFileSync(new URL('./style.css', import.meta.url), 'utf8');

/** The frame around every page: the header with the three techniques and the lab, then `body`. */
export function layout({ title, techniques, current, lab = false, bare = false, body, head = '' }) {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · plain-session demo</title>
<style>${trusted(CSS)}</style>
${head}
</head>
<body class="${current ? `t-${current.color ?? current.key}` : lab ? 't-lab' : 't-index'}${bare ? ' bare' : ''}">
${!bare && html`<header class="top"><div class="wrap">
  <a class="brand" href="/">plain-session <span>demo</span></a>
  <nav class="techniques" aria-label="Techniques">${techniques.map((t) => html`<a href="${t.path}/" class="t-${t.key}"${t === current ? html` aria-current="page"` : ''}>${t.title}</a>`)}
    <a href="/lab/" class="lab-link"${lab ? html` aria-current="page"` : ''}>Attack lab</a></nav>
</div></header>`}
${body}
</body>
</html>`;
}

/** `/`: the three techniques, told the way the tutorial meant them, and told correctly. */
export function indexPage(techniques) {
  const card = (t) => html`<article class="card technique t-${t.key}">
    <h2><a href="${t.path}/">${t.title}</a></h2>
    <p>${t.summary}</p>
    <p class="small"><b>Cookie:</b> <code>${t.cookieName}</code>, sent only to <code>${t.path}</code></p>
    <p class="small"><b>Good:</b> ${t.good}</p>
    <p class="small"><b>Limits:</b> ${t.limits}</p>
    <p class="small"><b>After a restart:</b> ${t.restart}</p>
    <p><a class="button" href="${t.path}/">Open the ${t.key} cart →</a></p>
  </article>`;
  return html`<main class="index">
  <section class="intro">
    <h1>One shopping cart, three ways to remember it</h1>
    <p>HTTP forgets everything between two requests. A <em>session</em> is how a server remembers one
    visitor anyway, and every session technique starts with a cookie. This demo runs the same cart
    three times, once per technique, and every page has an <b>inspector</b> that shows what the
    browser sent, what the server answered, and what the server keeps.</p>
  </section>
  <div class="columns">${techniques.map(card)}</div>
  <section class="card lab-teaser">
    <h2><a href="/lab/">Attack lab →</a></h2>
    <p>Edit a cookie, steal one, plant one before a login, change one session from two tabs at once,
    and leave a session to expire: each experiment is one click on the same three techniques, and
    shows every request, what the server did, and why.</p>
  </section>
  <section class="card notes">
    <h2>Things worth knowing</h2>
    <ul>
      <li><b>The ID must be random.</b> A session ID is 256 random bits from <code>node:crypto</code>, never a counter or a user’s ID from the database: those can be guessed, and then anyone can be anyone.</li>
      <li><b>A cookie session must be sealed.</b> A cart kept in a plain cookie can be read and edited by the visitor. Here it is encrypted and signed (AES-256-GCM), and a cookie that was changed is refused.</li>
      <li><b>Encrypting an ID does not stop theft.</b> A stolen cookie works whether or not it is encrypted. What helps: HTTPS with <code>Secure</code>, <code>HttpOnly</code> against scripts, <code>SameSite</code> against other sites, short timeouts, and a new ID at every login.</li>
      <li><b>Parse the Cookie header, do not grep it.</b> One header carries every cookie for the page, separated by <code>; </code>, and a regular expression easily picks the wrong one.</li>
      <li><b>Clean up.</b> Sessions expire after 30 idle minutes or 8 hours at most, and expired entries are swept from the Map and the table on a timer.</li>
    </ul>
    <p class="small">Restart the server to see the difference: press Ctrl-C in its terminal and run <code>npm start</code> again.
    To watch the steps in the terminal too, start it with <code>NODE_DEBUG=plain-session npm start</code>.</p>
  </section>
</main>`;
}

/** A technique's shop (`view: 'shop'`) or cart (`view: 'cart'`) page, with the inspector beside it. */
export function techniquePage({ technique, view, cart, user, inspector }) {
  const p = technique.path;
  const counts = countItems(cart);
  const shop = html`<h1>Shop</h1>
    <ul class="products">${PRODUCTS.map((item) => html`<li><span>${item}${counts.get(item) ? html` <small>(${counts.get(item)} in cart)</small>` : ''}</span>
      <form method="post" action="${p}/add"><input type="hidden" name="back" value="shop"><button name="item" value="${item}">Add</button></form></li>`)}</ul>`;
  const cartView = html`<h1>Your cart</h1>
    ${cart.length === 0 ? html`<p class="empty">Your cart is empty.</p>` : html`<ul class="products">${[...counts].map(([item, n]) => html`<li><span>${item} <small>× ${n}</small></span>
      <form method="post" action="${p}/remove"><input type="hidden" name="back" value="cart"><button name="item" value="${item}">Remove one</button></form></li>`)}</ul>`}`;
  return html`<main class="page">
  <div class="shop-column">
    <section class="card">
      <p class="technique-line"><b>${technique.title}.</b> ${technique.summary}</p>
      <nav class="views"><a href="${p}/"${view === 'shop' ? html` aria-current="page"` : ''}>Shop</a>
        <a href="${p}/cart"${view === 'cart' ? html` aria-current="page"` : ''}>Cart (<span id="count">${cart.length}</span>)</a></nav>
      ${view === 'cart' ? cartView : shop}
    </section>
    <section class="card account">
      <h2>Account</h2>
      ${user
        ? html`<p>Logged in as <b id="user">${user}</b>.</p>
          <form method="post" action="${p}/logout"><input type="hidden" name="back" value="${view}"><button>Log out</button></form>
          <p class="small">Log out calls <code>session.destroy()</code>: the server’s entry and the browser’s cookie go away, and the cart with them.</p>`
        : html`<form method="post" action="${p}/login" class="login"><input type="hidden" name="back" value="${view}">
            <label>Name <input name="user" value="ada" maxlength="32" required></label> <button>Log in</button></form>
          <p class="small">Log in calls <code>session.regenerate()</code>: same cart, new ID, and the old ID stops working. Watch the ID change in the inspector.</p>`}
    </section>
  </div>
  ${inspector}
</main>`;
}

function countItems(cart) {
  const counts = new Map();
  for (const item of cart) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}

/** A small page for errors and 404s. */
export function messagePage({ techniques, current, title, message, back }) {
  return layout({ title, techniques, current, body: html`<main class="index"><section class="card"><h1>${title}</h1><p>${message}</p><p><a href="${back ?? (current ? `${current.path}/` : '/')}">Back</a></p></section></main>` });
}
