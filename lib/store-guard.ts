/**
 * A guard around store calls: whatever the store does (answer, throw synchronously, or hang on a
 * dead database), the caller gets a promise that settles within `timeout` milliseconds. One
 * unref'd timer watches every call in flight; a timer per call would cost more than the call.
 */
export class StoreGuard {
  readonly #timeout: number;
  readonly #calls = new Set<{ deadline: number; fail: (error: Error) => void }>();
  #watchdog: NodeJS.Timeout | undefined;

  /** `timeout` in milliseconds; `Infinity` only turns synchronous throws into rejections. */
  constructor(timeout: number) {
    this.#timeout = timeout;
  }

  call<R>(call: () => R | Promise<R>): Promise<R> {
    let answer: Promise<R>;
    try {
      answer = Promise.resolve(call());
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#timeout === Infinity) return answer;
    return new Promise<R>((resolve, reject) => {
      const pending = { deadline: Date.now() + this.#timeout, fail: reject };
      this.#calls.add(pending);
      answer.then(
        (value) => (this.#calls.delete(pending), resolve(value)),
        (error: unknown) => (this.#calls.delete(pending), reject(error)),
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
      pending.fail(new Error(`session store did not answer within ${this.#timeout} ms (storeTimeout)`));
    }
  }
}
