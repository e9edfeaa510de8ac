import { describe, expect, test } from "bun:test";
import { MINUTE_MS, MinuteCounts } from "../../src/admin/rates.ts";

describe("per-minute counts", () => {
  const t0 = Date.UTC(2026, 0, 15, 9, 0, 0);

  test("adds each sample's growth to the minute it was taken in, oldest minute first", () => {
    const c = new MinuteCounts(3);
    c.sample(100, t0); // the first sample only sets the baseline
    c.sample(110, t0 + 5000);
    c.sample(112, t0 + MINUTE_MS + 1000);
    c.sample(130, t0 + 2 * MINUTE_MS + 59_000);
    expect(c.series(t0 + 2 * MINUTE_MS + 59_000)).toEqual({ start: t0, counts: [10, 2, 18] });
  });

  test("forgets minutes older than the window and shows quiet minutes as zero", () => {
    const c = new MinuteCounts(3);
    c.sample(0, t0);
    c.sample(5, t0 + 1000);
    c.sample(9, t0 + 10 * MINUTE_MS);
    expect(c.series(t0 + 10 * MINUTE_MS)).toEqual({ start: t0 + 8 * MINUTE_MS, counts: [0, 0, 4] });
  });

  test("a counter that went backwards (a restart of its source) counts nothing, not a negative", () => {
    const c = new MinuteCounts(2);
    c.sample(50, t0);
    c.sample(3, t0 + 1000);
    c.sample(4, t0 + 2000);
    expect(c.series(t0 + 2000).counts).toEqual([0, 1]);
  });
});
