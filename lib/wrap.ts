/**
 * How `sessions.wrap(handler)` rides along one response without holding any of it back.
 *
 * The cookie must go out with the headers, and the save must finish before the response does (so
 * the browser's next request sees it). Two hooks on the response do exactly that: `writeHead`,
 * which every way of starting a response goes through, sets the cookie while headers can still
 * change, and `end` waits for the save. Nothing is buffered and no byte is held back, so
 * `res.write`, streams and `pipe()` behave as usual (express-session's trick of writing all but the
 * last byte broke compression and large bodies).
 */
import type { AnyRequest, AnyResponse, Settings } from './options.js';
import { SessionError } from './options.js';
import type { Session, SessionCore } from './session.js';
import { keepCookiesThroughWriteHead } from './session-cookie.js';

/** What the hooks need from the manager. */
export interface Committer {
  settle(core: SessionCore, res: AnyResponse, headersOpen: boolean, secure: boolean): Promise<void> | undefined;
  release(session: Session<object>): void;
  isSecure(req: AnyRequest): boolean;
  readonly onError: Settings['onError'];
}

/** Where one request stands. */
interface Flight {
  end: (...args: unknown[]) => unknown;
  /** The arguments of a `writeHead` call not yet passed on (see the hook). */
  head: unknown[] | undefined;
  headersDone: boolean;
  ending: boolean;
  failed: boolean;
}

/** Runs a wrapped handler for one request, with the hooks on; answers 500 if it fails. */
export async function runWrapped<Req extends AnyRequest, Res extends AnyResponse, S extends Session<object>>(
  committer: Committer,
  handler: (req: Req, res: Res, session: S) => void | Promise<void>,
  req: Req,
  res: Res,
  session: S,
): Promise<void> {
  const flight = hook(committer, req, res, session);
  try {
    await handler(req, res, session);
  } catch (error) {
    if (!flight.ending) committer.release(session);
    const failure = error instanceof SessionError ? error : new SessionError('request handler failed', 500, { cause: error });
    answerFailure(committer.onError, failure, req, res, flight);
  }
}

function hook(committer: Committer, req: AnyRequest, res: AnyResponse, session: Session<object>): Flight {
  const writeHead = res.writeHead as (...args: unknown[]) => AnyResponse;
  const secure = committer.isSecure(req);
  const flight: Flight = { end: res.end as Flight['end'], head: undefined, headersDone: false, ending: false, failed: false };
  const core = session.core;
  // A session other requests may share must be let go of even when the client walks away.
  // (release() is idempotent, so the normal path through end() and this one do not clash.)
  if (core.holders > 0) res.on('close', () => committer.release(session));
  const fail = (error: unknown, status: 500 | 503, what: string) => {
    committer.release(session);
    answerFailure(committer.onError, new SessionError(what, status, { cause: error }), req, res, flight);
  };

  res.writeHead = ((...args: unknown[]) => {
    if (flight.head !== undefined) {
      // The first write or end() flushes the headers: send the ones the handler gave earlier.
      const head = flight.head;
      flight.head = undefined;
      return writeHead.apply(res, head);
    }
    if (!flight.headersDone && !flight.failed) {
      flight.headersDone = true;
      try {
        committer.settle(core, res, true, secure)?.catch(() => {}); // end() waits for it and reports failure
        keepCookiesThroughWriteHead(res, args);
      } catch (error) {
        fail(error, 500, 'session could not be committed');
        return res;
      }
      // A handler's own `writeHead(303, …)` is kept until the first byte goes out (Node sends
      // nothing before that either), so that a save failing under `res.writeHead(303, …).end()`
      // can still be answered with a 503. Node's own call from write()/end() is always
      // `writeHead(res.statusCode)`, and must go through at once.
      if (!(args.length === 1 && args[0] === res.statusCode)) {
        flight.head = args;
        return res;
      }
    }
    return writeHead.apply(res, args);
  }) as typeof res.writeHead;

  res.end = ((...args: unknown[]) => {
    if (flight.failed || flight.ending) return flight.end.apply(res, args);
    flight.ending = true;
    let saving: Promise<void> | undefined;
    try {
      saving = committer.settle(core, res, !flight.headersDone && !res.headersSent, secure);
      flight.headersDone = true;
    } catch (error) {
      fail(error, 500, 'session could not be committed');
      return res;
    }
    if (saving === undefined) {
      committer.release(session);
      return flight.end.apply(res, args);
    }
    saving.then(
      () => {
        committer.release(session);
        flight.end.apply(res, args);
      },
      (error: unknown) => fail(error, 503, 'session store failed while saving'),
    );
    return res;
  }) as typeof res.end;
  return flight;
}

/**
 * Tells `onError`, then answers the request with the error's status unless `onError` did. Once the
 * headers are out a status can no longer be sent, so the connection is cut: a truncated response
 * the client can detect beats a complete-looking wrong one. Answers once per request.
 */
export function answerFailure(onError: Settings['onError'], error: SessionError, req: AnyRequest, res: AnyResponse, flight: Flight | undefined): void {
  if (flight !== undefined) {
    if (flight.failed) return;
    flight.failed = true;
    flight.head = undefined; // the handler's status and headers are not what goes out now
  }
  try {
    onError(error, req, res);
  } catch (hookError) {
    console.error('plain-session: onError threw', hookError);
  }
  if (res.writableEnded || res.destroyed) return; // onError answered, or the client is gone
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.removeHeader('set-cookie');
  res.statusCode = error.statusCode;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  const end = (flight?.end ?? res.end) as (this: AnyResponse, body: string) => void;
  end.call(res, error.statusCode === 503 ? 'Service Unavailable' : 'Internal Server Error');
}
