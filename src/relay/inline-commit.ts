/**
 * When the SQLite inbox commits a batch inline — at `synchronous=FULL`, the fsync inside COMMIT on the
 * event loop — rather than relaxed with the WAL's fdatasync deferred to Bun's I/O pool
 * (inbox-store-sqlite.ts). Two cases go inline:
 *
 * - **Light load.** Inline is faster for the message (no hop to another thread and back) but holds up
 *   every request that arrives meanwhile, so it is chosen only while few would: a small batch, and
 *   fewer than `maxWaiting` messages expected during one inline commit at the recent rate.
 * - **A saturated loop.** A batch of `saturatedBatch` or more means requests piled up behind the
 *   event loop's own work: the loop, not the disk, is what they wait for. Deferred, every commit pays
 *   the hop to the I/O pool and back, the switch to `synchronous=NORMAL` and back, and, since the loop
 *   keeps committing while the sync runs, twice as many commits of half the size, each with its fixed
 *   WAL pages (the header, the users row, the index and table pages on the right edge). Inline, the
 *   requests that arrive during the fsync join the next batch, as they would have waited for the next
 *   sync anyway. Measured at c=64 (docs/architecture.md): ~13% less relay CPU per event, ~8% more
 *   events/s (medians of alternating pairs).
 *   Only while such a commit costs at most `saturatedMaxMs`, so that a slow disk never holds the loop
 *   (pings, other routes) for long.
 *
 * What a commit costs is measured — a running median of inline commits and of deferred ones whose
 * sync was theirs alone (inbox-store-sqlite.ts), kept apart for small and saturated batches — so a slow
 * disk (an fsync of 10 ms) turns inline commits off at a much lower rate than a fast one, while the odd
 * slow fsync that every disk has does not: a fsync is as slow deferred as inline, and the messages
 * behind it wait either way. (A decaying mean did: on a disk with inline commits of 0.3 ms and one in a
 * hundred of 2–3 ms, it sat near 0.6 ms and kept a steady 1,000/s deferred nine commits in ten.) The
 * estimates fade after `retryMs` without a new measurement, so a slow spell does not rule them out for
 * good. Pure: times are passed in.
 */
import { decayed, RecentRate } from "./recent-rate.ts";

export interface InlineCommitOptions {
  /** Largest batch committed inline under light load (0: never inline, saturated batches neither). */
  maxBatch: number;
  /** Smallest batch taken as a saturated loop's, committed inline (default 16; 0: never). */
  saturatedBatch?: number;
  /** Saturated batches go inline while such a commit costs at most this long (default 2 ms). */
  saturatedMaxMs?: number;
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
  readonly #saturatedBatch: number;
  readonly #saturatedMaxMs: number;
  readonly #maxWaiting: number;
  readonly #retryMs: number;
  /** Running medians of measured commit durations (ms): small batches, and saturated ones. */
  readonly #small = { ms: 0, at: 0 };
  readonly #saturated = { ms: 0, at: 0 };

  constructor(o: InlineCommitOptions) {
    this.#maxBatch = o.maxBatch;
    this.#saturatedBatch = o.maxBatch > 0 ? (o.saturatedBatch ?? 16) : 0;
    this.#saturatedMaxMs = o.saturatedMaxMs ?? 2;
    this.#maxWaiting = o.maxWaiting ?? 0.6;
    this.#retryMs = o.retryMs ?? 10_000;
  }

  /** Whether a batch of `size` messages, about to be committed at `now` (ms), goes inline. */
  inline(size: number, now: number): boolean {
    if (this.#isSaturated(size)) return this.#saturatedAffordable(now);
    if (size > this.#maxBatch) return false;
    return (this.#rate.perSecond(now) * this.#cost(this.#small, now)) / 1000 < this.#maxWaiting;
  }

  /** Whether a batch of `size` at `now` is a saturated loop's that goes inline (`inline` says so too). */
  saturated(size: number, now: number): boolean {
    return this.#isSaturated(size) && this.#saturatedAffordable(now);
  }

  /** A batch of `size` is being committed at `now`, inline or not. */
  counted(size: number, now: number): void {
    this.#rate.add(size, now);
  }

  /**
   * A commit of `size` messages at `now` took `ms` until durable: inline, or deferred with a WAL sync
   * of its own. Each size class learns from its own commits only (a big one writes more pages); a
   * batch between the two says nothing about either and is passed over.
   */
  measured(ms: number, size: number, now: number): void {
    const cost = this.#isSaturated(size) ? this.#saturated : size <= this.#maxBatch ? this.#small : undefined;
    if (!cost) return;
    const before = this.#cost(cost, now);
    cost.ms =
      before === 0 ? ms : ms > before ? Math.min(ms, before * (1 + STEP)) : Math.max(ms, before * (1 - STEP));
    cost.at = now;
  }

  #isSaturated(size: number): boolean {
    return this.#saturatedBatch > 0 && size >= this.#saturatedBatch;
  }

  /** A saturated batch's inline commit costs little enough to hold the loop for. */
  #saturatedAffordable(now: number): boolean {
    return this.#cost(this.#saturated, now) <= this.#saturatedMaxMs;
  }

  #cost(cost: { ms: number; at: number }, now: number): number {
    return decayed(cost.ms, now - cost.at, this.#retryMs);
  }
}
