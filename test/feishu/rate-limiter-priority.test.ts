/** M2-3: the one limiter with call kinds and priorities, in virtual time. */
import { describe, expect, test } from "bun:test";
import { type AcquireOptions, type CallInfo, SendRateLimiter } from "../../src/feishu/rate-limiter.ts";
import { VirtualTime } from "./virtual-time.ts";

function limiter(vt: VirtualTime, opts: Partial<ConstructorParameters<typeof SendRateLimiter>[0]> = {}) {
  const throttled: Array<CallInfo & { cause: string }> = [];
  const l = new SendRateLimiter({
    appPerSecond: 10,
    chatPerSecond: 100,
    now: vt.now,
    sleep: vt.sleep,
    onThrottled: (call, cause) => throttled.push({ ...call, cause }),
    ...opts,
  });
  return { l, throttled };
}

type Call = [name: string, key: string, opts: AcquireOptions];

/** Starts every call at once, in order; records the order and the time (from start) each went. */
async function run(vt: VirtualTime, l: SendRateLimiter, calls: Call[]) {
  const start = vt.now();
  const went: Array<{ name: string; t: number }> = [];
  const all = Promise.all(
    calls.map(([name, key, opts]) =>
      l.acquire(key, opts).then(() => went.push({ name, t: vt.now() - start })),
    ),
  );
  await vt.run(all);
  return went;
}

const update = (i: number, owner = "A"): Call => [`u${i}`, `chat:oc_${i}`, { priority: "update", owner }];
const final = (i: number, owner = "B"): Call => [`f${i}`, `chat:oc_f${i}`, { priority: "final", owner }];

describe("priorities inside one kind", () => {
  test("finals overtake updates already queued", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    const calls = [...Array.from({ length: 30 }, (_, i) => update(i)), final(0), final(1)];
    const went = await run(vt, l, calls);
    const order = went.map((w) => w.name);
    // The gate had already let the first update through before the finals queued; then finals first.
    expect(order.indexOf("f0")).toBeLessThanOrEqual(1);
    expect(order.indexOf("f1")).toBeLessThanOrEqual(2);
    // The updates keep their own order.
    expect(order.filter((n) => n.startsWith("u"))).toEqual(Array.from({ length: 30 }, (_, i) => `u${i}`));
  });

  test("updates fill at most 80% of the window, reactions 60%: the rest is kept for finals", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    const updates = await run(
      vt,
      l,
      Array.from({ length: 10 }, (_, i) => update(i)),
    );
    expect(updates.filter((w) => w.t === 0)).toHaveLength(8);
    const vt2 = new VirtualTime();
    const { l: l2 } = limiter(vt2);
    const reactions = await run(
      vt2,
      l2,
      Array.from({ length: 10 }, (_, i): Call => [`r${i}`, "r", { kind: "reaction", priority: "reaction" }]),
    );
    expect(reactions.filter((w) => w.t === 0)).toHaveLength(6);
  });

  test("a final finds its reserved share although drafts keep coming", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    const pending = run(
      vt,
      l,
      Array.from({ length: 40 }, (_, i) => update(i)),
    );
    // After the drafts spent their 80%, finals still go at once.
    await Promise.resolve();
    const finals = run(vt, l, [final(0), final(1)]);
    await vt.run(Promise.all([pending, finals]));
    expect((await finals).map((w) => w.t)).toEqual([0, 0]);
  });

  test("a final arriving while the gate sleeps for an update's window does not wait out that sleep", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    // 8 updates fill their share; the 9th makes the gate sleep ~1 s.
    const drafts = Promise.all(
      Array.from({ length: 9 }, (_, i) => l.acquire(`chat:${i}`, { priority: "update" })),
    );
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    const start = vt.now();
    let finalAt = -1;
    const fin = l.acquire("chat:f", { priority: "final" }).then(() => {
      finalAt = vt.now() - start;
    });
    await vt.run(Promise.all([drafts, fin]));
    expect(finalAt).toBe(0);
  });

  test("owners take turns within a priority", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt, { appPerSecond: 1 });
    const calls: Call[] = [...Array.from({ length: 5 }, (_, i) => update(i, "A")), update(10, "B")];
    const order = (await run(vt, l, calls)).map((w) => w.name);
    expect(order.indexOf("u10")).toBeLessThanOrEqual(2);
  });
});

describe("kinds", () => {
  test("each kind has its own app-wide budget: cards and reactions do not block sends", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt);
    const calls: Call[] = [
      ...Array.from(
        { length: 20 },
        (_, i): Call => [`c${i}`, `card:${i}`, { kind: "card", priority: "update" }],
      ),
      ...Array.from(
        { length: 20 },
        (_, i): Call => [`r${i}`, "x", { kind: "reaction", priority: "reaction" }],
      ),
      ...Array.from({ length: 10 }, (_, i): Call => [`m${i}`, `chat:${i}`, {}]),
    ];
    const went = await run(vt, l, calls);
    expect(went.filter((w) => w.name.startsWith("m")).every((w) => w.t === 0)).toBe(true);
  });

  test("a 429 on card calls pauses cards, not sends or uploads", async () => {
    const vt = new VirtualTime();
    const { l, throttled } = limiter(vt);
    l.pauseApp(3000, "card", "update");
    const went = await run(vt, l, [
      ["card", "card:1", { kind: "card", priority: "update" }],
      ["send", "chat:1", {}],
      ["upload", "u", { kind: "upload" }],
    ]);
    expect(Object.fromEntries(went.map((w) => [w.name, w.t]))).toEqual({ send: 0, upload: 0, card: 3000 });
    expect(throttled).toContainEqual({ kind: "card", priority: "update", cause: "429" });
    expect(throttled).toContainEqual({ kind: "card", priority: "update", cause: "wait" });
    expect(throttled.filter((t) => t.kind !== "card")).toEqual([]);
  });

  test("one card takes at most 10 calls per second; another card is not held", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt, { appPerSecond: 50 });
    const calls: Call[] = [
      ...Array.from({ length: 25 }, (_, i): Call => [`a${i}`, "card:7", { kind: "card" }]),
      ["b", "card:8", { kind: "card" }],
    ];
    const went = await run(vt, l, calls);
    const a = went.filter((w) => w.name.startsWith("a")).map((w) => w.t);
    expect(a.filter((t) => t === 0)).toHaveLength(10);
    expect(a.filter((t) => t === 1050)).toHaveLength(10);
    expect(went.find((w) => w.name === "b")!.t).toBe(0);
  });

  test("cardPerSecond is an option; reactions and uploads ignore the key", async () => {
    const vt = new VirtualTime();
    const { l } = limiter(vt, { appPerSecond: 50, cardPerSecond: 2, chatPerSecond: 1 });
    const went = await run(vt, l, [
      ["c1", "card:1", { kind: "card" }],
      ["c2", "card:1", { kind: "card" }],
      ["c3", "card:1", { kind: "card" }],
      ["r1", "chat:same", { kind: "reaction", priority: "reaction" }],
      ["r2", "chat:same", { kind: "reaction", priority: "reaction" }],
    ]);
    const t = Object.fromEntries(went.map((w) => [w.name, w.t]));
    expect([t.c1, t.c2, t.c3]).toEqual([0, 0, 1050]);
    expect([t.r1, t.r2]).toEqual([0, 0]);
  });

  test("a wait for the budget is reported once per call with its kind and priority", async () => {
    const vt = new VirtualTime();
    const { l, throttled } = limiter(vt, { appPerSecond: 1 });
    await run(vt, l, [
      ["a", "chat:1", {}],
      ["b", "chat:2", { priority: "update" }],
    ]);
    expect(throttled).toEqual([{ kind: "message", priority: "update", cause: "wait" }]);
  });

  test("Feishu's throttles are reported with kind and priority: 429s per kind, 230020 as a message throttle", () => {
    const vt = new VirtualTime();
    const { l, throttled } = limiter(vt);
    l.pauseApp(1000, "reaction", "reaction");
    l.backOffChat("chat:x", "update");
    expect(throttled).toEqual([
      { kind: "reaction", priority: "reaction", cause: "429" },
      { kind: "message", priority: "update", cause: "429" },
    ]);
  });
});
