// The plain-session demo: one shopping cart, three session techniques side by side, and on every
// page an inspector that shows what the browser holds next to what the server holds.
//
//   npm start                           then open http://localhost:3000
//   NODE_DEBUG=plain-session npm start  the same steps, printed in the terminal too
//   PORT=8080 SESSION_SECRET=… npm start
//
// Each request is handled in the long form that `sessions.wrap()` is built on, so that the page can
// show the response's own Set-Cookie header before sending it:
//
//   const session = await sessions.load(req);   // read the cookie, find the session
//   ...change session.data...
//   await sessions.commit(session, res);        // set the cookie, save the session
//   res.getHeader('set-cookie')                 // what the browser is about to receive
//   res.end(page);
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { isWellFormedId, parseCookie } from 'plain-session';
import { renderInspector } from './inspector.js';
import { PRODUCTS, indexPage, layout, messagePage, techniquePage } from './pages.js';
import { setUpTechniques } from './techniques.js';
import { note, short, traceLines, withTrace } from './trace.js';

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

async function route(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/favicon.ico') return void res.writeHead(204).end();
  if (url.pathname === '/' && req.method === 'GET') {
    return sendPage(res, 200, layout({ title: 'Three session techniques', techniques, body: indexPage(techniques) }));
  }
  const technique = techniques.find((t) => url.pathname === t.path || url.pathname.startsWith(`${t.path}/`));
  const where = technique && url.pathname.slice(technique.path.length); // '', '/', '/cart', '/add', …
  if (where === '') return void res.writeHead(308, { location: `${technique.path}/` }).end();
  if (req.method === 'GET' && (where === '/' || where === '/cart')) {
    return show(technique, req, res, where === '/' ? 'shop' : 'cart', url.searchParams.get('after'));
  }
  if (req.method === 'POST' && Object.hasOwn(ACTIONS, where ?? '')) return act(technique, req, res, where);
  sendPage(res, 404, messagePage({ techniques, current: technique, title: 'Not found', message: 'There is no such page in this demo.' }));
}

/** GET: the shop or the cart, with the inspector. */
async function show(technique, req, res, view, after) {
  const { session, sent } = await open(technique, req);
  // Nothing changes on a GET, but commit may still move the expiry (and then resend the cookie).
  await technique.sessions.commit(session, res);
  const setCookies = setCookieLines(res);
  noteSetCookie(technique, setCookies);

  const value = cookieAfter(technique, sent, setCookies, session);
  const inspector = renderInspector({
    technique,
    request: { method: req.method, path: req.url, cookieHeader: req.headers.cookie },
    response: { setCookies, cacheControl: res.getHeader('cache-control') },
    previous: recall(after, technique),
    holds: await technique.holds(value),
    trace: traceLines(),
  });
  const body = techniquePage({ technique, view, cart: session.data.cart ?? [], user: session.data.user, inspector });
  sendPage(res, 200, layout({ title: `${technique.title}: ${view}`, techniques, current: technique, body }));
}

/** What each button does to the session. `form` is the posted form, already checked. */
const ACTIONS = {
  async '/add'(session, form) {
    const item = form.get('item');
    const cart = (session.data.cart ??= []);
    if (!PRODUCTS.includes(item) || cart.length >= MAX_ITEMS) return note('handler', 'nothing added (not a product, or the cart is full)');
    cart.push(item);
    note('handler', `added ${item}: session.data.cart now has ${cart.length} items`);
  },
  async '/remove'(session, form) {
    const cart = session.data.cart ?? [];
    const at = cart.indexOf(form.get('item'));
    if (at !== -1) cart.splice(at, 1);
    note('handler', at === -1 ? 'nothing to remove' : `removed one ${form.get('item')}: ${cart.length} items left`);
  },
  async '/login'(session, form) {
    const before = session.isNew ? undefined : session.id;
    note('handler', `log in as ${form.get('user')}: session.regenerate() moves the session to a new ID`);
    // A new ID at every login: an ID someone planted or saw before the login is worth nothing after it.
    await session.regenerate();
    session.data.user = form.get('user');
    session.bindUser(form.get('user'));
    note('handler', `new ID ${short(session.id)} (was ${before ? short(before) : 'none'}), same cart, user ${form.get('user')}`);
  },
  async '/logout'(session) {
    note('handler', 'log out: session.destroy() removes the stored session and deletes the cookie');
    await session.destroy();
  },
};

/** POST: do the action, then answer 303 to the page (Post/Redirect/Get), so a reload repeats nothing. */
async function act(technique, req, res, action) {
  const form = await readForm(req);
  const back = form.get('back') === 'cart' ? 'cart' : '';
  if (action === '/login' && !/^[\p{L}\p{N} _.-]{1,32}$/u.test(form.get('user') ?? '')) {
    return sendPage(res, 400, messagePage({ techniques, current: technique, title: 'Which name?', message: 'A name is 1 to 32 letters, digits, spaces, dots, dashes or underscores.' }));
  }
  const { session } = await open(technique, req);
  await ACTIONS[action](session, form);
  try {
    await technique.sessions.commit(session, res);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    // Only the cookie technique can get here: the sealed cart no longer fits in one cookie.
    return sendPage(res, 413, messagePage({ techniques, current: technique, title: 'The cookie is full', message: error.message }));
  }
  const setCookies = setCookieLines(res);
  noteSetCookie(technique, setCookies);
  const location = `${technique.path}/${back}`;
  const keeps = cookieAfter(technique, undefined, setCookies, session) !== undefined || !session.isNew;
  const key = remember({ technique, method: 'POST', path: req.url, status: 303, location, setCookies, keeps, trace: traceLines() });
  res.writeHead(303, { location: `${location}?after=${key}` }).end();
}

/** Loads the session (sessions.load) and notes the first steps of the trace on the way. */
async function open(technique, req) {
  const sent = parseCookie(req.headers.cookie)[technique.cookieName];
  if (sent === undefined) {
    note('cookie', `no ${technique.cookieName} cookie in the request: a first visit, or the cookie was deleted`);
  } else {
    note('cookie', `read ${technique.cookieName}=${short(sent)} from the Cookie header (${sent.length} characters)`);
    if (technique.key === 'cookie') note('check', 'a sealed value: only the secret can open it, and any change to it is detected');
    else if (isWellFormedId(sent)) note('check', 'well-formed: 43 base64url characters, as every ID we make; now ask the store');
    else note('check', 'not a well-formed session ID: refused without asking the store');
  }
  const session = await technique.sessions.load(req);
  const items = (session.data.cart ?? []).length;
  if (!session.isNew) note('load', `session loaded: ${items} ${items === 1 ? 'item' : 'items'} in the cart${session.data.user ? `, logged in as ${session.data.user}` : ''}`);
  else if (sent !== undefined) note('load', 'the cookie names no live session, and such an ID is never adopted: a new, empty session');
  else note('load', 'a new, empty session: nothing is stored and no cookie is set until something is put in it');
  return { session, sent };
}

function noteSetCookie(technique, setCookies) {
  const ours = setCookies.find((line) => line.startsWith(`${technique.cookieName}=`));
  if (ours === undefined) return note('cookie', 'no Set-Cookie: the browser keeps the cookie it has (or has none)');
  const value = ours.slice(technique.cookieName.length + 1, ours.indexOf(';'));
  if (value === '') return note('cookie', `Set-Cookie: ${technique.cookieName}=; Max-Age=0 …: the browser deletes its cookie`);
  note('cookie', `Set-Cookie: ${technique.cookieName}=${short(value)} (${Buffer.byteLength(ours)} bytes with its attributes)`);
}

/** The cookie value the browser holds once this response arrives, or `undefined` for none. */
function cookieAfter(technique, sent, setCookies, session) {
  const ours = setCookies.find((line) => line.startsWith(`${technique.cookieName}=`));
  if (ours !== undefined) return ours.slice(technique.cookieName.length + 1, ours.indexOf(';')) || undefined;
  return session.isNew ? undefined : sent;
}

function setCookieLines(res) {
  const header = res.getHeader('set-cookie');
  return header === undefined ? [] : [header].flat().map(String);
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

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) break; // the forms here have two short fields
  }
  return new URLSearchParams(body);
}

function sendPage(res, status, page) {
  res.statusCode = status;
  res.setHeader('content-type', 'text/html; charset=utf-8');
  // The pages show live session state: never let a cache or the back button show an old one.
  if (!res.hasHeader('cache-control')) res.setHeader('cache-control', 'no-store');
  res.end(String(page));
}

server.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`plain-session demo (${techniques.map((t) => t.key).join(', ')}) on http://localhost:${server.address().port}`);
});

// Ctrl-C: stop taking requests, then close the stores (timers stop, the database file is closed).
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => server.close(() => Promise.all(techniques.map((t) => t.close()))));
}
