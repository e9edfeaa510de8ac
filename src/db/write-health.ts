/**
 * Whether the database takes writes, as `/health` reports it (DESIGN §3). A `SELECT 1` answers fine
 * while every write fails with "database or disk is full", so the writers themselves report each
 * attempt here. Pure: the clock is injected.
 */

/** A failure older than this, with no write attempted since, no longer marks the database failing. */
export const WRITE_FAILURE_WINDOW_MS = 5 * 60 * 1000;

export type WriteStatus = "ok" | "failing";

export class WriteHealth {
  readonly #now: () => number;
  #latestFailed = false;
  #lastFailureAt = Number.NEGATIVE_INFINITY;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  succeeded(): void {
    this.#latestFailed = false;
  }

  failed(): void {
    this.#latestFailed = true;
    this.#lastFailureAt = this.#now();
  }

  /** Failing while the latest write attempt failed, and did so within the window. */
  status(): WriteStatus {
    return this.#latestFailed && this.#now() - this.#lastFailureAt < WRITE_FAILURE_WINDOW_MS
      ? "failing"
      : "ok";
  }
}
