/** Cluster mode: Feishu's app-wide and per-chat budgets shared by every node through PostgreSQL. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import type { PgDb } from "../../src/db/postgres.ts";
import { SendRateLimiter } from "../../src/feishu/rate-limiter.ts";
import { type BudgetLimit, type SharedBudget, SLOTS, waitForSlots } from "../../src/feishu/shared-budget.ts";
import { PostgresSharedBudget } from "../../src/feishu/shared-budget-postgres.ts";
import { closeStorage, openStorage, type Storage } from "../../src/storage/storage.ts";
import { freshPostgresUrl, postgresNodes, postgresReachable } from "../storage/databases.ts";

/** The PostgreSQL handle of a storage opened with a DATABASE_URL. */
function pg(s: Storage): PgDb {
  if (s.dialect !== "postgres") throw new Error("expected a PostgreSQL storage");
  return s.db;
}

/** The most grants inside any window of `windowMs` (half-open: (t - windowMs, t]). */
function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let end = 0, start = 0; end < sorted.length; end++) {
    while (sorted[start]! <= sorted[end]! - windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe("shared budget: slot arithmetic", () => {
  const l: BudgetLimit = { key: "k", limit: 3, windowMs: 1000 };
  const slotMs = 1000 / SLOTS;

  test("a call fits while the counted slots hold fewer grants than the limit", () => {
    expect(waitForSlots(l, [], 10_000)).toBe(0);
    expect(waitForSlots(l, [{ slot: 9_950, count: 2 }], 10_000)).toBe(0);
  });

  test("when full, the wait ends as the oldest slot needed leaves the window", () => {
    const slots = [
      { slot: 9_100, count: 1 },
      { slot: 9_500, count: 2 },
    ];
    // Slot 9100 is counted until the current slot is SLOTS + 1 slots past it.
    expect(waitForSlots(l, slots, 10_000)).toBe(9_100 + (SLOTS + 1) * slotMs - 10_000);
    expect(waitForSlots({ ...l, limit: 2 }, slots, 10_000)).toBe(9_500 + (SLOTS + 1) * slotMs - 10_000);
  });
});

describe("shared budget: a database error", () => {
  test("lets the call go under the node's own limits and is reported", async () => {
    const errors: unknown[] = [];
    const broken: SharedBudget = { take: () => Promise.reject(new Error("connection refused")) };
    const l = new SendRateLimiter({
      appPerSecond: 5,
      chatPerSecond: 5,
      shared: broken,
      onSharedError: (e) => errors.push(e),
    });
    await l.acquire("chat:oc_1");
    expect(errors).toHaveLength(2); // the chat's take and the app's
  });
});

describe.if(await postgresReachable())("shared budget across three nodes [postgres]", () => {
  let drop: () => Promise<void>;
  let storages: Storage[];
  let budgets: PostgresSharedBudget[];
  beforeAll(async () => {
    const fresh = await freshPostgresUrl();
    drop = fresh.drop;
    storages = [];
    for (let i = 0; i < 3; i++) storages.push(await openStorage({ DATABASE_URL: fresh.url }));
    budgets = storages.map((s) => new PostgresSharedBudget(pg(s)));
  });
  afterAll(async () => {
    for (const s of storages) await closeStorage(s);
    await drop();
  });

  test("three nodes taking at once never grant more than the limit in a window", async () => {
    const limit: BudgetLimit = { key: "app:message:s", limit: 50, windowMs: 1050 };
    const t = 5_000_000;
    const answers = await Promise.all(
      Array.from({ length: 90 }, (_, i) => budgets[i % 3]!.take([limit], () => t)),
    );
    expect(answers.filter((w) => w === 0)).toHaveLength(50);
    const waits = answers.filter((w) => w > 0);
    expect(Math.min(...waits)).toBeGreaterThan(1000);
    // Once the window has passed, units are granted again.
    expect(await budgets[1]!.take([limit], () => t + Math.max(...waits))).toBe(0);
  });

  test("over time, with nodes interleaved, every window of the limit holds at most the limit", async () => {
    const limits: BudgetLimit[] = [
      { key: "app:x:s", limit: 10, windowMs: 1050 },
      { key: "app:x:m", limit: 40, windowMs: 60_050 },
    ];
    const granted: number[] = [];
    let t = 9_000_000;
    for (let step = 0; step < 120; step++) {
      t += 37;
      const answers = await Promise.all(
        budgets.flatMap((b) => [b.take(limits, () => t), b.take(limits, () => t)]),
      );
      for (const w of answers) if (w === 0) granted.push(t);
    }
    expect(busiestWindow(granted, 1050)).toBeLessThanOrEqual(10);
    expect(busiestWindow(granted, 60_050)).toBeLessThanOrEqual(40);
    expect(granted).toHaveLength(40); // the minute's budget, all taken within the 4.4 s run
  });

  test("all of one call's limits are taken, or none: a full chat spends nothing of the app budget", async () => {
    const t = 7_000_000;
    const app: BudgetLimit = { key: "app:y:s", limit: 100, windowMs: 1050 };
    const chat: BudgetLimit = { key: "chat:oc_full", limit: 1, windowMs: 1050 };
    expect(await budgets[0]!.take([app, chat], () => t)).toBe(0);
    expect(await budgets[1]!.take([app, chat], () => t)).toBeGreaterThan(0);
    const [row] = await pg(storages[0]!)
      .$client`SELECT sum(count)::int AS n FROM rate_slots WHERE key = 'app:y:s'`;
    expect(row.n).toBe(1);
  });

  test("a grant counts from when the key's lock was held, not from when the call began waiting", async () => {
    // Another node's transaction holds the key's lock while the clock moves on by 5 s: the grant must
    // be counted at 5 s (the clock read under the lock). Counted at 0, it would leave the window 5 s
    // early and let the next grant go out less than a window after this one reached Feishu.
    const limit: BudgetLimit = { key: "app:lock:s", limit: 1, windowMs: 1050 };
    let t = 20_000_000;
    let taking: Promise<number> | undefined;
    await pg(storages[0]!).transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${limit.key}, 0))`);
      taking = budgets[1]!.take([limit], () => t);
      await Bun.sleep(50); // long enough for the take to be waiting on the lock
      t += 5_000;
    });
    expect(await taking).toBe(0);
    const [row] = await pg(storages[0]!)
      .$client`SELECT max(slot)::bigint AS slot FROM rate_slots WHERE key = 'app:lock:s'`;
    expect(Number(row.slot)).toBeGreaterThan(20_004_000);
    // So the window is still full half a second after the grant was decided.
    expect(await budgets[2]!.take([limit], () => t + 500)).toBeGreaterThan(0);
  });

  test("three limiters (three nodes) sending at once stay within FEISHU_RATE_APP together", async () => {
    const { storages: nodes, close } = await postgresNodes(3);
    try {
      // The times the shared budget granted an app unit at (the clock it read to decide). Times taken
      // when `acquire` resolves would add each call's commit and wake-up delay, which differ between
      // calls and can squeeze 11 grants into a measured second that were 1 s apart when granted.
      const granted: number[] = [];
      const recording = (budget: SharedBudget): SharedBudget => ({
        take: async (limits, clock) => {
          let decided = 0;
          const wait = await budget.take(limits, () => (decided = clock()));
          if (wait === 0 && limits.some((l) => l.key === "app:message:s")) granted.push(decided);
          return wait;
        },
      });
      const limiters = nodes.map(
        (s) =>
          new SendRateLimiter({
            appPerSecond: 10,
            appPerMinute: Number.POSITIVE_INFINITY,
            chatPerSecond: 100,
            shared: recording(new PostgresSharedBudget(pg(s))),
          }),
      );
      const started = Date.now();
      await Promise.all(
        limiters.flatMap((l, n) =>
          Array.from({ length: 10 }, (_, i) => l.acquire(`chat:oc_${n}_${i}`, { owner: `user:${n}` })),
        ),
      );
      expect(granted).toHaveLength(30);
      // Each node alone would have let its 10 through at once: 30 in the first second.
      expect(busiestWindow(granted, 1000)).toBeLessThanOrEqual(10);
      expect(Date.now() - started).toBeGreaterThan(2000);
    } finally {
      await close();
    }
  }, 20_000);
});
