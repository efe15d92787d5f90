// The HTTP side of the demo's pages: which paths are local, reading a posted form, sending a page.
// Request input never crashes the server: a path or form that makes no sense gets a plain answer.

/**
 * The request's path as a URL on this server, or `undefined` when it is not a plain local path.
 * `//evil.com/memory/` or `/\evil.com/` would parse as another host (and `//` or `//a:b@/` not at
 * all): such a path names no page here, and is never read as another one, nor redirected to.
 */
export function localUrl(target = '/') {
  if (!target.startsWith('/') || target[1] === '/' || target[1] === '\\') return undefined;
  try {
    const url = new URL(target, 'http://localhost');
    return url.origin === 'http://localhost' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** The posted form (the forms here have a few short fields; anything past 10 kB is ignored). */
export async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) break;
  }
  return new URLSearchParams(body);
}

/**
 * Sends an HTML page. Node leaves the body out of an answer to HEAD, and its Content-Length too
 * (a HEAD page's inspector says HEAD where GET's says GET, so the lengths differ by a few bytes).
 */
export function sendPage(res, status, page, headers = {}) {
  const body = String(page);
  res.statusCode = status;
  res.setHeader('content-type', 'text/html; charset=utf-8');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  // The pages show live session state: never let a cache or the back button show an old one.
  if (!res.hasHeader('cache-control')) res.setHeader('cache-control', 'no-store');
  res.end(body);
}

/** A redirect to a path of this demo (never to anything the request named). */
export function redirect(res, status, location) {
  if (!location.startsWith('/') || location[1] === '/' || location[1] === '\\') throw new TypeError(`redirect: not a local path: ${location}`);
  res.writeHead(status, { location, 'cache-control': 'no-store' }).end();
}
