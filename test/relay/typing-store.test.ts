/** The typing indicator's record: in memory for decisions, written behind in grouped transactions. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { SqliteTypingStore } from "../../src/relay/typing-store.ts";
import { tempDir } from "../helpers.ts";

function setUp() {
  const { dir, cleanup } = tempDir();
  const db = openDatabase(join(dir, "relay.db"));
  migrate(db);
  db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_a'), (2, 'ou_b')");
  const errors: unknown[] = [];
  const store = new SqliteTypingStore(db.$client, (e) => errors.push(e));
  const rows = () =>
    db.$client.query("SELECT message_id AS m, reaction_id AS r FROM typing_reactions ORDER BY m").all();
  return { db, store, errors, rows, cleanup };
}

describe("TypingStore", () => {
  test("claims once per message; the rows reach the table together once durable", async () => {
    const t = setUp();
    expect(t.store.claim("om_1", 1, 1, 10)).toBe(true);
    expect(t.store.claim("om_1", 1, 1, 11)).toBe(false);
    expect(t.store.claim("om_2", 1, 2, 12)).toBe(true);
    expect(t.rows()).toEqual([]);
    expect(await t.store.durable()).toBe(true);
    expect(t.rows()).toEqual([
      { m: "om_1", r: null },
      { m: "om_2", r: null },
    ]);
    t.store.added("om_1", "r1");
    t.store.drop("om_2");
    t.store.flush();
    expect(t.rows()).toEqual([{ m: "om_1", r: "r1" }]);
    t.db.$client.close();
    t.cleanup();
  });

  test("finds a user's rows up to an acked seq and rows past a cutoff, from memory", () => {
    const t = setUp();
    t.store.claim("om_a1", 1, 1, 100);
    t.store.claim("om_a2", 1, 2, 200);
    t.store.claim("om_b1", 2, 1, 300);
    expect(t.store.ackedBy(1, 1).map((r) => r.messageId)).toEqual(["om_a1"]);
    expect(t.store.ackedBy(1, 9).map((r) => r.messageId)).toEqual(["om_a1", "om_a2"]);
    expect(t.store.olderThan(200).map((r) => r.messageId)).toEqual(["om_a1", "om_a2"]);
    t.store.flush();
    t.db.$client.close();
    t.cleanup();
  });

  test("a failed write is reported and durable() says so; nothing throws", async () => {
    const t = setUp();
    t.store.claim("om_x", 99, 1, 1); // no user 99: the foreign key refuses the row
    expect(await t.store.durable()).toBe(false);
    expect(t.errors).toHaveLength(1);
    t.db.$client.close();
    t.cleanup();
  });

  test("leftovers of the last run are loaded and held", async () => {
    const t = setUp();
    t.store.claim("om_left", 1, 5, 1);
    t.store.added("om_left", "r_left");
    t.store.flush();
    const next = new SqliteTypingStore(t.db.$client, () => {});
    expect(await next.loadLeftovers()).toEqual([
      { messageId: "om_left", userId: 1, seq: 5, reactionId: "r_left", addedAt: 1 },
    ]);
    expect(next.get("om_left")?.reactionId).toBe("r_left");
    t.db.$client.close();
    t.cleanup();
  });
});
