// One request's session, in the long form that `sessions.wrap()` is built on, with each step noted
// in the trace:
//
//   const session = await sessions.load(req);   // read the cookie, find the session   (open)
//   ...change session.data...                    //                                     (noteChanges)
//   await sessions.commit(session, res);        // set the cookie, save the session    (commit)
//   res.getHeader('set-cookie')                 // what the browser is about to receive
//
// The shop pages and every experiment of the attack lab go through these same steps, so the
// inspector reads every request the same way.
import { isWellFormedId, parseCookie } from 'plain-session';
import { note, short } from './trace.js';

/**
 * Loads the session (sessions.load) and notes the first steps of the trace on the way.
 * `sessions` is the manager to use: the technique's own, or one of the lab's.
 */
export async function open(technique, req, sessions = technique.sessions) {
  const sent = parseCookie(req.headers.cookie)[technique.cookieName];
  if (sent === undefined) {
    note('cookie', `no ${technique.cookieName} cookie in the request: a first visit, or the cookie was deleted`, { kind: 'cookie-in', value: undefined });
  } else {
    note('cookie', `read ${technique.cookieName}=${short(sent)} from the Cookie header (${sent.length} characters)`, { kind: 'cookie-in', value: sent });
    if (technique.sealed) note('check', 'a sealed value: only the secret can open it, and any change to it is detected');
    else if (technique.plain) note('check', 'plain JSON, not sealed: nothing tells the server whether it was changed');
    else if (isWellFormedId(sent)) note('check', 'well-formed: 43 base64url characters, as every ID we make; now ask the store');
    else note('check', 'not a well-formed session ID: refused without asking the store', { kind: 'malformed' });
  }
  const session = await sessions.load(req);
  const items = (session.data.cart ?? []).length;
  if (!session.isNew) {
    note('load', `session loaded: ${items} ${items === 1 ? 'item' : 'items'} in the cart${session.data.user ? `, logged in as ${session.data.user}` : ''}`, { kind: 'session', state: 'loaded', id: session.id });
  } else if (sent !== undefined) {
    note('load', 'the cookie names no live session, and such an ID is never adopted: a new, empty session', { kind: 'session', state: 'not-adopted' });
  } else {
    note('load', 'a new, empty session: nothing is stored and no cookie is set until something is put in it', { kind: 'session', state: 'new' });
  }
  return { session, sent, before: snapshot(session) };
}

/** Each top-level key of `session.data` as JSON text: what a save compares, key by key. */
export function snapshot(session) {
  const keys = {};
  for (const [key, value] of Object.entries(session.data)) keys[key] = JSON.stringify(value);
  return keys;
}

/** Notes which top-level keys of `session.data` the handler changed since `before`. */
export function noteChanges(before, session) {
  const after = snapshot(session);
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== after[k]);
  if (keys.length > 0) note('handler', `session.data changed: ${keys.map((k) => (k in after ? k : `${k} (removed)`)).join(', ')}`, { kind: 'change', keys });
  return keys;
}

/**
 * sessions.commit, then notes the Set-Cookie line the response carries for this technique's
 * cookie, read back from the real response headers. Answers the response's Set-Cookie lines.
 */
export async function commit(technique, session, res, sessions = technique.sessions) {
  await sessions.commit(session, res);
  const lines = setCookieLines(res);
  const line = lineFor(lines, technique.cookieName);
  if (line === undefined) {
    note('cookie', 'no Set-Cookie: the browser keeps the cookie it has (or has none)', { kind: 'set-cookie', value: undefined });
  } else {
    const value = valueOf(line);
    const bytes = Buffer.byteLength(line);
    if (value !== '') rememberLine(value, line);
    if (value === '') note('cookie', `Set-Cookie: ${technique.cookieName}=; Max-Age=0 …: the browser deletes its cookie`, { kind: 'set-cookie', value, line, bytes });
    else note('cookie', `Set-Cookie: ${technique.cookieName}=${short(value)} (${bytes} bytes with its attributes)`, { kind: 'set-cookie', value, line, bytes });
  }
  return lines;
}

/** The response's Set-Cookie lines, as an array. */
export function setCookieLines(res) {
  const header = res.getHeader('set-cookie');
  return header === undefined ? [] : [header].flat().map(String);
}

/** The Set-Cookie line for cookie `name`, if there is one. */
export function lineFor(lines, name) {
  return lines.find((line) => line.startsWith(`${name}=`));
}

/** The value in a Set-Cookie line (`name=value; …`). */
export function valueOf(line) {
  const start = line.indexOf('=') + 1;
  const end = line.indexOf(';');
  return line.slice(start, end === -1 ? undefined : end);
}

/** The cookie value the browser holds once a response with `lines` arrives, or `undefined`. */
export function cookieAfter(technique, sent, lines) {
  const line = lineFor(lines, technique.cookieName);
  return line === undefined ? sent : valueOf(line) || undefined;
}

// The Set-Cookie line that last carried each cookie value, so the size bar can count a cookie the
// browser sends back as what it is: the whole header, name, value and attributes (RFC 6265 §6.1).
// The newest 1000 only; a value older than that (or from before a restart) is measured rebuilt.
const linesSent = new Map();

function rememberLine(value, line) {
  linesSent.delete(value);
  linesSent.set(value, line);
  if (linesSent.size > 1000) linesSent.delete(linesSent.keys().next().value);
}

/** The Set-Cookie line this process last sent for cookie value `value`, if it remembers one. */
export function lineSentFor(value) {
  return linesSent.get(value);
}

/** Log in: a new ID first, then the user. Used by the shop and by the lab. */
export async function logIn(session, user) {
  const before = session.isNew ? undefined : session.id;
  note('handler', `log in as ${user}: session.regenerate() moves the session to a new ID`);
  // A new ID at every login: an ID someone planted or saw before the login is worth nothing after it.
  await session.regenerate();
  session.data.user = user;
  session.bindUser(user);
  note('handler', `new ID ${short(session.id)} (was ${before ? short(before) : 'none'}), same cart, user ${user}`, { kind: 'regenerate', from: before, to: session.id });
}

/** Log out: the session and its stored entry go away, and the cookie is deleted. */
export async function logOut(session) {
  const id = session.isNew ? undefined : session.id;
  note('handler', 'log out: session.destroy() removes the stored session and deletes the cookie', { kind: 'destroy', id });
  await session.destroy();
}

/** A login name as the forms take it: 1 to 32 letters, digits, spaces, dots, dashes or underscores. */
export function validUser(user) {
  return /^[\p{L}\p{N} _.-]{1,32}$/u.test(user ?? '');
}
