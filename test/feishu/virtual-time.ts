/**
 * Virtual time for rate-limit and retry tests: `sleep` parks a promise on a timeline, `run` moves the
 * clock from one wake-up to the next once everything runnable has run. No real waiting.
 */
export class VirtualTime {
  #t: number;
  #timers: Array<{ at: number; wake: () => void }> = [];
  /** Every `sleep(ms)` requested, in order. */
  readonly sleeps: number[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#t = start;
  }

  now = (): number => this.#t;

  /** Like abortableSleep: an aborted signal drops the timer and rejects with its reason. */
  sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
    this.sleeps.push(ms);
    return new Promise((wake, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { at: this.#t + Math.max(0, ms), wake };
      this.#timers.push(timer);
      signal?.addEventListener(
        "abort",
        () => {
          const at = this.#timers.indexOf(timer);
          if (at >= 0) this.#timers.splice(at, 1);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  };

  advance(ms: number): void {
    this.#t += ms;
  }

  /** Runs until `done` settles, jumping the clock to each sleeper's wake-up time; bounded. */
  async run<T>(done: Promise<T>, maxSteps = 100_000): Promise<T> {
    let settled = false;
    done.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (let step = 0; step < maxSteps; step++) {
      await new Promise((r) => setImmediate(r));
      if (settled) return done;
      if (this.#timers.length === 0) {
        // Nothing asleep: the work in flight waits on real I/O (a loopback HTTP call).
        await Bun.sleep(1);
        continue;
      }
      this.#timers.sort((a, b) => a.at - b.at);
      const next = this.#timers.shift()!;
      this.#t = Math.max(this.#t, next.at);
      next.wake();
    }
    throw new Error("virtual time: gave up waiting");
  }
}
