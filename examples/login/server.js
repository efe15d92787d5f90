// Logging in and out, done safely:
//   - login regenerates the session ID, so an ID planted or seen before login is worthless after it;
//   - logout destroys the session on the server and expires the cookie.
//   node examples/login/server.js   then open http://localhost:3000
import { createServer } from 'node:http';
import { createSessions } from 'plain-session';

const sessions = createSessions();
const USERS = new Map([['ada', 'lovelace']]); // a demo only: store password hashes in real life

const page = (body) => `<!doctype html><meta charset="utf-8"><title>login</title><body style="font-family:system-ui;max-width:30rem;margin:2rem auto">${body}</body>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) break; // a login form is small
  }
  return new URLSearchParams(body);
}

const server = createServer(
  sessions.wrap(async (req, res, session) => {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    if (req.method === 'POST' && req.url === '/login') {
      const form = await readForm(req);
      const user = form.get('user') ?? '';
      if (USERS.get(user) !== form.get('password')) {
        res.statusCode = 401;
        res.end(page('<p>Wrong name or password. <a href="/">Try again</a></p>'));
        return;
      }
      await session.regenerate(); // new ID on login: defeats session fixation
      session.data.user = user;
      session.bindUser(user); // lets store.deleteUser(user) log this user out everywhere
      res.writeHead(303, { location: '/private' }).end();
      return;
    }
    if (req.method === 'POST' && req.url === '/logout') {
      await session.destroy();
      res.writeHead(303, { location: '/' }).end();
      return;
    }
    if (req.url === '/private') {
      if (!session.data.user) {
        res.writeHead(303, { location: '/' }).end();
        return;
      }
      res.end(page(`<h1>Hello, ${escapeHtml(session.data.user)}</h1><p>This page is only for you.</p>
        <form method="post" action="/logout"><button>Log out</button></form>`));
      return;
    }
    res.end(page(`<h1>Log in</h1><p>Try <code>ada</code> / <code>lovelace</code>.</p>
      <form method="post" action="/login">
        <p><label>Name <input name="user" autocomplete="username"></label></p>
        <p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>
        <button>Log in</button></form>`));
  }),
);

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

server.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`login example on http://localhost:${server.address().port}`);
});
