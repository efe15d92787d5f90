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

export class StoreGuard {
  readonly #timeout: number;
  readonly #calls = new Set<Pending>();
  #watchdog: NodeJS.Timeout | undefined;

  /** `timeout` in milliseconds; `Infinity` only turns synchronous throws into rejections. */
  constructor(timeout: number) {
    this.#timeout = timeout;
  }

  /** Runs `call` and answers its result, or rejects with a `StoreTimeoutError` once `timeout` has passed. */
  call<R>(call: () => R | Promise<R>, onLate?: () => void): Promise<R> {
    let answer: Promise<R>;
    try {
      answer = Promise.resolve(call());
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#timeout === Infinity) return answer;
    return new Promise<R>((resolve, reject) => {
      const pending: Pending = {
        deadline: Date.now() + this.#timeout,
        timedOut: false,
        fail: (error: Error) => {
          pending.timedOut = true;
          reject(error);
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
          reject(error); // ignored if the timeout already rejected
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
