// The plain-session demo: one shopping cart, three session techniques side by side, and on every
// page an inspector that shows what the browser holds next to what the server holds. Under /lab/,
// an attack lab tries tampering, theft, fixation, two tabs at once and expiry on the same three.
//
//   npm start                           then open http://localhost:3000
//   NODE_DEBUG=plain-session npm start  the same steps, printed in the terminal too
//   PORT=8080 SESSION_SECRET=… npm start
//
// Each request is handled in the long form that `sessions.wrap()` is built on (steps.js), so that
// the page can show the response's own Set-Cookie header before sending it.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { renderInspector } from './inspector.js';
import { createLab } from './lab/lab.js';
import { PRODUCTS, indexPage, layout, messagePage, techniquePage } from './pages.js';
import { localUrl, readForm, redirect, sendPage } from './respond.js';
import { commit, cookieAfter, logIn, logOut, noteChanges, open, validUser } from './steps.js';
import { setUpTechniques } from './techniques.js';
import { note, traceLines, withTrace } from './trace.js';

/** Enough to show the cart at work, and a bound on what one visitor can make the server keep. */
const MAX_ITEMS = 200;

const techniques = await setUpTechniques();

const server = createServer((req, res) => {
  withTrace(() => route(req, res)).catch((error) => {
    console.error('demo: request failed', error);
    if (res.headersSent) return void res.destroy();
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('Something went wrong; the terminal running the demo says what.');
  });
});

const lab = await createLab({ techniques, server });

async function route(req, res) {
  const url = localUrl(req.url);
  if (url === undefined) return notFound(res);
  // HEAD is GET without the body: the same status and headers (Node leaves the body out).
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  if (url.pathname === '/favicon.ico') return void res.writeHead(204).end();
  if (url.pathname === '/') {
    if (method !== 'GET') return notAllowed(res, 'GET, HEAD');
    return sendPage(res, 200, layout({ title: 'Three session techniques', techniques, body: indexPage(techniques) }));
  }
  if (url.pathname === '/lab' || url.pathname.startsWith('/lab/')) return lab.route(req, res, url, method);

  const technique = techniques.find((t) => url.pathname === t.path || url.pathname.startsWith(`${t.path}/`));
  if (technique === undefined) return notFound(res);
  const where = url.pathname.slice(technique.path.length); // '', '/', '/cart', '/add', …
  if (where === '') return redirect(res, 308, `${technique.path}/`);
  if (where === '/' || where === '/cart') {
    if (method !== 'GET') return notAllowed(res, 'GET, HEAD');
    return show(technique, req, res, where === '/' ? 'shop' : 'cart', url.searchParams.get('after'));
  }
  if (Object.hasOwn(ACTIONS, where)) {
    if (method !== 'POST') return notAllowed(res, 'POST');
    return act(technique, req, res, where);
  }
  notFound(res, technique);
}

function notFound(res, technique) {
  sendPage(res, 404, messagePage({ techniques, current: technique, title: 'Not found', message: 'There is no such page in this demo.' }));
}

function notAllowed(res, allow) {
  res.setHeader('allow', allow);
  sendPage(res, 405, messagePage({ techniques, title: 'Not allowed', message: `This page answers ${allow} only.` }));
}

/** GET: the shop or the cart, with the inspector. */
async function show(technique, req, res, view, after) {
  const { session, sent } = await open(technique, req);
  // Nothing changes on a GET, but commit may still move the expiry (and, on some versions, resend the cookie).
  const setCookies = await commit(technique, session, res);
  const inspector = renderInspector({
    technique,
    request: { method: req.method, path: req.url, cookieHeader: req.headers.cookie },
    response: { setCookies, cacheControl: res.getHeader('cache-control') },
    previous: recall(after, technique),
    holds: await technique.holds(cookieAfter(technique, sent, setCookies)),
    trace: traceLines(),
  });
  const body = techniquePage({ technique, view, cart: session.data.cart ?? [], user: session.data.user, inspector });
  sendPage(res, 200, layout({ title: `${technique.title}: ${view}`, techniques, current: technique, body }));
}

/** What each button does to the session. `form` is the posted form, already checked. */
const ACTIONS = {
  async '/add'(session, form) {
    const item = form.get('item');
    const cart = session.data.cart ?? [];
    if (!PRODUCTS.includes(item) || cart.length >= MAX_ITEMS) return note('handler', 'nothing added (not a product, or the cart is full)');
    session.data.cart = [...cart, item];
    note('handler', `added ${item}: session.data.cart now has ${cart.length + 1} items`);
  },
  async '/remove'(session, form) {
    const cart = [...(session.data.cart ?? [])];
    const at = cart.indexOf(form.get('item'));
    if (at === -1) return note('handler', 'nothing to remove');
    cart.splice(at, 1);
    session.data.cart = cart;
    note('handler', `removed one ${form.get('item')}: ${cart.length} items left`);
  },
  async '/login'(session, form) {
    await logIn(session, form.get('user'));
  },
  async '/logout'(session) {
    await logOut(session);
  },
};

/** POST: do the action, then answer 303 to the page (Post/Redirect/Get), so a reload repeats nothing. */
async function act(technique, req, res, action) {
  const form = await readForm(req);
  const back = form.get('back') === 'cart' ? 'cart' : '';
  if (action === '/login' && !validUser(form.get('user'))) {
    return sendPage(res, 400, messagePage({ techniques, current: technique, title: 'Which name?', message: 'A name is 1 to 32 letters, digits, spaces, dots, dashes or underscores.' }));
  }
  const { session, before } = await open(technique, req);
  await ACTIONS[action](session, form);
  if (action !== '/logout') noteChanges(before, session);
  let setCookies;
  try {
    setCookies = await commit(technique, session, res);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    // Only the cookie technique can get here: the sealed cart no longer fits in one cookie.
    return sendPage(res, 413, messagePage({ techniques, current: technique, title: 'The cookie is full', message: error.message, back: `${technique.path}/${back}` }));
  }
  const location = `${technique.path}/${back}`;
  const key = remember({ technique, method: 'POST', path: req.url, status: 303, location, setCookies, trace: traceLines() });
  redirect(res, 303, `${location}?after=${key}`);
}

// The POST before a page is over when the page is shown, so its Set-Cookie and trace are kept for
// a moment under a random key that the redirect carries (`?after=`). Only the newest 100 are kept.
const recentActions = new Map();

function remember(action) {
  const key = randomBytes(9).toString('base64url');
  recentActions.set(key, action);
  if (recentActions.size > 100) recentActions.delete(recentActions.keys().next().value);
  return key;
}

function recall(key, technique) {
  const action = key === null ? undefined : recentActions.get(key);
  return action?.technique === technique ? action : undefined;
}

server.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`plain-session demo (${techniques.map((t) => t.key).join(', ')}, and the attack lab) on http://localhost:${server.address().port}`);
});

// Ctrl-C: stop taking requests, then close the stores (timers stop, the database file is closed).
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close(() => Promise.all([...techniques.map((t) => t.close()), lab.close()]));
    server.closeIdleConnections();
  });
}
