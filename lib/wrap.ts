/**
 * `sessions.wrap(handler)`: the session around one request, without the handler noticing.
 *
 * It is built on the manager's public API only, the way you could build it yourself:
 *   1. `sessions.load(req)` before the handler runs;
 *   2. `sessions.cookieHeader(session, req)` when the response headers go out, added to them;
 *   3. `sessions.commit(session, res)` when the handler ends the response, whose last bytes wait on
 *      the connection until the save is done (lib/hold.ts), so the next request sees it.
 *
 * The contract: a wrapped handler's response is byte for byte what the same handler sends on raw
 * node:http, plus the session's `Set-Cookie` and `Cache-Control: no-store`. The handler talks to
 * the real `res` throughout: `headersSent`, `writableEnded` and `statusCode` read as they would,
 * and the calls that throw, throw at the same call. Two hooks see the response go by, and neither
 * changes what it does: `writeHead` (every way of starting a response goes through it) adds our
 * header, and `end` starts the save. Nothing of the body is buffered, so `res.write`, streams and
 * `pipe()` behave as usual (express-session's trick of writing all but the last byte broke
 * compression and large bodies).
 *
 * Where raw node:http would crash the process (a handler that throws), `wrap` answers 500 through
 * `onError` instead; a store failure answers 503. Nothing `wrap` does throws or emits an error
 * outside the handler's own calls.
 */
import type { AnyRequest, AnyResponse, Settings } from './options.js';
import { SessionError } from './options.js';
import { holdFor, type ResponseHold } from './hold.js';
import type { Session } from './session.js';
import { withSessionHeaders } from './session-cookie.js';

/** A handler as `wrap` takes it: an ordinary request listener with the session as third argument. */
export type SessionHandler<T extends object, Req extends AnyRequest, Res extends AnyResponse> = (
  req: Req,
  res: Res,
  session: Session<T>,
) => void | Promise<void>;

/** The part of the manager `wrap` uses: its public API. */
export interface SessionLifecycle<T extends object> {
  load(req: AnyRequest): Promise<Session<T>>;
  cookieHeader(session: Session<T>, req: AnyRequest): string | undefined;
  commit(session: Session<T>, res: AnyResponse): Promise<void>;
}

type OnError = Settings['onError'];

export function wrapHandler<T extends object, Req extends AnyRequest, Res extends AnyResponse>(
  sessions: SessionLifecycle<T>,
  handler: SessionHandler<T, Req, Res>,
  onError: OnError,
): (req: Req, res: Res) => void {
  return (req, res) => {
    sessions.load(req).then(
      (session) => {
        const flight = new Flight(sessions, req, res, session, onError);
        let result: void | Promise<void>;
        try {
          result = handler(req, res, session);
        } catch (error) {
          flight.handlerFailed(error);
          return;
        }
        if (typeof (result as Promise<void> | undefined)?.then === 'function') {
          (result as Promise<void>).then(undefined, (error: unknown) => flight.handlerFailed(error));
        }
      },
      (error: unknown) => {
        const failure = asSessionError(error, 503, 'session store failed while loading a session');
        tell(onError, failure, req, res);
        answer(failure, res, res.end as (...args: unknown[]) => unknown);
      },
    );
  };
}

/** A connect/Express middleware `(req, res, next)`: the same as `wrap`, with `req.session` for the routes after it. */
export function middlewareOf<T extends object, Req extends AnyRequest, Res extends AnyResponse>(
  sessions: SessionLifecycle<T>,
  onError: OnError,
): (req: Req, res: Res, next: (error?: unknown) => void) => void {
  return (req, res, next) => {
    sessions.load(req).then(
      (session) => {
        new Flight(sessions, req, res, session, onError);
        try {
          next();
        } catch (error) {
          next(error); // a framework that lets a route's throw escape: its error handler still answers
        }
      },
      // The app's error handler answers a failed load, as Express apps expect.
      (error: unknown) => next(asSessionError(error, 503, 'session store failed while loading a session')),
    );
  };
}

/** One wrapped response on its way: the two hooks and what they have seen. */
export class Flight<T extends object> {
  readonly #sessions: SessionLifecycle<T>;
  readonly #req: AnyRequest;
  readonly #res: AnyResponse;
  readonly #session: Session<T>;
  readonly #onError: OnError;
  readonly #hold: ResponseHold;
  readonly #end: (...args: unknown[]) => unknown;
  /** The session's Set-Cookie lines, decided when the headers first went out. */
  #lines: string[] | undefined;
  /** A failure of the session found while the headers went out, answered when the response ends. */
  #headFailure: unknown;
  #ended = false;
  #failed = false;

  constructor(sessions: SessionLifecycle<T>, req: AnyRequest, res: AnyResponse, session: Session<T>, onError: OnError) {
    this.#sessions = sessions;
    this.#req = req;
    this.#res = res;
    this.#session = session;
    this.#onError = onError;
    this.#hold = holdFor(req, res);
    const writeHead = res.writeHead as (...args: unknown[]) => AnyResponse;
    this.#end = res.end as (...args: unknown[]) => unknown;
    const flight = this; // eslint-disable-line @typescript-eslint/no-this-alias -- the hooks are called with `this` = res
    res.writeHead = function (this: AnyResponse, ...args: unknown[]) {
      return writeHead.apply(this, flight.#headArgs(args));
    } as AnyResponse['writeHead'];
    res.end = function (this: AnyResponse, ...args: unknown[]) {
      return flight.#onEnd(args);
    } as AnyResponse['end'];
    // Node emits 'error' on a response the handler misuses (`write()` after `end()`), and with
    // nobody listening that ends the process. Here it goes to onError, and the process lives.
    res.on('error', (error: unknown) => tell(this.#onError, asSessionError(error, 500, 'the response was misused'), this.#req, this.#res));
  }

  /** The arguments for the real `writeHead`, with the session's header added the first time. */
  #headArgs(args: unknown[]): unknown[] {
    const res = this.#res;
    if (this.#failed || res.headersSent) return args; // the real call does (or throws) what it would
    if (this.#lines === undefined) {
      this.#lines = [];
      try {
        const line = this.#sessions.cookieHeader(this.#session, this.#req);
        if (line !== undefined) this.#lines.push(line);
      } catch (error) {
        // Never thrown from the handler's own call, which raw node would not throw: answered at the end.
        this.#headFailure = error;
        res.once('close', () => this.#reportHeadFailure());
      }
    }
    return withSessionHeaders(res, args, this.#lines, 'stream' in res);
  }

  #onEnd(args: unknown[]): unknown {
    const res = this.#res;
    if (this.#failed || this.#ended || res.writableEnded) return this.#end.apply(res, args); // as raw node does
    this.#ended = true;
    this.#hold.hold();
    let result: unknown;
    try {
      result = this.#end.apply(res, args);
    } catch (error) {
      this.#ended = false; // it did not end: `res.end(5)` throws, and the handler may try again
      this.#hold.release();
      throw error;
    }
    if (this.#headFailure !== undefined) {
      this.#fail(asSessionError(this.#headFailure, 500, 'session could not be committed'));
      return result;
    }
    this.#sessions.commit(this.#session, res).then(
      () => this.#hold.release(),
      (error: unknown) => this.#fail(asSessionError(error, 500, 'session could not be committed')),
    );
    return result;
  }

  /** The handler threw or rejected. Raw node would crash; we answer 500 instead, if we still can. */
  handlerFailed(error: unknown): void {
    const failure = asSessionError(error, 500, 'request handler failed');
    if (this.#failed || this.#ended) {
      // The handler's response is complete and on its way (its save may still be running): tell, touch nothing.
      tell(this.#onError, failure, this.#req, this.#res);
      return;
    }
    this.#fail(failure);
  }

  #reportHeadFailure(): void {
    if (this.#failed || this.#ended) return;
    this.#failed = true;
    tell(this.#onError, asSessionError(this.#headFailure, 500, 'session could not be committed'), this.#req, this.#res);
  }

  #fail(error: SessionError): void {
    this.#failed = true;
    const res = this.#res;
    tell(this.#onError, error, this.#req, res);
    if (res.destroyed) return;
    if (!res.headersSent) answer(error, res, this.#end); // unless onError did
    else if (!res.writableEnded || this.#ended) this.#hold.abort(error.statusCode);
  }
}

function asSessionError(error: unknown, statusCode: 500 | 503, message: string): SessionError {
  return error instanceof SessionError ? error : new SessionError(message, statusCode, { cause: error });
}

/** Tells `onError`; a throwing hook is logged, never allowed to crash the server. */
function tell(onError: OnError, error: SessionError, req: AnyRequest, res: AnyResponse): void {
  try {
    onError(error, req, res);
  } catch (hookError) {
    console.error('plain-session: onError threw', hookError);
  }
}

/** Answers a request whose headers are not out yet with the error's status, unless `onError` already answered. */
function answer(error: SessionError, res: AnyResponse, end: (...args: unknown[]) => unknown): void {
  if (res.writableEnded || res.destroyed || res.headersSent) return;
  res.removeHeader('set-cookie'); // an error page must not set cookies the failed request meant to set
  res.statusCode = error.statusCode;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  end.call(res, error.statusCode === 503 ? 'Service Unavailable' : 'Internal Server Error');
}
