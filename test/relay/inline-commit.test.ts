import { describe, expect, test } from "bun:test";
import { InlineCommitPolicy } from "../../src/relay/inline-commit.ts";

/**
 * Feeds single-message commits every `gapMs`, each inline one taking `costMs`: the share inline over
 * `count` commits after a second of the same (the rate's warm-up).
 */
function run(
  p: InlineCommitPolicy,
  gapMs: number,
  costMs: number | ((i: number) => number),
  count = 2_000,
): number {
  let inline = 0;
  const warmup = Math.ceil(1_000 / gapMs);
  const cost = typeof costMs === "number" ? () => costMs : costMs;
  for (let i = 0; i < warmup + count; i++) {
    const t = i * gapMs;
    const go = p.inline(1, t);
    p.counted(1, t);
    if (go) p.measured(cost(i), 1, t);
    if (go && i >= warmup) inline++;
  }
  return inline / count;
}

describe("InlineCommitPolicy", () => {
  test("a fast fsync stays inline at 1,000/s and stops well before 5,000/s", () => {
    expect(run(new InlineCommitPolicy({ maxBatch: 4 }), 1, 0.35)).toBe(1);
    expect(run(new InlineCommitPolicy({ maxBatch: 4 }), 0.2, 0.35)).toBeLessThan(0.01);
  });

  test("a slow disk (10 ms fsyncs) goes deferred at a rate a fast one would take inline", () => {
    expect(run(new InlineCommitPolicy({ maxBatch: 4 }), 10, 10)).toBeLessThan(0.01);
    expect(run(new InlineCommitPolicy({ maxBatch: 4 }), 10, 0.35)).toBe(1);
    // At a trickle even the slow disk commits inline: few requests wait behind one fsync.
    expect(run(new InlineCommitPolicy({ maxBatch: 4 }), 100, 10, 200)).toBe(1);
  });

  test("the odd slow fsync does not turn inline off: one commit in 20 taking 3 ms at 1,000/s", () => {
    // Typical 0.3 ms, every 20th 3 ms: a mean would read ~0.44 ms and sit over 0.6 ms after each slow one.
    const spiky = (i: number) => (i % 20 === 0 ? 3 : 0.3);
    expect(run(new InlineCommitPolicy({ maxBatch: 4 }), 1, spiky)).toBe(1);
  });

  test("a disk that turns slow for good is followed: inline stops within a few dozen commits", () => {
    const p = new InlineCommitPolicy({ maxBatch: 4 });
    let t = 0;
    const commit = (ms: number) => {
      const go = p.inline(1, t);
      p.counted(1, t);
      if (go) p.measured(ms, 1, t);
      t += 1; // 1,000/s
      return go;
    };
    for (let i = 0; i < 2_000; i++) commit(0.3);
    let inlineWhileSlow = 0;
    for (let i = 0; i < 1_000; i++) if (commit(10)) inlineWhileSlow++;
    expect(inlineWhileSlow).toBeGreaterThan(0);
    expect(inlineWhileSlow).toBeLessThan(40);
  });

  test("batches over maxBatch never go inline; maxBatch 0 turns it off", () => {
    const p = new InlineCommitPolicy({ maxBatch: 4 });
    expect(p.inline(4, 0)).toBe(true);
    expect(p.inline(5, 0)).toBe(false);
    expect(new InlineCommitPolicy({ maxBatch: 0 }).inline(1, 0)).toBe(false);
  });

  test("a commit too large to go inline says nothing about the cost of one that can", () => {
    const p = new InlineCommitPolicy({ maxBatch: 4 });
    for (let t = 0; t < 1_000; t++) p.counted(1, t); // 1,000/s
    p.measured(0.3, 1, 1_000);
    // Deferred batches of 200, each with its own 50 ms commit and sync (a burst).
    for (let i = 0; i < 40; i++) p.measured(50, 200, 1_000);
    expect(p.inline(1, 1_000)).toBe(true);
  });

  test("one very slow commit fades: inline is tried again after a while", () => {
    const p = new InlineCommitPolicy({ maxBatch: 4, retryMs: 10_000 });
    for (let t = 0; t < 1_000; t++) p.counted(1, t); // 1,000/s
    p.measured(50, 1, 1_000); // one 50 ms stall
    expect(p.inline(1, 1_000)).toBe(false);
    for (let t = 1_000; t < 60_000; t++) p.counted(1, t);
    expect(p.inline(1, 60_000)).toBe(true);
  });

  describe("saturated batches", () => {
    /** The recent rate of a saturated loop: 20,000 messages/s in batches of 20. */
    function saturated(p: InlineCommitPolicy, until: number): void {
      for (let t = 0; t < until; t++) p.counted(20, t);
    }

    test("a batch of saturatedBatch or more goes inline at a rate that keeps small ones deferred", () => {
      const p = new InlineCommitPolicy({ maxBatch: 4 });
      saturated(p, 1_000);
      p.measured(0.3, 1, 1_000);
      expect(p.inline(4, 1_000)).toBe(false); // 20,000/s × 0.3 ms: six would wait
      expect(p.inline(15, 1_000)).toBe(false);
      expect(p.inline(16, 1_000)).toBe(true);
      expect(p.inline(64, 1_000)).toBe(true);
    });

    test("off with maxBatch 0 (a connection that does not fsync at COMMIT) or saturatedBatch 0", () => {
      expect(new InlineCommitPolicy({ maxBatch: 0 }).inline(64, 0)).toBe(false);
      expect(new InlineCommitPolicy({ maxBatch: 4, saturatedBatch: 0 }).inline(64, 0)).toBe(false);
      expect(new InlineCommitPolicy({ maxBatch: 4, saturatedBatch: 8 }).inline(8, 0)).toBe(true);
    });

    test("a slow disk stops them within a few dozen commits; deferred ones of their own bring them back", () => {
      const p = new InlineCommitPolicy({ maxBatch: 4, saturatedMaxMs: 2 });
      saturated(p, 1_000);
      let t = 1_000;
      for (let i = 0; i < 200; i++) p.measured(0.4, 32, t++);
      expect(p.inline(32, t)).toBe(true);
      let inlineWhileSlow = 0;
      for (let i = 0; i < 200; i++) {
        if (!p.inline(32, t)) break;
        inlineWhileSlow++;
        p.measured(10, 32, t++); // 10 ms fsyncs
      }
      expect(inlineWhileSlow).toBeGreaterThan(0);
      expect(inlineWhileSlow).toBeLessThan(40);
      expect(p.inline(32, t)).toBe(false);
      // Deferred, with a sync of their own each: measured too, and the disk is fast again.
      for (let i = 0; i < 200 && !p.inline(32, t); i++) p.measured(0.5, 32, t++);
      expect(p.inline(32, t)).toBe(true);
    });

    test("each size class learns from its own commits only", () => {
      const p = new InlineCommitPolicy({ maxBatch: 4 });
      for (let t = 0; t < 1_000; t++) p.counted(1, t); // 1,000/s
      for (let i = 0; i < 100; i++) p.measured(30, 64, 1_000); // big commits on a slow spell
      expect(p.inline(1, 1_000)).toBe(true); // small ones still measured at 0 (none yet)
      expect(p.inline(64, 1_000)).toBe(false);
      for (let i = 0; i < 100; i++) p.measured(5, 2, 1_000); // small ones slow: 1,000/s × 5 ms
      expect(p.inline(1, 1_000)).toBe(false);
      for (let i = 0; i < 100; i++) p.measured(1, 8, 1_000); // between the classes: passed over
      expect(p.inline(64, 1_000)).toBe(false);
      expect(p.inline(1, 1_000)).toBe(false);
    });
  });
});
