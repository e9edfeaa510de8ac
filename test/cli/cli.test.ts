import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";

const entry = join(import.meta.dir, "../../src/index.ts");

function run(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const p = Bun.spawnSync(["bun", entry, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    cwd,
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe("command line", () => {
  test("version prints the version", () => {
    const r = run(["version"]);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  test("--help lists commands and variables", () => {
    const r = run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("check-config");
    expect(r.out).toContain("FEISHU_APP_SECRET");
  });

  test("check-config: exit 0 with a summary, exit 2 naming the bad variable", () => {
    const { dir, cleanup } = tempDir();
    const ok = run(["check-config"], { DATABASE_PATH: join(dir, "r.db") }, dir);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain("config ok");
    const bad = run(["check-config", "--port", "99999"], {}, dir);
    expect(bad.code).toBe(2);
    expect(bad.err.trim().split("\n")).toHaveLength(1);
    expect(bad.err).toContain("PORT");
    const badLlm = run(["check-config", "--llm-providers", "{nope"], {}, dir);
    expect(badLlm.code).toBe(2);
    expect(badLlm.err).toContain("LLM_PROVIDERS");
    const badEnv = run(["check-config"], { FEISHU_EVENT_MODE: "carrier-pigeon" }, dir);
    expect(badEnv.code).toBe(2);
    expect(badEnv.err).toContain("FEISHU_EVENT_MODE");
    cleanup();
  });

  test("secrets never appear in check-config output", () => {
    const { dir, cleanup } = tempDir();
    const secret = "super-secret-value-123456";
    const r = run(
      ["check-config"],
      { FEISHU_APP_ID: "cli_a", FEISHU_APP_SECRET: secret, ADMIN_TOKEN: secret },
      dir,
    );
    expect(r.code).toBe(0);
    expect(r.out + r.err).not.toContain(secret);
    cleanup();
  });

  test("migrate applies once, then reports up to date", () => {
    const { dir, cleanup } = tempDir();
    const db = join(dir, "m.db");
    expect(run(["migrate", "--database-path", db]).out).toContain("applied");
    expect(run(["migrate", "--database-path", db]).out).toContain("up to date");
    cleanup();
  });

  test("unknown command → exit 2", () => {
    expect(run(["frobnicate"]).code).toBe(2);
  });

  test("serve answers /health and exits 0 on SIGTERM within 10 s", async () => {
    const { dir, cleanup } = tempDir();
    const proc = Bun.spawn(["bun", entry, "serve"], {
      env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", DATABASE_PATH: join(dir, "s.db") },
      stdout: "pipe",
      stderr: "pipe",
    });
    const reader = proc.stdout.getReader();
    let buffered = "";
    let port = 0;
    while (!port) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += new TextDecoder().decode(value);
      const m = /"event":"relay_listening"[^\n]*"port":(\d+)/.exec(buffered);
      if (m) port = Number(m[1]);
    }
    expect(port).toBeGreaterThan(0);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    const started = performance.now();
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(performance.now() - started).toBeLessThan(10_000);
    cleanup();
  });
});
