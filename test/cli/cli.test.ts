import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
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

  test("a second serve on the same port exits 1 with 'address already in use'", async () => {
    const { dir, cleanup } = tempDir();
    const first = Bun.spawn(["bun", entry, "serve"], {
      env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", DATABASE_PATH: join(dir, "a.db") },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const port = await listeningPort(first.stdout);
      expect(port).toBeGreaterThan(0);
      const second = Bun.spawn(["bun", entry, "serve"], {
        env: {
          PATH: process.env.PATH ?? "",
          HOST: "127.0.0.1",
          PORT: String(port),
          DATABASE_PATH: join(dir, "b.db"),
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      // Either its stdout ends and it exits, or (the bug) it listens too.
      const listening = await listeningPort(second.stdout);
      const outcome: { listening: number } | { code: number } = listening
        ? { listening }
        : { code: await second.exited };
      if ("listening" in outcome) second.kill("SIGKILL");
      expect(outcome).toEqual({ code: 1 });
      const err = await new Response(second.stderr).text();
      expect(err).toContain("address already in use");
      expect(err).toContain(`127.0.0.1:${port}`);
      expect(err.trim().split("\n")).toHaveLength(1);
    } finally {
      first.kill("SIGTERM");
      await first.exited;
      cleanup();
    }
  });

  test("check-config refuses an unwritable DATABASE_PATH and the example file's placeholders", () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "");
    const unwritable = run(["check-config"], { DATABASE_PATH: join(file, "relay.db") }, dir);
    expect(unwritable.code).toBe(2);
    expect(unwritable.err).toContain("DATABASE_PATH");
    expect(unwritable.err.trim().split("\n")).toHaveLength(1);
    // The deploy example as shipped, as the `.env` Bun loads: its ADMIN_TOKEN is a placeholder
    // everyone can read.
    const example = readFileSync(join(import.meta.dir, "../../deploy/openclaw-relay.env.example"), "utf8");
    writeFileSync(join(dir, ".env"), example);
    const env = { DATABASE_PATH: join(dir, "r.db") };
    const placeholder = run(["check-config"], env, dir);
    expect(placeholder.code).toBe(2);
    expect(placeholder.err).toContain("ADMIN_TOKEN");
    expect(placeholder.err).not.toContain(/^ADMIN_TOKEN=(.*)$/m.exec(example)![1]!);
    const fixed = run(
      ["check-config"],
      {
        ...env,
        ADMIN_TOKEN: "a-real-admin-token-123456",
        FEISHU_APP_ID: "cli_a1",
        FEISHU_APP_SECRET: "s3cr3t",
      },
      dir,
    );
    expect(fixed.code).toBe(0);
    cleanup();
  });

  test("serve with an unwritable DATABASE_PATH: one line naming it, exit 2, no stack trace", () => {
    const { dir, cleanup } = tempDir();
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "");
    const r = run(
      ["serve"],
      { HOST: "127.0.0.1", PORT: "0", DATABASE_PATH: join(file, "sub", "relay.db") },
      dir,
    );
    expect(r.code).toBe(2);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toContain("DATABASE_PATH");
    expect(r.err).not.toMatch(/^\s+at /m);
    cleanup();
  });

  test("unknown flags are an error; -h and every command's --help work", () => {
    for (const args of [
      ["serve", "--frob"],
      ["check-config", "--nope", "1"],
      ["users", "list", "-x"],
      ["--frob"],
    ]) {
      const r = run(args);
      expect(r.code).toBe(2);
      expect(r.err).toContain("unknown flag");
    }
    const short = run(["-h"]);
    expect(short.code).toBe(0);
    expect(short.out).toContain("check-config");
    for (const command of ["serve", "migrate", "check-config", "healthcheck", "version", "users", "token"]) {
      const r = run([command, "--help"]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: openclaw-relay ${command}`);
      expect(run([command, "-h"]).out).toBe(r.out);
    }
  });
});

/** Reads a relay's stdout until its relay_listening line; resolves with the port (0 if it ended first). */
async function listeningPort(stdout: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stdout.getReader();
  let buffered = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 0;
      buffered += new TextDecoder().decode(value);
      const m = /"event":"relay_listening"[^\n]*"port":(\d+)/.exec(buffered);
      if (m) return Number(m[1]);
    }
  } finally {
    reader.releaseLock();
  }
}
