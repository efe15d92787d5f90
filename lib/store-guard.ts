/**
 * A guard around store calls: whatever the store does (answer, throw synchronously, or hang on a
 * dead database), the caller gets a promise that settles within `timeout` milliseconds. One
 * unref'd timer watches every call in flight; a timer per call would cost more than the call.
 *
 * A call that timed out may still reach the database later: a timeout only stops the waiting.
 * Callers that must not let such a late write stand (an insert the visitor was told failed) pass
 * `onLate`, which runs once the abandoned call has succeeded after all.
 */

/** Raised when a store call passes `storeTimeout`. */
export class StoreTimeoutError extends Error {
  constructor(timeout: number) {
    super(`session store did not answer within ${timeout} ms (storeTimeout)`);
    this.name = 'StoreTimeoutError';
  }
}

interface Pending {
  deadline: number;
  timedOut: boolean;
  fail: (error: Error) => void;
}

const same = (error: unknown): unknown => error;

export class StoreGuard {
  readonly #timeout: number;
  readonly #calls = new Set<Pending>();
  #watchdog: NodeJS.Timeout | undefined;

  /** `timeout` in milliseconds; `Infinity` only turns synchronous throws into rejections. */
  constructor(timeout: number) {
    this.#timeout = timeout;
  }

  /**
   * Runs `call` and answers its result, or rejects once `timeout` has passed. `fail`, if given,
   * turns every failure (a throw, a rejection or the timeout) into the error the caller wants,
   * so that the caller needs no promise of its own around this one: each layer of promises costs
   * a turn of the microtask queue on every request.
   */
  call<R>(call: () => R | Promise<R>, onLate?: () => void, fail: (error: unknown) => unknown = same): Promise<R> {
    let answer: Promise<R>;
    try {
      answer = Promise.resolve(call());
    } catch (error) {
      return Promise.reject(fail(error));
    }
    if (this.#timeout === Infinity) return fail === same ? answer : answer.then(undefined, (error: unknown) => Promise.reject(fail(error)));
    return new Promise<R>((resolve, reject) => {
      const pending: Pending = {
        deadline: Date.now() + this.#timeout,
        timedOut: false,
        fail: (error: Error) => {
          pending.timedOut = true;
          reject(fail(error));
        },
      };
      this.#calls.add(pending);
      answer.then(
        (value) => {
          this.#calls.delete(pending);
          if (pending.timedOut) onLate?.();
          else resolve(value);
        },
        (error: unknown) => {
          this.#calls.delete(pending);
          if (!pending.timedOut) reject(fail(error));
        },
      );
      this.#watchdog ??= setInterval(() => this.#expire(), Math.max(10, Math.min(this.#timeout / 4, 1000))).unref();
    });
  }

  close(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  #expire(): void {
    const now = Date.now();
    for (const pending of this.#calls) {
      if (pending.deadline > now) continue;
      this.#calls.delete(pending);
      pending.fail(new StoreTimeoutError(this.#timeout));
    }
  }
}
