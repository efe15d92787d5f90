/**
 * Tracing for learners: `NODE_DEBUG=plain-session node server.js` prints each step of a request
 * (cookie read, ID checked, session loaded or created, cookie set, save) and each prune.
 * `util.debuglog` costs one boolean check when the variable is not set.
 */
import { debuglog } from 'node:util';

export const debug = debuglog('plain-session');

/** Whether tracing is on (NODE_DEBUG is read once, at startup): lets the per-request trace lines skip building their arguments. */
export const tracing = debug.enabled;

/** The first characters of an ID: enough to follow one session in a trace, too few to replay it. */
export function shortId(id: string): string {
  return `${id.slice(0, 6)}…`;
}
