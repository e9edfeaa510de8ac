/**
 * Per-minute counts over the last hour, from cumulative counters: a sampler adds each counter's growth
 * since the previous sample to the current minute's bucket. In memory only (a restart starts empty);
 * Prometheus keeps the long history.
 */
import type { RelayContext } from "../context.ts";
import { startPeriodic } from "../ops/periodic.ts";

export const MINUTE_MS = 60_000;
export const WINDOW_MINUTES = 60;
/** Samples land in the minute they are taken: a sample every few seconds keeps buckets honest. */
export const SAMPLE_MS = 5000;

export class MinuteCounts {
  readonly #buckets = new Map<number, number>();
  #last: number | undefined;

  constructor(readonly minutes = WINDOW_MINUTES) {}

  /** Records the cumulative `total` observed at `now`. */
  sample(total: number, now: number): void {
    const delta = this.#last === undefined ? 0 : Math.max(0, total - this.#last);
    this.#last = total;
    const minute = Math.floor(now / MINUTE_MS);
    if (delta > 0) this.#buckets.set(minute, (this.#buckets.get(minute) ?? 0) + delta);
    for (const m of this.#buckets.keys()) if (m <= minute - this.minutes) this.#buckets.delete(m);
  }

  /** Counts of the last `minutes` minutes, oldest first, the current (partial) minute last. */
  series(now: number): { start: number; counts: number[] } {
    const current = Math.floor(now / MINUTE_MS);
    const first = current - this.minutes + 1;
    const counts: number[] = [];
    for (let m = first; m <= current; m++) counts.push(this.#buckets.get(m) ?? 0);
    return { start: first * MINUTE_MS, counts };
  }
}

export interface RateSources {
  events: () => number;
  sends: () => number;
}

export interface Rates {
  events: MinuteCounts;
  sends: MinuteCounts;
  /** Takes a sample now (also done every SAMPLE_MS). */
  sample(): void;
}

export function startRates(ctx: Pick<RelayContext, "now" | "onShutdown">, sources: RateSources): Rates {
  const events = new MinuteCounts();
  const sends = new MinuteCounts();
  const sample = () => {
    const now = ctx.now();
    events.sample(sources.events(), now);
    sends.sample(sources.sends(), now);
  };
  sample();
  startPeriodic(ctx, SAMPLE_MS, sample);
  return { events, sends, sample };
}
