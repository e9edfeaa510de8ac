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
 * last unit.
 */
import { and, asc, eq, gte, lt, sql } from "drizzle-orm";
import { rateSlots } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";

/** One limit of a call: at most `limit` grants of `key` in any `windowMs`. */
export interface BudgetLimit {
  key: string;
  limit: number;
  windowMs: number;
}

export interface SharedBudget {
  /** Takes one unit from every limit, or from none: 0 when granted, else ms until it may fit. */
  take(limits: BudgetLimit[], now: number): Promise<number>;
}

/** Slots per window: finer costs more rows per check, coarser over-covers the window more. */
export const SLOTS = 20;
/** Slots older than this have left every window (Feishu's longest is a minute). */
const KEEP_MS = 5 * 60_000;
/** Takes between two prunes of old slots by one node. */
const PRUNE_EVERY = 500;

/**
 * Serialises the takes of one key across nodes until the transaction ends. The query builder has
 * no advisory locks; `hashtextextended` maps the key into pg_advisory_xact_lock's bigint space.
 */
const LOCK_KEY = (key: string) => sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`;

const slotMsOf = (l: BudgetLimit) => Math.max(1, Math.ceil(l.windowMs / SLOTS));

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

export class PostgresSharedBudget implements SharedBudget {
  #takes = 0;

  constructor(private readonly db: PgDb) {}

  async take(limits: BudgetLimit[], now: number): Promise<number> {
    const live = limits.filter((l) => Number.isFinite(l.limit) && l.limit > 0);
    if (live.length === 0) return 0;
    // Locks in one order on every node: two calls sharing keys cannot deadlock.
    const ordered = [...live].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const wait = await this.db.transaction(async (tx) => {
      for (const l of ordered) await tx.execute(LOCK_KEY(l.key));
      let longest = 0;
      for (const l of ordered) {
        const slotMs = slotMsOf(l);
        const current = Math.floor(now / slotMs) * slotMs;
        const slots = await tx
          .select({ slot: rateSlots.slot, count: rateSlots.count })
          .from(rateSlots)
          .where(and(eq(rateSlots.key, l.key), gte(rateSlots.slot, current - SLOTS * slotMs)))
          .orderBy(asc(rateSlots.slot));
        longest = Math.max(longest, waitForSlots(l, slots, now));
      }
      if (longest > 0) return longest;
      for (const l of ordered) {
        const slotMs = slotMsOf(l);
        await tx
          .insert(rateSlots)
          .values({ key: l.key, slot: Math.floor(now / slotMs) * slotMs, count: 1 })
          .onConflictDoUpdate({
            target: [rateSlots.key, rateSlots.slot],
            set: { count: sql`${rateSlots.count} + 1` },
          });
      }
      return 0;
    });
    if (++this.#takes >= PRUNE_EVERY) {
      this.#takes = 0;
      await this.db.delete(rateSlots).where(lt(rateSlots.slot, now - KEEP_MS));
    }
    return wait;
  }
}
