// The shopping cart from the sessions chapter: add items, move from page to page, and the cart
// stays with you. HTTP itself forgets everything between requests; the session remembers.
//
//   npm start                      in-memory sessions (lost when the server restarts)
//   STORE=cookie npm start         the whole cart sealed inside the cookie
//   STORE=sqlite npm start         the cart in a SQLite file (survives restarts)
//   STORE=postgres npm start       the cart in PostgreSQL (DATABASE_URL), shared by many processes
//   STORE=redis npm start          the cart in Redis (REDIS_URL), shared by many processes
// store.js says how to point it at your database.
import { createServer } from 'node:http';
import { createSessions } from 'plain-session';
import { makeStore } from './store.js';

const PRODUCTS = ['apple', 'banana', 'cherry', 'dates', 'elderberries'];

const { store, label, close } = await makeStore(process.env.STORE ?? 'memory');
const sessions = createSessions({ store, cookie: { name: 'cart' } });

const server = createServer(
  sessions.wrap(async (req, res, session) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'POST' && (url.pathname === '/add' || url.pathname === '/remove')) {
      const item = (await readForm(req)).get('item');
      if (PRODUCTS.includes(item)) {
        const cart = (session.data.cart ??= []);
        if (url.pathname === '/add') cart.push(item);
        else if (cart.includes(item)) cart.splice(cart.indexOf(item), 1);
      }
      // Post/Redirect/Get: a reload does not add the item twice. The redirect only goes out
      // after the session is saved, so the next page already shows the change.
      res.writeHead(303, { location: url.pathname === '/add' ? '/' : '/cart' }).end();
      return;
    }
    res.setHeader('content-type', 'text/html; charset=utf-8');
    const cart = session.data.cart ?? [];
    if (url.pathname === '/cart') {
      const rows = cart.length === 0
        ? '<p>Your cart is empty.</p>'
        : `<ul>${cart.map((item) => `<li>${item} <form method="post" action="/remove"><button name="item" value="${item}">remove</button></form></li>`).join('')}</ul>`;
      res.end(page('Your cart', cart.length, rows));
      return;
    }
    if (url.pathname === '/') {
      const list = PRODUCTS.map((item) => `<li>${item} <form method="post" action="/add"><button name="item" value="${item}">add to cart</button></form></li>`).join('');
      res.end(page('Shop', cart.length, `<ul>${list}</ul>`));
      return;
    }
    res.statusCode = 404;
    res.end(page('Not found', cart.length, '<p>No such page.</p>'));
  }),
);

function page(title, count, body) {
  return `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${title}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}
li{margin:.4rem 0}form{display:inline}nav a{margin-right:1rem}small{color:#666}</style>
<nav><a href="/">Shop</a><a href="/cart">Cart (<span id="count">${count}</span>)</a></nav>
<h1>${title}</h1>${body}
<p><small>Sessions: ${label}</small></p></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) break; // a form with one field is small
  }
  return new URLSearchParams(body);
}

server.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`shopping cart, sessions ${label}, on http://localhost:${server.address().port}`);
});

// Ctrl-C (or SIGTERM from a process manager): stop taking requests, let those under way finish,
// then stop the session store's timers and close its database connection, so the process exits.
function shutdown() {
  server.close(async () => {
    await sessions.close();
    await close();
  });
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
