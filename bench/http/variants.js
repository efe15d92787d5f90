// The session layers under test, each written the way its README shows, on plain node:http.
//
// Every variant serves the same tiny app: a view counter. What the app does with the session
// depends on the scenario (see `modeFor`):
//   'modify'  reads `views`, adds one, saves it and answers the new count;
//   'read'    answers `views` without changing the session;
//   'none'    answers "ok" and never touches the session.
// `GET /setup` always modifies: the harness uses it to create the session a returning visitor has.
//
// A variant is `async (scenario) => ({ handler(req, res), close?() })`. A variant that cannot run
// here (plain-session not built yet, no REDIS_URL) throws a `Skip` with the reason.

import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { loadPlain } from '../lib/plain.js';

const require = createRequire(import.meta.url);

/** One secret for every library, longer than the 32 characters they all ask for. */
export const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

export const SCENARIOS = ['returning-modify', 'returning-read', 'anonymous', 'new'];

/** A variant that cannot run in this environment; the reason is reported, not thrown further. */
export class Skip extends Error {}

/** What the app does with the session for a request to `url` in `scenario`. */
export function modeFor(scenario, url) {
  if (url === '/setup') return 'modify';
  if (scenario === 'returning-read') return 'read';
  if (scenario === 'anonymous') return 'none';
  return 'modify'; // 'returning-modify', and 'new' (no cookie, so every request creates a session)
}

function send(res, body) {
  res.setHeader('Content-Type', 'text/plain');
  res.end(body);
}

function fail(res, error) {
  console.error(error);
  if (!res.headersSent) res.statusCode = 500;
  res.end();
}

/** The view counter written against an express-style `req.session` (express-session, cookie-session). */
function expressStyleApp(scenario) {
  return (req, res) => {
    const mode = modeFor(scenario, req.url);
    if (mode === 'none') return send(res, 'ok');
    if (mode === 'read') return send(res, String(req.session.views ?? 0));
    req.session.views = (req.session.views ?? 0) + 1;
    send(res, String(req.session.views));
  };
}

/** Runs connect-style middleware on a raw node:http listener, as their READMEs allow. */
function withMiddleware(middleware, app) {
  return (req, res) => middleware(req, res, (error) => (error ? fail(res, error) : app(req, res)));
}

async function expressSession(scenario, makeStore) {
  const session = require('express-session');
  const store = await makeStore(session);
  const middleware = session({ secret: SECRET, resave: false, saveUninitialized: false, store });
  return { handler: withMiddleware(middleware, expressStyleApp(scenario)), close: () => store.close?.() };
}

/** The plain-session view counter: `wrap` gives the handler its session. */
function plainApp(sessions, scenario) {
  return sessions.wrap((req, res, session) => {
    const mode = modeFor(scenario, req.url);
    if (mode === 'none') return send(res, 'ok');
    if (mode === 'read') return send(res, String(session.data.views ?? 0));
    session.data.views = (session.data.views ?? 0) + 1;
    send(res, String(session.data.views));
  });
}

async function plainSession(scenario, storeName) {
  const plain = await loadPlain(['createSessions', storeName]);
  if (plain.skipped) throw new Skip(plain.skipped);
  // pruneInterval is left at its default: the timer is part of what a real server pays for.
  const store = storeName === 'CookieStore' ? new plain.CookieStore({ secret: SECRET }) : new plain[storeName]();
  // The load generator speaks plain HTTP on loopback, so the cookie must not be Secure-only.
  const sessions = plain.createSessions({ store, cookie: { secure: false } });
  return { handler: plainApp(sessions, scenario), close: () => sessions.close() };
}

async function redisClient() {
  if (!process.env.REDIS_URL) throw new Skip('set REDIS_URL to run the Redis variants');
  const { createClient } = require('redis');
  const client = createClient({ url: process.env.REDIS_URL });
  await client.connect();
  return client;
}

export const VARIANTS = {
  /** node:http alone; the "session" is one counter for the whole process. The baseline. */
  raw: async (scenario) => {
    let views = 0;
    return {
      handler(req, res) {
        const mode = modeFor(scenario, req.url);
        if (mode === 'none') return send(res, 'ok');
        if (mode === 'read') return send(res, String(views));
        send(res, String(++views));
      },
    };
  },

  /** The classic tutorial: `sessions = {}`, a regex over the Cookie header, a random UUID as the ID. */
  tutorial: async (scenario) => {
    const sessions = {};
    const sessionIdPattern = /(?:^|;\s*)session-id=([^;]*)/;
    return {
      handler(req, res) {
        const match = sessionIdPattern.exec(req.headers.cookie ?? '');
        let session = match ? sessions[match[1]] : undefined;
        const mode = modeFor(scenario, req.url);
        if (mode === 'none') return send(res, 'ok');
        if (mode === 'read') return send(res, String(session?.views ?? 0));
        if (session === undefined) {
          const id = randomUUID();
          session = sessions[id] = { views: 0 };
          res.setHeader('Set-Cookie', `session-id=${id}; Path=/; HttpOnly`);
        }
        session.views += 1;
        send(res, String(session.views));
      },
    };
  },

  'express-session': (scenario) => expressSession(scenario, (session) => new session.MemoryStore()),

  'express-session+memorystore': (scenario) =>
    expressSession(scenario, (session) => {
      const MemoryStore = require('memorystore')(session);
      const store = new MemoryStore({ checkPeriod: 24 * 60 * 60 * 1000 });
      store.close = () => store.stopInterval();
      return store;
    }),

  'express-session+connect-redis': async (scenario) => {
    const client = await redisClient();
    const { RedisStore } = require('connect-redis');
    const variant = await expressSession(scenario, () => new RedisStore({ client, prefix: 'bench-es:' }));
    return { handler: variant.handler, close: () => client.quit() };
  },

  'cookie-session': async (scenario) => {
    const cookieSession = require('cookie-session');
    const middleware = cookieSession({ name: 'session', keys: [SECRET] });
    return { handler: withMiddleware(middleware, expressStyleApp(scenario)) };
  },

  /** iron-session's own API for node:http: `getIronSession(req, res, options)`, then `save()`. */
  'iron-session': async (scenario) => {
    const { getIronSession } = await import('iron-session');
    const options = { password: SECRET, cookieName: 'iron', cookieOptions: { secure: false } };
    return {
      async handler(req, res) {
        try {
          // Called on every request, as middleware would: the layer's cost when it is not used counts too.
          const session = await getIronSession(req, res, options);
          const mode = modeFor(scenario, req.url);
          if (mode === 'none') return send(res, 'ok');
          if (mode === 'read') return send(res, String(session.views ?? 0));
          session.views = (session.views ?? 0) + 1;
          await session.save();
          send(res, String(session.views));
        } catch (error) {
          fail(res, error);
        }
      },
    };
  },

  'plain-session-memory': (scenario) => plainSession(scenario, 'MemoryStore'),
  'plain-session-cookie': (scenario) => plainSession(scenario, 'CookieStore'),

  /** The same Redis as connect-redis, with a node-redis client: `new RedisStore(client, { prefix })`. */
  'plain-session-redis': async (scenario) => {
    const plain = await loadPlain(['createSessions', 'RedisStore']);
    if (plain.skipped) throw new Skip(plain.skipped);
    const client = await redisClient();
    const sessions = plain.createSessions({ store: new plain.RedisStore(client, { prefix: 'bench-ps:' }), cookie: { secure: false } });
    return {
      handler: plainApp(sessions, scenario),
      close: async () => {
        await sessions.close();
        await client.quit();
      },
    };
  },
};

/** The variants in report order; Redis ones only when REDIS_URL is set. */
export function variantNames() {
  const names = Object.keys(VARIANTS);
  return process.env.REDIS_URL ? names : names.filter((name) => !name.includes('redis'));
}
