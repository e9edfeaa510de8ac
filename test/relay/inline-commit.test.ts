import { describe, expect, test } from "bun:test";
import { InlineCommitPolicy } from "../../src/relay/inline-commit.ts";

/**
 * Feeds single-message commits every `gapMs`, each inline one taking `costMs`: the share inline over
 * `count` commits after a second of the same (the rate's warm-up).
 */
function run(p: InlineCommitPolicy, gapMs: number, costMs: number, count = 2_000): number {
  let inline = 0;
  const warmup = Math.ceil(1_000 / gapMs);
  for (let i = 0; i < warmup + count; i++) {
    const t = i * gapMs;
    const go = p.inline(1, t);
    p.counted(1, t);
    if (go) p.measured(costMs, t);
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

  test("batches over maxBatch never go inline; maxBatch 0 turns it off", () => {
    const p = new InlineCommitPolicy({ maxBatch: 4 });
    expect(p.inline(4, 0)).toBe(true);
    expect(p.inline(5, 0)).toBe(false);
    expect(new InlineCommitPolicy({ maxBatch: 0 }).inline(1, 0)).toBe(false);
  });

  test("one very slow commit fades: inline is tried again after a while", () => {
    const p = new InlineCommitPolicy({ maxBatch: 4, retryMs: 10_000 });
    for (let t = 0; t < 1_000; t++) p.counted(1, t); // 1,000/s
    p.measured(50, 1_000); // one 50 ms stall
    expect(p.inline(1, 1_000)).toBe(false);
    for (let t = 1_000; t < 60_000; t++) p.counted(1, t);
    expect(p.inline(1, 60_000)).toBe(true);
  });
});
