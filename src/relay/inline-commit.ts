/**
 * When the SQLite inbox commits a batch inline — at `synchronous=FULL`, the fsync inside COMMIT on the
 * event loop — rather than relaxed with the WAL's fdatasync deferred to Bun's I/O pool
 * (inbox-store-sqlite.ts). Inline is faster for the message (no hop to another thread and back) but
 * holds up every request that arrives meanwhile, so it is chosen only while few would: a small
 * batch, and fewer than `maxWaiting` messages expected during one inline commit at the recent rate.
 * What an inline commit costs is measured — a running median of inline commits and of deferred ones
 * whose sync was theirs alone (inbox-store-sqlite.ts), so a slow disk (an fsync of 10 ms)
 * turns inline commits off at a much lower rate than a fast one, while the odd slow fsync that every
 * disk has does not: a fsync is as slow deferred as inline, and the messages behind it wait either
 * way. (A decaying mean did: on a disk with inline commits of 0.3 ms and one in a hundred of 2–3 ms,
 * it sat near 0.6 ms and kept a steady 1,000/s deferred nine commits in ten.) The estimate fades after
 * `retryMs` without a measured commit, so a slow spell does not rule them out for good. Pure: times are
 * passed in.
 */
import { decayed, RecentRate } from "./recent-rate.ts";

export interface InlineCommitOptions {
  /** Largest batch committed inline (0: never). */
  maxBatch: number;
  /** Messages expected to arrive during one inline commit, at most (default 0.6). */
  maxWaiting?: number;
  /** The measured cost fades over this long without a new measurement (default 10 s). */
  retryMs?: number;
}

/**
 * How far one measured commit moves the cost estimate, as a fraction of it: up when it took longer, down
 * when it took less, never past it. Equal steps each way settle on about the median; a disk that turns
 * 30× slower is followed within ~36 commits.
 */
const STEP = 0.1;

export class InlineCommitPolicy {
  readonly #rate = new RecentRate();
  readonly #maxBatch: number;
  readonly #maxWaiting: number;
  readonly #retryMs: number;
  /** Running median of measured commit durations (ms), as of `#costAt`; 0 before the first. */
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

  /**
   * A commit of `size` messages at `now` took `ms` until durable: inline, or deferred with a WAL sync
   * of its own. Batches too large to go inline say nothing about those that can, and are passed over.
   */
  measured(ms: number, size: number, now: number): void {
    if (size > this.#maxBatch) return;
    const before = this.#cost(now);
    this.#costMs =
      before === 0 ? ms : ms > before ? Math.min(ms, before * (1 + STEP)) : Math.max(ms, before * (1 - STEP));
    this.#costAt = now;
  }

  #cost(now: number): number {
    return decayed(this.#costMs, now - this.#costAt, this.#retryMs);
  }
}
