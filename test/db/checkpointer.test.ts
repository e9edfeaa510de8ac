import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { Checkpointer } from "../../src/db/checkpointer.ts";
import { openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { tempDir } from "../helpers.ts";

const autocheckpoint = (db: ReturnType<typeof openDatabase>) =>
  db.$client.query<{ wal_autocheckpoint: number }, []>("PRAGMA wal_autocheckpoint").get()!.wal_autocheckpoint;

async function until(check: () => boolean, what: string, ms = 5000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

describe("checkpoint worker", () => {
  test("checkpoints the WAL from its own thread while the main connection's autocheckpoint is off", async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, "c.db");
    const db = openDatabase(path);
    db.$client.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const metrics = new Registry();
    const { log } = memoryLogger();
    const cp = new Checkpointer(db.$client, { log, metrics, intervalMs: 5 });
    expect(cp.running).toBe(false); // started on first use, not at construction
    cp.ensureStarted();
    cp.ensureStarted();
    expect(cp.running).toBe(true);
    expect(autocheckpoint(db)).toBe(0);
    const insert = db.$client.query("INSERT INTO t (v) VALUES (?)");
    for (let i = 0; i < 2000; i++) insert.run("x".repeat(500));
    await until(() => metrics.counter("sqlite_checkpoints_total", "").get() > 0, "a checkpoint");
    // The rows reached the database file itself, not only the WAL.
    await until(() => statSync(path).size > 1_000_000, "the database file to grow");
    await cp.stop();
    expect(cp.running).toBe(false);
    expect(autocheckpoint(db)).toBe(1000);
    cp.ensureStarted(); // stopped for good
    expect(cp.running).toBe(false);
    db.$client.close();
    cleanup();
  });

  test("an in-memory database has no WAL: nothing is started", async () => {
    const db = openDatabase(":memory:");
    const { log } = memoryLogger();
    const cp = new Checkpointer(db.$client, { log, metrics: new Registry() });
    cp.ensureStarted();
    expect(cp.running).toBe(false);
    await cp.stop();
    db.$client.close();
  });
});
