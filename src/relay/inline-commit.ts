/**
 * When the SQLite inbox commits a batch inline — at `synchronous=FULL`, the fsync inside COMMIT on the
 * event loop — rather than relaxed with the WAL's fdatasync deferred to Bun's I/O pool
 * (inbox-store-sqlite.ts). Inline is faster for the message (no hop to another thread and back) but
 * holds up every request that arrives meanwhile, so it is chosen only while few would: a small
 * batch, and fewer than `maxWaiting` messages expected during one inline commit at the recent rate.
 * What an inline commit costs is measured (a decaying average), so a slow disk (an fsync of 10 ms)
 * turns inline commits off at a much lower rate than a fast one; the estimate fades after `retryMs`
 * without inline commits, so one slow fsync does not rule them out for good. Pure: times are passed in.
 */
import { decayed, RecentRate } from "./recent-rate.ts";

export interface InlineCommitOptions {
  /** Largest batch committed inline (0: never). */
  maxBatch: number;
  /** Messages expected to arrive during one inline commit, at most (default 0.6). */
  maxWaiting?: number;
  /** An inline commit's measured cost fades over this long without a new one (default 10 s). */
  retryMs?: number;
}

/** Weight of the newest inline commit in the cost estimate. */
const NEWEST = 0.2;

export class InlineCommitPolicy {
  readonly #rate = new RecentRate();
  readonly #maxBatch: number;
  readonly #maxWaiting: number;
  readonly #retryMs: number;
  /** Decaying average of inline commit durations (ms), as of `#costAt`; 0 before the first. */
  #costMs = 0;
  #costAt = 0;

  constructor(o: InlineCommitOptions) {
    this.#maxBatch = o.maxBatch;
    this.#maxWaiting = o.maxWaiting ?? 0.6;
    this.#retryMs = o.retryMs ?? 10_000;
  }

  /** Whether a batch of `size` messages, about to be committed at `now` (ms), goes inline. */
  inline(size: number, now: number): boolean {
    if (size > this.#maxBatch) return false;
    return (this.#rate.perSecond(now) * this.#cost(now)) / 1000 < this.#maxWaiting;
  }

  /** A batch of `size` is being committed at `now`, inline or not. */
  counted(size: number, now: number): void {
    this.#rate.add(size, now);
  }

  /** An inline commit at `now` took `ms`. */
  measured(ms: number, now: number): void {
    const before = this.#cost(now);
    this.#costMs = before === 0 ? ms : before * (1 - NEWEST) + ms * NEWEST;
    this.#costAt = now;
  }

  #cost(now: number): number {
    return decayed(this.#costMs, now - this.#costAt, this.#retryMs);
  }
}
