// The runs of the lab's experiments: what each request of a run did, kept for the page that shows
// the run. A run is named by a random key that its page's address carries (`?run=`), like the
// shop's `?after=`. Only the newest 200 runs are kept, so the lab cannot fill the server's memory.
import { randomBytes } from 'node:crypto';

const MAX_RUNS = 200;

export function createRuns() {
  const runs = new Map();
  return {
    /** Starts a run of experiment `experiment` on technique `technique`. */
    start(experiment, technique, options = {}) {
      const key = randomBytes(9).toString('base64url');
      const run = { key, experiment, technique, next: 0, done: false, entries: [], state: {}, startedAt: Date.now(), clock: performance.now(), ...options };
      runs.set(key, run);
      if (runs.size > MAX_RUNS) runs.delete(runs.keys().next().value);
      return run;
    },
    /** The run named `key`, if it is one of this experiment and technique. */
    get(key, experiment, technique) {
      const run = key === null ? undefined : runs.get(key);
      return run?.experiment === experiment && run.technique === technique ? run : undefined;
    },
  };
}
