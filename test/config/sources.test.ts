import { describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../src/config/definition.ts";
import { checkDatabasePath, finishConfig } from "../../src/config/load.ts";
import { mergeSources, parseArgs } from "../../src/config/sources.ts";
import { SqliteKv } from "../../src/db/kv.ts";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { tempDir } from "../helpers.ts";

describe("configuration sources", () => {
  test("flags map to variables; other options and positionals are kept", () => {
    const a = parseArgs([
      "users",
      "add",
      "--open-id",
      "ou_1",
      "--port=9000",
      "--database-path",
      "/tmp/x.db",
      "--help",
    ]);
    expect(a.positionals).toEqual(["users", "add"]);
    expect(a.config).toEqual({ PORT: "9000", DATABASE_PATH: "/tmp/x.db" });
    expect(a.options).toEqual({ "open-id": "ou_1", help: true });
  });

  test("-h is --help; other short flags are kept as options for main to refuse", () => {
    const a = parseArgs(["serve", "-h", "-x", "--port", "-1"]);
    expect(a.positionals).toEqual(["serve"]);
    expect(a.options).toEqual({ help: true, "-x": true });
    expect(a.config).toEqual({ PORT: "-1" });
  });

  test("DATABASE_PATH must be writable: a file for a directory, or a directory for a file, is refused", () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, "f");
      writeFileSync(file, "");
      expect(() => checkDatabasePath(join(file, "a", "relay.db"))).toThrow(ConfigError);
      expect(() => checkDatabasePath(dir)).toThrow(/is a directory/);
      expect(() => checkDatabasePath(join(dir, "new", "deeper", "relay.db"))).not.toThrow();
      expect(() => checkDatabasePath(":memory:")).not.toThrow();
      // The probe leaves nothing behind.
      expect(readdirSync(dir)).toEqual(["f"]);
    } finally {
      cleanup();
    }
  });

  test("precedence: flags > environment > database", () => {
    const merged = mergeSources({
      flags: { PORT: "1" },
      env: { PORT: "2", HOST: "h-env" },
      db: { PORT: "4", HOST: "h-db", PUBLIC_URL: "https://db" },
    });
    expect(merged).toMatchObject({ PORT: "1", HOST: "h-env", PUBLIC_URL: "https://db" });
  });

  test("unknown environment variables never enter the config", () => {
    expect(mergeSources({ flags: {}, env: { PATH: "/bin", PORT: "1" }, db: {} })).toEqual({
      PORT: "1",
    });
  });

  test(".env in the working directory reaches the config through Bun, never over the environment", async () => {
    const { dir, cleanup } = tempDir();
    await Bun.write(join(dir, ".env"), '# c\nexport PORT=6123\nPUBLIC_URL="https://dot.env" # why\n');
    const show = ["bun", "-e", "console.log(JSON.stringify([process.env.PORT, process.env.PUBLIC_URL]))"];
    const run = (env: Record<string, string>) =>
      JSON.parse(
        Bun.spawnSync(show, { cwd: dir, env: { PATH: process.env.PATH ?? "", ...env } }).stdout.toString(),
      );
    expect(run({})).toEqual(["6123", "https://dot.env"]);
    expect(run({ PORT: "1" })).toEqual(["1", "https://dot.env"]);
    cleanup();
  });

  test("JWT_SECRET is generated once and kept in the database", async () => {
    const { dir, cleanup } = tempDir();
    const db = openDatabase(join(dir, "r.db"));
    migrate(db);
    const kv = new SqliteKv(db);
    const first = (await finishConfig({}, kv)).JWT_SECRET;
    expect(first).toBeString();
    expect(first!.length).toBeGreaterThanOrEqual(32);
    expect((await finishConfig({}, kv)).JWT_SECRET).toBe(first);
    // A configured secret wins over the stored one.
    expect((await finishConfig({ JWT_SECRET: "x".repeat(40) }, kv)).JWT_SECRET).toBe("x".repeat(40));
    db.$client.close();
    cleanup();
  });

  test("database-stored values fill what flags and env leave unset", async () => {
    const { dir, cleanup } = tempDir();
    const db = openDatabase(join(dir, "r.db"));
    migrate(db);
    const kv = new SqliteKv(db);
    await kv.set("config.LOG_LEVEL", "warn");
    await kv.set("config.PORT", "7777");
    const c = await finishConfig({ PORT: "8888" }, kv);
    expect(c.LOG_LEVEL).toBe("warn");
    expect(c.PORT).toBe(8888);
    db.$client.close();
    cleanup();
  });
});
