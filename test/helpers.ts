/**
 * Test helpers: a real server on 127.0.0.1:0 and a small client with a cookie jar, so tests talk
 * HTTP over real sockets the way a browser would.
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryStore } from '../lib/stores/memory.js';
import type { SessionPatch, SessionRecord, Store } from '../lib/store.js';

export interface Served {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts `listener` on an ephemeral loopback port. */
export async function serve(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<Served> {
  const server = createServer(listener as RequestListener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Reply {
  status: number;
  body: string;
  headers: Headers;
  setCookies: string[];
}

/** A client that keeps cookies like a browser: Set-Cookie stores, Max-Age=0 deletes. */
export class Client {
  readonly jar = new Map<string, string>();
  constructor(readonly base: string) {}

  get cookieHeader(): string {
    return [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async request(path: string, init: RequestInit = {}): Promise<Reply> {
    const headers = new Headers(init.headers);
    if (this.jar.size > 0 && !headers.has('cookie')) headers.set('cookie', this.cookieHeader);
    const res = await fetch(this.base + path, { redirect: 'manual', ...init, headers });
    const setCookies = res.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/;\s*max-age=0/i.test(line)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return { status: res.status, body: await res.text(), headers: res.headers, setCookies };
  }

  get(path: string): Promise<Reply> {
    return this.request(path);
  }
}

/** The value of `name` in a list of Set-Cookie lines. */
export function cookieValue(setCookies: string[], name: string): string | undefined {
  for (const line of setCookies) {
    const [pair = ''] = line.split(';');
    if (pair.startsWith(`${name}=`)) return pair.slice(name.length + 1);
  }
  return undefined;
}

/** A MemoryStore that counts calls and can be made slow or failing, for tests of the manager. */
export class InstrumentedStore implements Store {
  readonly inner = new MemoryStore({ pruneInterval: 0 });
  calls = { get: 0, set: 0, patch: 0, touch: 0, delete: 0 };
  delay = 0;
  fail: Partial<Record<'get' | 'set' | 'patch' | 'touch' | 'delete', Error>> = {};

  async #step(op: 'get' | 'set' | 'patch' | 'touch' | 'delete'): Promise<void> {
    this.calls[op]++;
    if (this.delay > 0) await new Promise((resolve) => setTimeout(resolve, this.delay));
    const error = this.fail[op];
    if (error) throw error;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    await this.#step('get');
    return this.inner.get(id);
  }
  async set(id: string, record: SessionRecord): Promise<void> {
    await this.#step('set');
    return this.inner.set(id, record);
  }
  async patch(id: string, patch: SessionPatch): Promise<boolean> {
    await this.#step('patch');
    return this.inner.patch(id, patch);
  }
  async touch(id: string, expiresAt: number): Promise<void> {
    await this.#step('touch');
    return this.inner.touch(id, expiresAt);
  }
  async delete(id: string): Promise<void> {
    await this.#step('delete');
    return this.inner.delete(id);
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}
