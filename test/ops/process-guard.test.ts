import { describe, expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { installProcessGuard } from "../../src/ops/process-guard.ts";

describe("process guard", () => {
  test("an unhandled rejection is logged and counted, once per process however often installed", () => {
    const proc = new EventEmitter();
    const { log, lines } = memoryLogger();
    const metrics = new Registry();
    const remove = installProcessGuard({ process: proc, log, metrics });
    installProcessGuard({ process: proc, log, metrics });
    expect(proc.listenerCount("unhandledRejection")).toBe(1);
    proc.emit("unhandledRejection", new Error("database is locked"));
    proc.emit("unhandledRejection", "a string reason");
    expect(metrics.render()).toContain("process_unhandled_rejections_total 2");
    const logged = lines.map((l) => JSON.parse(l) as { event: string; err?: { message: string } });
    expect(logged.filter((l) => l.event === "unhandled_rejection").map((l) => l.err?.message)).toEqual([
      "database is locked",
      "a string reason",
    ]);
    remove();
    expect(proc.listenerCount("unhandledRejection")).toBe(0);
  });

  test("a real process with the guard survives an unhandled rejection", async () => {
    const guard = join(import.meta.dir, "../../src/ops/process-guard.ts");
    const logger = join(import.meta.dir, "../../src/ops/logger.ts");
    const metrics = join(import.meta.dir, "../../src/ops/metrics.ts");
    const script = `
      const { installProcessGuard } = await import(${JSON.stringify(guard)});
      const { Logger } = await import(${JSON.stringify(logger)});
      const { Registry } = await import(${JSON.stringify(metrics)});
      const registry = new Registry();
      installProcessGuard({ process, log: new Logger("info", (l) => console.log(l)), metrics: registry });
      Promise.reject(new Error("nobody listens"));
      setTimeout(() => console.log(registry.render().includes("process_unhandled_rejections_total 1") ? "alive" : "uncounted"), 50);
    `;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const out = await new Response(child.stdout).text();
    expect(await child.exited).toBe(0);
    expect(out).toContain('"event":"unhandled_rejection"');
    expect(out).toContain("alive");
  });
});
