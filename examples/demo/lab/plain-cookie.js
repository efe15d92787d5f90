// How not to keep a session: the cart as plain JSON in a cookie, the way a first tutorial does it.
// It is here only so the tamper experiment can show the difference a seal makes: nothing tells
// the server whether the browser changed the value, so it believes whatever comes back.
//
// It has the shape of a session manager (`load`, `commit`), so the lab runs it like the others.
import { stringifySetCookie } from 'plain-session';
import { note } from '../trace.js';

export function plainCookieTechnique(path) {
  const cookieName = 'plain_cart';
  const read = (value) => {
    try {
      const data = JSON.parse(decodeURIComponent(value));
      return data !== null && typeof data === 'object' && !Array.isArray(data) ? data : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    key: 'plain',
    title: 'Plain cookie (not sealed)',
    cookieName,
    path,
    plain: true,
    where: 'in the cookie, in clear text',
    summary: 'The cart as plain JSON in the cookie: readable and editable by the browser, and never checked.',
    idleTimeout: 30 * 60_000,
    persistent: true,
    sessions: {
      async load(req) {
        const value = cookieValue(req.headers.cookie, cookieName);
        const data = value === undefined ? undefined : read(value);
        if (data !== undefined) note('load', 'parsed the JSON in the cookie: believed as is, whatever it says');
        return { data: data ?? {}, isNew: data === undefined, loaded: JSON.stringify(data ?? {}), id: undefined };
      },
      async commit(session, res) {
        const text = JSON.stringify(session.data);
        if (text === session.loaded) return;
        res.appendHeader('set-cookie', stringifySetCookie(cookieName, encodeURIComponent(text), { path, httpOnly: true, sameSite: 'lax', maxAge: 1800 }));
        note('save', `wrote the cart into the cookie as plain JSON (${text.length} characters): nothing sealed, nothing saved on the server`);
      },
    },
    async holds(value) {
      const data = value === undefined ? undefined : read(value);
      return { kind: 'plain', text: data === undefined ? undefined : JSON.stringify(data) };
    },
  };
}

function cookieValue(header, name) {
  for (const pair of (header ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
