import { describe, expect, test } from "bun:test";
import { Logger } from "../../src/ops/logger.ts";
import { releaseStartupMemory } from "../../src/ops/startup-memory.ts";
import { withServeProcess } from "../serve-process.ts";

describe("start-up memory", () => {
  test("one full collection, then the shrink; the RSS before and after are logged at debug", () => {
    const calls: string[] = [];
    const lines: string[] = [];
    let rss = 60 * 1024 * 1024;
    let clock = 1000;
    releaseStartupMemory({
      gc: () => {
        calls.push("gc");
        clock += 4;
      },
      shrink: () => {
        calls.push("shrink");
        rss -= 3 * 1024 * 1024;
        clock += 2.5;
      },
      rss: () => rss,
      now: () => clock,
      log: new Logger("debug", (line) => lines.push(line)),
    });
    expect(calls).toEqual(["gc", "shrink"]);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ event: "startup_memory_released", rssBeforeMb: 60, rssAfterMb: 57, ms: 6.5 }),
    ]);
  });

  test("above debug nothing is logged, and the collection still runs", () => {
    const calls: string[] = [];
    const lines: string[] = [];
    releaseStartupMemory({
      gc: () => calls.push("gc"),
      shrink: () => calls.push("shrink"),
      rss: () => 1,
      now: () => 0,
      log: new Logger("info", (line) => lines.push(line)),
    });
    expect(calls).toEqual(["gc", "shrink"]);
    expect(lines).toEqual([]);
  });

  test("`serve` releases it once the relay listens (a real relay process)", async () => {
    // The line comes RELEASE_AFTER_LISTEN_MS after listening.
    const out = await withServeProcess(
      { until: "startup_memory_released", env: { LOG_LEVEL: "debug" }, giveUpMs: 8_000 },
      (served) => served.out,
    );
    const events = out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { event: string; rssBeforeMb?: number; rssAfterMb?: number });
    const names = events.map((e) => e.event);
    expect(names).toContain("startup_memory_released");
    expect(names.indexOf("relay_listening")).toBeLessThan(names.indexOf("startup_memory_released"));
    const released = events.find((e) => e.event === "startup_memory_released")!;
    expect(released.rssBeforeMb).toBeGreaterThan(0);
    expect(released.rssAfterMb).toBeGreaterThan(0);
  });
});
