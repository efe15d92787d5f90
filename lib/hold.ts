/**
 * Holding the end of a response until the session is saved.
 *
 * A browser that gets the end of the response to a login at once follows the redirect at once, and
 * its next request must find the login in the store (read-your-writes). So the save must finish
 * before the response does. But the handler must see its own `res.end()` behave exactly as on raw
 * node:http: `writableEnded` true at once, a second `end()` a no-op, `setHeader` throwing. So the
 * real `end()` runs at once, and what is held back is only the bytes it hands to the connection:
 *
 * - HTTP/1: a gate on the socket's `write` (and `end`) queues what is written while a response on
 *   that socket waits for its save, and lets it through, in order, when the save is done. The body the handler
 *   wrote before `end()` has gone out already: nothing is buffered but the end.
 * - HTTP/2: the stream's `end()` (the frame that ends the stream) waits; the data before it flows.
 *
 * When the save fails, what happens depends on whether any byte of the response reached the
 * connection. If none did, the visitor gets a plain 500 or 503 instead, and the connection is
 * closed after it (Node still believes its response is on the way). If some did, a status can no
 * longer be sent, so the connection is cut: a truncated response the client can detect beats a
 * complete-looking wrong one, and nothing of the handler's can follow an error on a kept-alive
 * connection.
 */
import type { ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { AnyRequest, AnyResponse } from './options.js';

export interface ResponseHold {
  /** Starts holding the end of the response. */
  hold(): void;
  /** Lets everything held go out, in order. */
  release(): void;
  /** Drops what is held and answers `status` in its place if nothing of the response went out, or cuts the connection. */
  abort(status: 500 | 503): void;
}

/** The hold for `res`, HTTP/1 or HTTP/2. */
export function holdFor(req: AnyRequest, res: AnyResponse): ResponseHold {
  return 'stream' in res ? new StreamHold(res.stream) : new SocketHold(req, res);
}

type Write = (...args: unknown[]) => unknown;

/**
 * The gate on one socket, shared by the responses that use the socket one after another (keep-alive
 * and pipelining). Installed once per socket, the first time a wrapped response uses it.
 */
class SocketGate {
  static readonly #gates = new WeakMap<Socket, SocketGate>();
  readonly #socket: Socket;
  readonly #write: Write;
  readonly #end: Write;
  #holders = 0;
  /** What was written, and the end of the socket if it came, in order: [call, args]. */
  #queue: [Write, unknown[]][] = [];
  /** How many writes went through to the socket: a response compares it to tell whether it has started. */
  written = 0;

  static of(socket: Socket): SocketGate {
    let gate = SocketGate.#gates.get(socket);
    if (gate === undefined) SocketGate.#gates.set(socket, (gate = new SocketGate(socket)));
    return gate;
  }

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#write = socket.write as Write;
    this.#end = socket.end as Write;
    socket.write = ((...args: unknown[]) => {
      if (this.#holders > 0) {
        this.#queue.push([this.#write, args]);
        return true;
      }
      this.written++;
      return this.#write.apply(socket, args);
    }) as Socket['write'];
    // node:http ends the socket itself once a client has half-closed its side; that end must wait
    // behind the held bytes too, or it would overtake them.
    socket.end = ((...args: unknown[]) => {
      if (this.#holders === 0) return this.#end.apply(socket, args);
      this.#queue.push([this.#end, args]);
      return socket;
    }) as Socket['end'];
  }

  hold(): void {
    this.#holders++;
  }

  release(): void {
    if (this.#holders === 0 || --this.#holders > 0) return;
    const queue = this.#queue;
    if (queue.length === 0) return;
    this.#queue = [];
    // Corked, the held writes (usually the head and the body) leave in one `writev`, as they would
    // have from Node's own `end()`, which corks the socket the same way: one system call, not two.
    const socket = this.#socket;
    socket.cork();
    for (const [call, args] of queue) {
      if (socket.destroyed) break; // the client left: nothing to deliver
      if (call === this.#write) this.written++;
      call.apply(socket, args);
    }
    socket.uncork();
  }

  /** Drops what is held; writes `answer` if given and closes the connection, else destroys it. */
  abort(answer: string | undefined): void {
    this.#queue = [];
    this.#holders = 0;
    if (this.#socket.destroyed) return;
    if (answer === undefined) {
      this.#socket.destroy();
      return;
    }
    this.written++;
    this.#write.call(this.#socket, answer, 'latin1');
    this.#end.call(this.#socket);
  }
}

class SocketHold implements ResponseHold {
  readonly #req: AnyRequest;
  #gate: SocketGate | undefined;
  /** `gate.written` when this response got the socket. */
  #start = 0;
  #holding = false;
  #aborted: 500 | 503 | undefined;

  constructor(req: AnyRequest, res: AnyResponse) {
    this.#req = req;
    const socket = (res as { socket: Socket | null }).socket;
    if (socket !== null) this.#attach(socket);
    // A pipelined response gets its socket when the responses before it are done. (`on`, not
    // `once`: a response is given a socket only once, and `once` would wrap the listener for nothing.)
    else res.on('socket', (socket: Socket) => this.#attach(socket));
  }

  #attach(socket: Socket): void {
    this.#gate = SocketGate.of(socket);
    this.#start = this.#gate.written;
    if (this.#holding) this.#gate.hold();
    if (this.#aborted !== undefined) this.abort(this.#aborted);
  }

  hold(): void {
    if (this.#holding) return;
    this.#holding = true;
    this.#gate?.hold();
  }

  release(): void {
    if (!this.#holding) return;
    this.#holding = false;
    this.#gate?.release();
  }

  abort(status: 500 | 503): void {
    this.#holding = false;
    if (this.#gate === undefined) {
      this.#aborted = status; // no socket yet: abort when it comes, before Node flushes to it
      return;
    }
    const started = this.#gate.written > this.#start;
    this.#gate.abort(started ? undefined : plainAnswer(status, this.#req.method === 'HEAD'));
  }
}

class StreamHold implements ResponseHold {
  readonly #stream: ServerHttp2Stream;
  #end: ((...args: unknown[]) => unknown) | undefined;
  #ended: unknown[] | undefined;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream;
  }

  hold(): void {
    if (this.#end !== undefined) return;
    const stream = this.#stream as unknown as { end: (...args: unknown[]) => unknown };
    this.#end = stream.end;
    stream.end = (...args: unknown[]) => {
      this.#ended = args;
      return stream;
    };
  }

  release(): void {
    const end = this.#end;
    if (end === undefined) return;
    const stream = this.#stream as unknown as { end: (...args: unknown[]) => unknown };
    stream.end = end;
    this.#end = undefined;
    if (this.#ended !== undefined && !this.#stream.destroyed) end.apply(stream, this.#ended);
  }

  abort(): void {
    const end = this.#end;
    if (end !== undefined) (this.#stream as unknown as { end: unknown }).end = end;
    this.#end = undefined;
    // HTTP/2 sends the headers at writeHead, so a status can no longer be changed: reset the stream.
    if (!this.#stream.destroyed) this.#stream.close(0x02); // NGHTTP2_INTERNAL_ERROR
  }
}

/** A minimal complete response, written straight to the connection, which is then closed. */
function plainAnswer(status: 500 | 503, head: boolean): string {
  const text = status === 503 ? 'Service Unavailable' : 'Internal Server Error';
  return (
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n` +
    `Content-Length: ${text.length}\r\nConnection: close\r\n\r\n${head ? '' : text}`
  );
}
