import { describe, expect, test } from "bun:test";
import {
  CHAT_BACKOFF_MAX_MS,
  SendRateLimiter,
  untilAborted,
  WindowLog,
} from "../../src/feishu/rate-limiter.ts";
import { VirtualTime } from "./virtual-time.ts";

function limiter(vt: VirtualTime, opts: Partial<ConstructorParameters<typeof SendRateLimiter>[0]> = {}) {
  const waits: string[] = [];
  const l = new SendRateLimiter({
    appPerSecond: 50,
    chatPerSecond: 5,
    now: vt.now,
    sleep: vt.sleep,
    onWait: (kind) => waits.push(kind),
    ...opts,
  });
  return { l, waits };
}

/** Acquires each key in order (all at once) and records when each was let through. */
async function acquireAll(vt: VirtualTime, l: SendRateLimiter, keys: string[]) {
  const at: Array<{ key: string; i: number; t: number }> = [];
  const all = Promise.all(keys.map((key, i) => l.acquire(key).then(() => at.push({ key, i, t: vt.now() }))));
  await vt.run(all);
  return at;
}

/** Acquires every `[owner, key]` at once, in order; records the order and time each went. */
async function acquireOwned(vt: VirtualTime, l: SendRateLimiter, sends: Array<[string, string]>) {
  const at: Array<{ owner: string; key: string; t: number }> = [];
  const all = Promise.all(
    sends.map(([owner, key]) =>
      l.acquire(key, { owner }).then(() => at.push({ owner, key, t: vt.now() })),
    ),
  );
  await vt.run(all);
  return at;
}

/** The most events in any window of `windowMs` (half-open, like Feishu's counter). */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe("WindowLog", () => {
  test("lets `limit` events through per window, then says how long until the oldest leaves", () => {
    const w = new WindowLog(3, 1000);
    for (const t of [0, 10, 20]) {
      expect(w.waitMs(t)).toBe(0);
      w.record(t);
    }
    expect(w.waitMs(20)).toBe(980);
    expect(w.waitMs(1000)).toBe(0);
  });

  test("Infinity turns the limit off", () => {
    const w = new WindowLog(Number.POSITIVE_INFINITY, 1000);
    for (let i = 0; i < 10_000; i++) w.record(0);
    expect(w.waitMs(0)).toBe(0);
  });
});

describe("SendRateLimiter", () => {
  test("one chat gets at most 5 sends per second, first come first served", async () => {
    const vt = new VirtualTime();
    const { l, waits } = limiter(vt);
    const start = vt.now();
    const at = await acquireAll(vt, l, Array(12).fill("chat:oc_a"));
    expect(at.map((a) => a.i)).toEqual([...Array(12).keys()]);
    expect(
      maxInWindow(
        at.map((a) => a.t),
        1000,
      ),
    ).toBe(5);
    // A burst of 5 goes at once; the next five wait for the window (plus the jitter margin).
    expect(at.slice(0, 5).every((a) => a.t === start)).toBe(true);
    expect(at[5]!.t - start).toBe(1050);
    expect(waits).toContain("chat");
  });

  test("the app as a whole gets at most 50 per second across many chats", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    const keys = Array.from({ length: 160 }, (_, i) => `chat:oc_${i % 40}`);
    const at = await acquireAll(vt, l, keys);
    expect(at).toHaveLength(160);
    expect(
      maxInWindow(
        at.map((a) => a.t),
        1000,
      ),
    ).toBe(50);
    for (let c = 0; c < 40; c++) {
      expect(
        maxInWindow(
          at.filter((a) => a.key === `chat:oc_${c}`).map((a) => a.t),
          1000,
        ),
      ).toBeLessThanOrEqual(5);
    }
  });

  test("a slow chat does not hold up the others", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    const start = vt.now();
    const at = await acquireAll(vt, l, [...Array(11).fill("chat:busy"), "chat:other"]);
    expect(at.find((a) => a.key === "chat:other")!.t).toBe(start);
  });

  test("the per-minute window caps sustained sending (Feishu's 1000/min beside 50/s)", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt, { appPerSecond: 100, appPerMinute: 10, chatPerSecond: 100 });
    const start = vt.now();
    const at = await acquireAll(
      vt,
      l,
      Array.from({ length: 11 }, (_, i) => `chat:${i}`),
    );
    expect(at[10]!.t - start).toBe(60_050);
  });

  test("pauseApp holds every chat until the platform's reset", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    const start = vt.now();
    l.pauseApp(2000);
    const at = await acquireAll(vt, l, ["chat:a", "chat:b"]);
    expect(at.map((a) => a.t - start)).toEqual([2000, 2000]);
  });

  test("backOffChat doubles up to a cap and a success starts over; other chats are unaffected", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    expect([1, 2, 3].map(() => l.backOffChat("chat:a"))).toEqual([1000, 2000, 4000]);
    for (let i = 0; i < 10; i++) l.backOffChat("chat:a");
    expect(l.backOffChat("chat:a")).toBe(CHAT_BACKOFF_MAX_MS);
    l.chatSucceeded("chat:a");
    expect(l.backOffChat("chat:a")).toBe(1000);
    const start = vt.now();
    const at = await acquireAll(vt, l, ["chat:b"]);
    expect(at[0]!.t).toBe(start);
  });

  test("a backed-off chat waits out its pause", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    const start = vt.now();
    l.backOffChat("chat:a");
    const at = await acquireAll(vt, l, ["chat:a"]);
    expect(at[0]!.t - start).toBe(1000);
  });

  test("idle chats are forgotten, so memory stays bounded", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt, { appPerSecond: Number.POSITIVE_INFINITY, chatPerSecond: 5 });
    await acquireAll(
      vt,
      l,
      Array.from({ length: 2000 }, (_, i) => `user:ou_${i}`),
    );
    expect(l.chats).toBeGreaterThan(0);
    vt.advance(61_000);
    await acquireAll(
      vt,
      l,
      Array.from({ length: 256 }, () => "chat:still-busy"),
    );
    expect(l.chats).toBe(1);
  });

  test("fair across users: a flood of one user's sends to many chats delays another user's send by one turn", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    const start = vt.now();
    // User A queues 600 sends (600 chats, so only the app-wide limit holds them); B queues one after.
    const flood = Array.from({ length: 600 }, (_, i): [string, string] => ["A", `chat:oc_a${i}`]);
    const at = await acquireOwned(vt, l, [...flood, ["B", "chat:oc_b"]]);
    const b = at.findIndex((a) => a.owner === "B");
    // First come, first served would put B behind all 600 (12 s at 50/s); round-robin lets at most
    // the two of A's that were already in line go first.
    expect(b).toBeLessThanOrEqual(2);
    expect(at[b]!.t).toBe(start);
    // The flood still goes out at the full app-wide rate.
    expect(
      maxInWindow(
        at.map((a) => a.t),
        1000,
      ),
    ).toBe(50);
  });

  test("fair inside a shared chat: another user's send does not wait behind the flood, and each user keeps its order", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    const start = vt.now();
    const sends: Array<[string, string]> = [
      ...Array.from({ length: 100 }, (): [string, string] => ["A", "chat:oc_shared"]),
      ["B", "chat:oc_shared"],
      ["B", "chat:oc_shared"],
    ];
    const order: string[] = [];
    const all = Promise.all(
      sends.map(([owner, key], i) => l.acquire(key, { owner }).then(() => order.push(`${owner}${i}`))),
    );
    const times: Record<string, number> = {};
    await vt.run(
      all.then(() => {
        times.end = vt.now();
      }),
    );
    const bFirst = order.indexOf("B100");
    expect(bFirst).toBeLessThanOrEqual(2);
    expect(order.indexOf("B101")).toBeLessThanOrEqual(bFirst + 2);
    expect(order.filter((o) => o.startsWith("A"))).toEqual(Array.from({ length: 100 }, (_, i) => `A${i}`));
    // The chat's 5/s still holds for everyone together: 102 sends need 20 more windows.
    expect(times.end! - start).toBe(20 * 1050);
  });

  test("a waiter that gives up leaves the queue; the others still go", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt, { appPerSecond: 1 });
    const quit = new AbortController();
    const first = l.acquire("chat:a", { owner: "A" });
    const gaveUp = l.acquire("chat:b", { signal: quit.signal, owner: "B" }).catch((e) => e);
    const third = l.acquire("chat:c", { owner: "C" });
    quit.abort(new Error("shutting down"));
    expect(await gaveUp).toBeInstanceOf(Error);
    const start = vt.now();
    await vt.run(Promise.all([first, third]));
    expect(vt.now() - start).toBe(1050);
  });
});

describe("untilAborted", () => {
  test("with a signal already aborted, the abandoned wait's own failure is not an unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const controller = new AbortController();
      controller.abort(new Error("closing"));
      let fail: (e: Error) => void = () => {};
      const wait = new Promise<void>((_, reject) => {
        fail = reject;
      });
      await expect(untilAborted(wait, controller.signal)).rejects.toThrow("closing");
      fail(new Error("the Feishu sender is closing"));
      // Unhandled rejections are reported after the microtask queue drains.
      await new Promise((r) => setTimeout(r, 0));
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
