import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { memoryLogger } from "../../src/ops/logger.ts";

describe("logger", () => {
  test("one JSON line per event; below the level nothing; secrets redacted by field name", () => {
    const { log, lines } = memoryLogger("info");
    log.debug("hidden", {});
    log.child({ module: "m" }).info("shown", { appSecret: "s3cret", token: "t0k", userId: 7 });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ level: "info", event: "shown", module: "m", userId: 7 });
    expect(entry.appSecret).toBe("[redacted]");
    expect(lines[0]).not.toContain("s3cret");
    expect(lines[0]).not.toContain("t0k");
  });

  test("stdout lines of one turn leave together, and none is lost when the process exits at once", async () => {
    const script = `
      import { Logger } from ${JSON.stringify(join(import.meta.dir, "../../src/ops/logger.ts"))};
      const log = new Logger("info");
      for (let i = 0; i < 4; i++) log.info("line", { i, text: "飞书".repeat(40000) });
      process.exit(0);
    `;
    const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    const lines = out.trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l).i)).toEqual([0, 1, 2, 3]);
  });
});
