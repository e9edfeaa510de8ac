/** The shared Feishu budgets on PostgreSQL (cluster mode): see shared-budget.ts for the scheme. */
import { and, asc, eq, gte, lt, sql } from "drizzle-orm";
import { rateSlots } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import { type BudgetLimit, type SharedBudget, SLOTS, slotMsOf, waitForSlots } from "./shared-budget.ts";

/** Slots older than this have left every window (Feishu's longest is a minute). */
const KEEP_MS = 5 * 60_000;
/** Takes between two prunes of old slots by one node. */
const PRUNE_EVERY = 500;

/**
 * Serialises the takes of one key across nodes until the transaction ends. The query builder has
 * no advisory locks; `hashtextextended` maps the key into pg_advisory_xact_lock's bigint space.
 */
const LOCK_KEY = (key: string) => sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`;

export class PostgresSharedBudget implements SharedBudget {
  #takes = 0;

  constructor(private readonly db: PgDb) {}

  async take(limits: BudgetLimit[], clock: () => number): Promise<number> {
    const live = limits.filter((l) => Number.isFinite(l.limit) && l.limit > 0);
    if (live.length === 0) return 0;
    // Locks in one order on every node: two calls sharing keys cannot deadlock.
    const ordered = [...live].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    let now = 0;
    const wait = await this.db.transaction(async (tx) => {
      for (const l of ordered) await tx.execute(LOCK_KEY(l.key));
      now = clock();
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
