import { afterEach, beforeEach, expect, test } from "bun:test";
import { createKv, type Kv } from "../../src/db/kv.ts";
import { eachDialect, freshStorage } from "./databases.ts";

eachDialect("kv port", (dialect) => {
  let close: () => Promise<void>;
  let kv: Kv;
  const clock = { t: 1_000_000 };
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    kv = createKv(fresh.storage, () => clock.t);
  });
  afterEach(() => close());

  test("set, get, overwrite, delete", async () => {
    expect(await kv.get("a")).toBeUndefined();
    await kv.set("a", "1");
    await kv.set("a", "2", clock.t + 10);
    expect(await kv.getEntry("a")).toEqual({ value: "2", expiresAt: clock.t + 10 });
    await kv.delete("a");
    expect(await kv.get("a")).toBeUndefined();
  });

  test("expired entries read as absent and are pruned", async () => {
    await kv.set("old", "x", clock.t + 5);
    await kv.set("keep", "y");
    clock.t += 5;
    expect(await kv.get("old")).toBeUndefined();
    expect(await kv.pruneExpired()).toBe(1);
    expect(await kv.get("keep")).toBe("y");
  });

  test("take reads and deletes once, even when two race", async () => {
    await kv.set("state", "s", clock.t + 1000);
    const [a, b] = await Promise.all([kv.take("state"), kv.take("state")]);
    expect([a, b].filter(Boolean)).toEqual(["s"]);
    expect(await kv.take("state")).toBeUndefined();
  });

  test("setIfAbsent: one winner among racers; an expired mark can be claimed again", async () => {
    const wins = await Promise.all(
      Array.from({ length: 5 }, (_, i) => kv.setIfAbsent("m", String(i), clock.t + 100)),
    );
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(await kv.setIfAbsent("m", "later", clock.t + 100)).toBe(false);
    clock.t += 100;
    expect(await kv.setIfAbsent("m", "later", clock.t + 100)).toBe(true);
    expect(await kv.get("m")).toBe("later");
  });
});
