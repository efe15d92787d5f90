// The attacker of the lab's experiments: requests sent from the demo's server side to the demo
// itself, over loopback, with a cookie the attacker copied or made. This is what a second browser
// would send; it runs here so that one click in your browser can show both sides.
//
// Each request goes to the experiment's `whoami` endpoint, which loads the session the cookie
// names (the same steps as every page) and answers what it found as JSON, with its trace.
import { request } from 'node:http';

export function createAttacker(server) {
  return {
    /**
     * Sends `method path` with `cookieName=cookie` (or no cookie), and a form for a POST. Answers
     * the timeline entry: what was sent, the status, the Set-Cookie lines, what the session held
     * (`result`) and the server's trace of that request.
     */
    async send(path, { method = 'GET', cookieName, cookie, form }) {
      const body = form === undefined ? undefined : new URLSearchParams(form).toString();
      const headers = { accept: 'application/json' };
      if (cookie !== undefined) headers.cookie = `${cookieName}=${cookie}`;
      if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const { status, text } = await send(server.address().port, { method, path, headers }, body);
      let answer;
      try {
        answer = JSON.parse(text);
      } catch {
        answer = { result: { state: 'error' }, setCookies: [], trace: [] };
      }
      return {
        actor: 'attacker',
        method,
        path,
        cookieHeader: headers.cookie,
        status,
        setCookies: answer.setCookies,
        result: answer.result,
        trace: answer.trace,
        at: performance.now(),
        wall: Date.now(),
      };
    },
  };
}

/** One request over loopback, on a connection of its own (nothing left open afterwards). */
function send(port, options, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, agent: false, ...options }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, text }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('the demo did not answer its own request within 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}
