import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Logger } from "../../src/ops/logger.ts";
import { releaseStartupMemory } from "../../src/ops/startup-memory.ts";
import { tempDir } from "../helpers.ts";

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
    const { dir, cleanup } = tempDir("startup-memory-");
    const proc = Bun.spawn(["bun", join(import.meta.dir, "../../src/index.ts"), "serve"], {
      env: {
        PATH: process.env.PATH ?? "",
        HOST: "127.0.0.1",
        PORT: "0",
        LOG_LEVEL: "debug",
        DATABASE_PATH: join(dir, "relay.db"),
      },
      stdout: "pipe",
      stderr: "inherit",
    });
    try {
      const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let out = "";
      // The line comes RELEASE_AFTER_LISTEN_MS after listening; 8 s is the give-up, not a wait.
      const giveUp = new Promise<{ done: true; value: undefined }>((resolve) =>
        setTimeout(() => resolve({ done: true, value: undefined }), 8_000).unref(),
      );
      while (!out.includes('"startup_memory_released"')) {
        const { value, done } = await Promise.race([reader.read(), giveUp]);
        if (done) break;
        out += decoder.decode(value);
      }
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
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      cleanup();
    }
  });
});
