/**
 * How many events per second happened lately: a count that decays exponentially with time constant
 * `tauMs`, so a steady rate r reads r and a burst fades within a few τ. The SQLite inbox uses it to
 * commit inline only under light load (inbox-store-sqlite.ts). Pure: the caller passes the time.
 */
export class RecentRate {
  #count = 0;
  #at = 0;

  constructor(readonly tauMs = 100) {}

  /** `n` events happened at `now` (ms). */
  add(n: number, now: number): void {
    this.#count = this.#decayed(now) + n;
    this.#at = Math.max(this.#at, now);
  }

  /** Events per second as of `now` (ms). */
  perSecond(now: number): number {
    return (this.#decayed(now) * 1000) / this.tauMs;
  }

  #decayed(now: number): number {
    const dt = now - this.#at;
    // A clock that stepped back decays nothing rather than inflating the count.
    return dt <= 0 ? this.#count : this.#count * Math.exp(-dt / this.tauMs);
  }
}
