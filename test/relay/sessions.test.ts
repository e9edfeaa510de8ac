import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { SqliteSessionStore } from "../../src/relay/session-store.ts";
import { SessionLog } from "../../src/relay/sessions.ts";
import { tempDir, testRelay } from "../helpers.ts";
import { sqlGet, sqliteOnly } from "../storage/sql.ts";
import { holdWriteLock } from "./db-lock.ts";

function freshDb() {
  const { dir, cleanup } = tempDir();
  const path = join(dir, "s.db");
  const db = openDatabase(path);
  migrate(db);
  db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1')");
  return { db, path, dir, cleanup };
}

const openRows = (db: ReturnType<typeof freshDb>["db"]) =>
  db.$client.query("SELECT id, close_code AS code FROM sessions").all() as Array<{
    id: string;
    code: number;
  }>;

describe("session log", () => {
  test("a commit that finds the database write-locked is kept for later, never thrown", async () => {
    const { db, path, cleanup } = freshDb();
    db.$client.exec("PRAGMA busy_timeout = 50");
    const { log, lines } = memoryLogger();
    const sessions = new SessionLog(new SqliteSessionStore(db), () => 1000, log, 60_000);
    const lock = await holdWriteLock(path);
    try {
      sessions.opened({ id: "s1", userId: 1, protocol: "v1" });
      expect(await sessions.flush()).toBeUndefined();
      expect(lines.some((l) => l.includes("sessions_write_failed"))).toBe(true);
    } finally {
      await lock.release();
    }
    await sessions.flush();
    expect(openRows(db)).toEqual([{ id: "s1", code: null as unknown as number }]);
    await sessions.stop();
    expect(openRows(db)).toEqual([{ id: "s1", code: 1012 }]);
    db.$client.close();
    cleanup();
  });

  // The relay on this SQLite file; the PostgreSQL store's start-up close is in test/storage/session-store.test.ts.
  sqliteOnly("rows a crash left open are closed with 1006 when the relay starts", async () => {
    const { db, path, cleanup } = freshDb();
    db.$client.run(
      "INSERT INTO sessions (id, user_id, connected_at, protocol) VALUES ('crashed', 1, 1, 'v1')",
    );
    db.$client.close();
    const t = await testRelay({ DATABASE_PATH: path });
    const row = (await sqlGet<{ d: number | null; code: number | null }>(
      t.relay.ctx.storage,
      "SELECT disconnected_at AS d, close_code AS code FROM sessions WHERE id = 'crashed'",
    ))!;
    expect(row.code).toBe(1006);
    expect(row.d).toBeNumber();
    await t.close();
    cleanup();
  });
});
