// The harness's own HTTP client for the checks: a minimal cookie jar and one GET, the way a browser
// keeps cookies between requests. The timed load never goes through here (autocannon does that).

/** Puts the cookies of `setCookies` (Set-Cookie lines) into `jar`, and drops the ones cleared. */
export function remember(jar, setCookies) {
  for (const line of setCookies) {
    const pair = line.split(';', 1)[0];
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = value === '' || /;\s*max-age=0\b/i.test(line) || /;\s*expires=[^;]*1970/i.test(line);
    if (expired) jar.delete(name);
    else jar.set(name, value);
  }
}

/** The Cookie header a browser would send with `jar`. */
export const cookieHeader = (jar) => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');

/** GET `path` with the cookies in `jar`, remembering the ones the answer sets. Throws unless 200. */
export async function get(port, path, jar) {
  const headers = jar.size > 0 ? { cookie: cookieHeader(jar) } : {};
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${body}`);
  const setCookies = response.headers.getSetCookie();
  remember(jar, setCookies);
  return { body, count: Number(body), setCookies };
}

/** Runs `task(i)` for i in 0..n-1 with at most `concurrency` at once; resolves to the results in order. */
export async function inParallel(n, concurrency, task) {
  const results = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return results;
}
