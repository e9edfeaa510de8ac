/**
 * Cluster mode (M2-6): Feishu's app-wide and per-chat budgets shared by every relay node through
 * PostgreSQL, so the limits hold for the cluster and not per process. Each node's own
 * `SendRateLimiter` stays the first gate (priorities, fairness between users, its own windows);
 * a call it lets through then takes one unit from the shared budget here, or waits.
 *
 * Each limit ("at most N per window") is kept as counts per time slot (`rate_slots`): a window is
 * cut into `SLOTS` slots, and a call is granted while the slots that overlap the window ending now
 * hold fewer than N grants. Counting whole slots over-covers the window by at most one slot (5 %),
 * so any window of the limit's length holds at most N grants, as with the local sliding window
 * (given node clocks within the limiter's margin of each other). The limits of one call are checked
 * and counted in one transaction under a per-key advisory lock, so two nodes never both take the
 * last unit (shared-budget-postgres.ts).
 */

/** One limit of a call: at most `limit` grants of `key` in any `windowMs`. */
export interface BudgetLimit {
  key: string;
  limit: number;
  windowMs: number;
}

export interface SharedBudget {
  /**
   * Takes one unit from every limit, or from none: 0 when granted, else ms until it may fit. The
   * clock is read once the limits' locks are held: a grant counts from when it was decided, not from
   * when the call began waiting for other nodes' takes (which would let the next grant come early).
   */
  take(limits: BudgetLimit[], now: () => number): Promise<number>;
}

/** Slots per window: finer costs more rows per check, coarser over-covers the window more. */
export const SLOTS = 20;
export const slotMsOf = (l: BudgetLimit) => Math.max(1, Math.ceil(l.windowMs / SLOTS));

/**
 * Ms until one more grant fits in `l`, given its slots counted now (oldest first; `current` is the
 * slot of `now`); 0 when it fits now.
 */
export function waitForSlots(
  l: BudgetLimit,
  slots: Array<{ slot: number; count: number }>,
  now: number,
): number {
  let used = slots.reduce((n, s) => n + s.count, 0);
  if (used < l.limit) return 0;
  const slotMs = slotMsOf(l);
  for (const s of slots) {
    used -= s.count;
    // This slot stops being counted once the current slot is SLOTS + 1 slots past it.
    if (used < l.limit) return Math.max(1, s.slot + (SLOTS + 1) * slotMs - now);
  }
  return slotMs;
}
