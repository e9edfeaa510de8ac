import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { Checkpointer, type CheckpointerEvent } from "../../src/db/checkpointer.ts";
import { openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { tempDir } from "../helpers.ts";

const autocheckpoint = (db: ReturnType<typeof openDatabase>) =>
  db.$client.query<{ wal_autocheckpoint: number }, []>("PRAGMA wal_autocheckpoint").get()!.wal_autocheckpoint;

/** Records the checkpointer's events; `next` resolves on the first one (past or future) that matches. */
function events() {
  const seen: CheckpointerEvent[] = [];
  const waiters: Array<{
    match: (e: CheckpointerEvent) => boolean;
    resolve: (e: CheckpointerEvent) => void;
  }> = [];
  return {
    onEvent(e: CheckpointerEvent) {
      seen.push(e);
      for (const w of waiters.filter((w) => w.match(e))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    },
    next(match: (e: CheckpointerEvent) => boolean): Promise<CheckpointerEvent> {
      const hit = seen.find(match);
      return hit ? Promise.resolve(hit) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

describe("checkpoint worker", () => {
  test("checkpoints the WAL from its own thread while the main connection's autocheckpoint is off", async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, "c.db");
    const db = openDatabase(path);
    db.$client.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const metrics = new Registry();
    const { log } = memoryLogger();
    const seen = events();
    const cp = new Checkpointer(db.$client, { log, metrics, intervalMs: 5, onEvent: seen.onEvent });
    expect(cp.running).toBe(false); // started on first use, not at construction
    cp.ensureStarted();
    cp.ensureStarted();
    expect(cp.running).toBe(true);
    expect(autocheckpoint(db)).toBe(0);
    const insert = db.$client.query("INSERT INTO t (v) VALUES (?)");
    // One transaction: 2,000 commits at synchronous=FULL were 2,000 fsyncs, seconds on a busy disk.
    db.$client.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run("x".repeat(500));
    })();
    // Checked at each checkpoint the worker reports: the rows reach the database file itself, not
    // only the WAL (passes during the inserts may copy part of them).
    await seen.next((e) => e.type === "checkpoint" && statSync(path).size > 1_000_000);
    expect(metrics.counter("sqlite_checkpoints_total", "").get()).toBeGreaterThan(0);
    await cp.stop();
    expect(cp.running).toBe(false);
    expect(autocheckpoint(db)).toBe(1000);
    cp.ensureStarted(); // stopped for good
    expect(cp.running).toBe(false);
    db.$client.close();
    cleanup();
  });

  test("rewinds the WAL from the main connection once it reaches rewindFrames, so it stops growing", async () => {
    const walBytes = async (rewindFrames: number) => {
      const { dir, cleanup } = tempDir();
      const path = join(dir, "r.db");
      const db = openDatabase(path);
      // The fsync per commit is not what this test is about (3,000 of them are slow on a busy disk).
      db.$client.run("PRAGMA synchronous = NORMAL");
      db.$client.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
      const metrics = new Registry();
      const { log } = memoryLogger();
      const cp = new Checkpointer(db.$client, { log, metrics, intervalMs: 5, rewindFrames });
      const insert = db.$client.query("INSERT INTO t (v) VALUES (?)");
      // Separate commits, as the inbox makes them, with no pause between them: the worker's passes
      // never find the WAL all copied by themselves. At each turn the loop runs the worker's reports
      // and the rewind a commit scheduled.
      for (let i = 0; i < 3000; i++) {
        insert.run("x".repeat(500));
        cp.afterCommit();
        await new Promise((r) => setImmediate(r));
      }
      const bytes = statSync(`${path}-wal`).size;
      const rewinds = metrics.counter("sqlite_wal_rewinds_total", "").get();
      await cp.stop();
      db.$client.close();
      cleanup();
      return { bytes, rewinds };
    };
    const rewound = await walBytes(64);
    const grown = await walBytes(1_000_000);
    expect(rewound.rewinds).toBeGreaterThan(2);
    expect(grown.rewinds).toBe(0);
    // 3,000 commits of at least one 4 KB frame each: over 12 MB without rewinds; with them the WAL
    // starts over every 64 frames or so (plus what is written before the worker reports it).
    expect(grown.bytes).toBeGreaterThan(3000 * 4096);
    expect(rewound.bytes).toBeLessThan(grown.bytes / 2);
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
