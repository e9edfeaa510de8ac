/**
 * A gate that lets one waiter through at a time, when a limit says so, by priority and then owners
 * in turn. A waiter that passed holds the gate until it calls its `release` (a chat's next send
 * must not overtake one still waiting for the app-wide budget), so every owner's waiters keep their
 * order.
 *
 * Ranks: 0 goes first. Within a rank owners are served round-robin; a lower rank goes only when no
 * higher one waits. The limit may depend on the rank (lower ranks may use only part of a window),
 * so a higher-ranked arrival while the loop sleeps for a lower one wakes it: it must not wait
 * behind a sleep that was never about it.
 *
 * One loop per gate does the waiting, so a queue of a thousand waiters costs one timer, not a
 * thousand. Pure logic: the limit and `sleep` are injected.
 */
import { FairQueue } from "./fair-queue.ts";

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;
export type Release = () => void;

interface Waiter {
  grant(release: Release): void;
}

/** A guard against a broken `sleep` (one that never lets time pass): the waiter then goes anyway. */
const MAX_IDLE_ROUNDS = 1000;

export class FairGate {
  readonly #queues: FairQueue<Waiter>[] = [];
  readonly #waitMs: (rank: number) => number;
  readonly #sleep: Sleep;
  #running = false;
  #size = 0;
  /** Cancels the loop's sleep: nobody waits any more, or a higher rank arrived. */
  #wake: AbortController | undefined;
  /** The rank the loop sleeps for; Infinity when it is not sleeping. */
  #sleepingFor = Number.POSITIVE_INFINITY;
  #woken = false;
  #sleeps = 0;

  /** @param waitMs milliseconds until the next waiter of `rank` may pass; 0 or less means now. */
  constructor(waitMs: (rank: number) => number, sleep: Sleep) {
    this.#waitMs = waitMs;
    this.#sleep = sleep;
  }

  get waiting(): number {
    return this.#size;
  }

  /** Times the loop slept for the limit so far: a waiter that saw it grow was held back. */
  get sleeps(): number {
    return this.#sleeps;
  }

  /**
   * Resolves with `release` once it is this owner's turn at its `rank` and the limit allows; an
   * aborted signal rejects.
   */
  pass(owner: string, signal?: AbortSignal, rank = 0): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const queue = this.#queue(rank);
    return new Promise<Release>((resolve, reject) => {
      const onAbort = () => {
        if (!queue.remove(owner, waiter)) return;
        this.#size--;
        reject(signal?.reason);
        if (this.#size === 0) this.#wake?.abort();
      };
      const waiter: Waiter = {
        grant(release) {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      queue.push(owner, waiter);
      this.#size++;
      if (rank < this.#sleepingFor && this.#wake) {
        this.#woken = true;
        this.#wake.abort();
      }
      void this.#run();
    });
  }

  #queue(rank: number): FairQueue<Waiter> {
    const r = Math.max(0, Math.floor(rank));
    while (this.#queues.length <= r) this.#queues.push(new FairQueue<Waiter>());
    return this.#queues[r]!;
  }

  /** The highest rank (lowest number) with someone waiting. */
  #headRank(): number {
    for (let r = 0; r < this.#queues.length; r++) if (this.#queues[r]!.size > 0) return r;
    return -1;
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      let idle = 0;
      while (this.#size > 0) {
        const rank = this.#headRank();
        if (rank < 0) break;
        const ms = this.#waitMs(rank);
        if (ms > 0 && idle++ < MAX_IDLE_ROUNDS) {
          this.#wake = new AbortController();
          this.#sleepingFor = rank;
          this.#sleeps++;
          await this.#sleep(ms, this.#wake.signal).catch(() => undefined);
          this.#sleepingFor = Number.POSITIVE_INFINITY;
          this.#wake = undefined;
          // Woken by an arrival, not by time: that round was not idle.
          if (this.#woken) idle--;
          this.#woken = false;
          continue;
        }
        idle = 0;
        const waiter = this.#queues[rank]!.shift();
        if (!waiter) break;
        this.#size--;
        await new Promise<void>((released) => {
          let once = false;
          waiter.grant(() => {
            if (once) return;
            once = true;
            released();
          });
        });
      }
    } finally {
      this.#running = false;
      this.#wake = undefined;
      this.#sleepingFor = Number.POSITIVE_INFINITY;
    }
  }
}
