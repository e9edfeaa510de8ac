import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SQLITE_MIGRATIONS as MIGRATIONS } from "../../src/db/migrations.generated.ts";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { tempDir } from "../helpers.ts";

const root = join(import.meta.dir, "../..");
const journal = JSON.parse(readFileSync(join(root, "drizzle/sqlite/meta/_journal.json"), "utf8")) as {
  entries: { tag: string; when: number }[];
};

describe("migrations", () => {
  test("migrating twice is a no-op", () => {
    const { dir, cleanup } = tempDir();
    const db = openDatabase(join(dir, "m.db"));
    expect(migrate(db)).toBe(MIGRATIONS.length);
    expect(migrate(db)).toBe(0);
    const tables = db.$client.query("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    for (const t of ["users", "sessions", "inbox", "outbox", "chats", "kv", "seen_events"]) {
      expect(tables.map((r) => r.name)).toContain(t);
    }
    db.$client.close();
    cleanup();
  });

  test("journal timestamps strictly increase (drizzle skips older-stamped migrations)", () => {
    for (let i = 1; i < journal.entries.length; i++) {
      expect(journal.entries[i]!.when).toBeGreaterThan(journal.entries[i - 1]!.when);
    }
  });

  test("the embedded migrations are exactly drizzle/ (run `bun run db:generate` after a schema change)", () => {
    const files = readdirSync(join(root, "drizzle/sqlite")).filter((f) => f.endsWith(".sql"));
    expect(MIGRATIONS.map((m) => `${m.tag}.sql`).sort()).toEqual(files.sort());
    for (const m of MIGRATIONS) {
      expect(m.sql).toBe(readFileSync(join(root, "drizzle/sqlite", `${m.tag}.sql`), "utf8"));
      expect(m.when).toBe(journal.entries.find((e) => e.tag === m.tag)!.when);
    }
  });

  test("pragmas: WAL, synchronous FULL, foreign keys, busy timeout", () => {
    const { dir, cleanup } = tempDir();
    const db = openDatabase(join(dir, "p.db"));
    const get = (p: string) => Object.values(db.$client.query(`PRAGMA ${p}`).get() as object)[0];
    expect(get("journal_mode")).toBe("wal");
    expect(get("synchronous")).toBe(2);
    expect(get("foreign_keys")).toBe(1);
    expect(get("busy_timeout")).toBe(5000);
    db.$client.close();
    cleanup();
  });

  test("unique indexes carry the invariants", () => {
    const { dir, cleanup } = tempDir();
    const db = openDatabase(join(dir, "u.db"));
    migrate(db);
    const c = db.$client;
    c.run("INSERT INTO users (open_id) VALUES ('ou_a')");
    expect(() => c.run("INSERT INTO users (open_id) VALUES ('ou_a')")).toThrow();
    c.run(
      "INSERT INTO inbox (user_id, seq, event_id, message_id, chat_id, payload, received_at) VALUES (1, 1, 'e', 'om_1', 'oc', '{}', 0)",
    );
    expect(() =>
      c.run(
        "INSERT INTO inbox (user_id, seq, event_id, message_id, chat_id, payload, received_at) VALUES (1, 1, 'e2', 'om_2', 'oc', '{}', 0)",
      ),
    ).toThrow();
    // A message stored twice is caught by the inbox store's in-memory message id map (one writer
    // process), not by an index: Feishu's random ids made that index cost a WAL page per message.
    c.run(
      "INSERT INTO inbox (user_id, seq, event_id, message_id, chat_id, payload, received_at) VALUES (1, 2, 'e3', 'om_1', 'oc', '{}', 0)",
    );
    db.$client.close();
    cleanup();
  });
});
