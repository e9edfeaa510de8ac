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
    const { dir, cleanup } = tempDir();
    const path = join(dir, "r.db");
    const db = openDatabase(path);
    // The fsync per commit is not what this test is about (3,000 of them are slow on a busy disk).
    db.$client.run("PRAGMA synchronous = NORMAL");
    db.$client.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const metrics = new Registry();
    const { log } = memoryLogger();
    let reports = 0;
    const onEvent = (e: CheckpointerEvent) => {
      if (e.type === "checkpoint") reports += 1;
    };
    const cp = new Checkpointer(db.$client, { log, metrics, intervalMs: 5, rewindFrames: 64, onEvent });
    const insert = db.$client.query("INSERT INTO t (v) VALUES (?)");
    // Separate commits, as the inbox makes them; at each turn the loop runs the worker's reports and
    // the rewind a commit scheduled. Every 64 commits it waits for a report of the worker (or 20 ms:
    // a pass that finds what it found before reports nothing), so that a busy machine starving the
    // worker's thread does not decide how far the WAL grows.
    for (let i = 0; i < 3000; i++) {
      insert.run("x".repeat(500));
      cp.afterCommit();
      if (i % 64 === 63) {
        const before = reports;
        const until = performance.now() + 20;
        while (reports === before && performance.now() < until) await Bun.sleep(1);
      }
      await new Promise((r) => setImmediate(r));
    }
    const bytes = statSync(`${path}-wal`).size;
    const rewinds = metrics.counter("sqlite_wal_rewinds_total", "").get();
    await cp.stop();
    db.$client.close();
    cleanup();
    // Rewound by the main connection (the counter moves only when its own checkpoint copied every
    // frame), and the WAL file stays far below the 3,000 frames of 4 KB it would otherwise hold.
    expect(rewinds).toBeGreaterThan(2);
    expect(bytes).toBeLessThan((3000 * 4096) / 2);
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
