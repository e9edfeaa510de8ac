/**
 * A gate that lets one waiter through at a time, when a limit says so, owners in turn. A waiter
 * that passed holds the gate until it calls its `release` (a chat's next send must not overtake
 * one still waiting for the app-wide budget), so every owner's waiters keep their order.
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
  readonly #queue = new FairQueue<Waiter>();
  readonly #waitMs: () => number;
  readonly #sleep: Sleep;
  #running = false;
  /** Cancels the loop's sleep once nobody waits any more (shutdown must not wait out a pause). */
  #wake: AbortController | undefined;

  /** @param waitMs milliseconds until the next waiter may pass; 0 or less means now. */
  constructor(waitMs: () => number, sleep: Sleep) {
    this.#waitMs = waitMs;
    this.#sleep = sleep;
  }

  get waiting(): number {
    return this.#queue.size;
  }

  /** Resolves with `release` once it is this owner's turn and the limit allows; an aborted signal rejects. */
  pass(owner: string, signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Release>((resolve, reject) => {
      const onAbort = () => {
        if (!this.#queue.remove(owner, waiter)) return;
        reject(signal?.reason);
        if (this.#queue.size === 0) this.#wake?.abort();
      };
      const waiter: Waiter = {
        grant(release) {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(owner, waiter);
      void this.#run();
    });
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      let idle = 0;
      while (this.#queue.size > 0) {
        const ms = this.#waitMs();
        if (ms > 0 && idle++ < MAX_IDLE_ROUNDS) {
          this.#wake = new AbortController();
          await this.#sleep(ms, this.#wake.signal).catch(() => undefined);
          continue;
        }
        idle = 0;
        const waiter = this.#queue.shift();
        if (!waiter) break;
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
    }
  }
}
