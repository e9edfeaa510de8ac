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
    return decayed(this.#count, now - this.#at, this.tauMs);
  }
}

/**
 * `value` after `dtMs` of exponential decay with time constant `tauMs`. A clock that stepped back
 * (dtMs < 0) decays nothing rather than inflating the value.
 */
export function decayed(value: number, dtMs: number, tauMs: number): number {
  return dtMs <= 0 ? value : value * Math.exp(-dtMs / tauMs);
}
