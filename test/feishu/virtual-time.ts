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

  sleep = (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    return new Promise((wake) => {
      this.#timers.push({ at: this.#t + Math.max(0, ms), wake });
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
