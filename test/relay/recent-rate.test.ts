import { describe, expect, test } from "bun:test";
import { RecentRate } from "../../src/relay/recent-rate.ts";

describe("RecentRate", () => {
  test("a steady rate reads as that rate", () => {
    for (const perMs of [1, 5]) {
      const r = new RecentRate(100);
      for (let t = 0; t < 1000; t++) r.add(perMs, t);
      expect(r.perSecond(999)).toBeGreaterThan(perMs * 1000 * 0.95);
      expect(r.perSecond(999)).toBeLessThan(perMs * 1000 * 1.06);
    }
  });

  test("batches count by their size; a burst fades within a few time constants", () => {
    const r = new RecentRate(100);
    expect(r.perSecond(0)).toBe(0);
    r.add(50, 1_000);
    expect(r.perSecond(1_000)).toBe(500);
    expect(r.perSecond(1_100)).toBeCloseTo(500 / Math.E, 6);
    expect(r.perSecond(1_500)).toBeLessThan(5);
  });

  test("a clock that steps back neither decays nor inflates the count", () => {
    const r = new RecentRate(100);
    r.add(10, 5_000);
    r.add(10, 4_000);
    expect(r.perSecond(4_000)).toBe(200);
    expect(r.perSecond(5_000)).toBe(200);
  });
});
