import { describe, expect, test } from "bun:test";
import { MessageIds } from "../../src/relay/inbox-message-ids.ts";

/** A table stand-in: rowid → the message id the row holds (its event id: `ev_` + the message id). */
const rows = (entries: Record<number, string>) => {
  const table = new Map(Object.entries(entries).map(([id, m]) => [Number(id), m]));
  const reads: number[] = [];
  const messageAt = (rowid: number) => {
    reads.push(rowid);
    const messageId = table.get(rowid);
    return messageId === undefined ? null : { messageId, eventId: `ev_${messageId}` };
  };
  return { table, reads, messageAt };
};

describe("MessageIds", () => {
  test("finds each stored message's row; a message never stored reads nothing", () => {
    const t = rows({ 1: "om_a", 2: "om_b" });
    const ids = MessageIds.from(
      [
        { messageId: "om_a", id: 1 },
        { messageId: "om_b", id: 2 },
      ],
      t.messageAt,
    );
    expect(ids.rowOf("om_a")).toBe(1);
    expect(ids.rowOf("om_b")).toBe(2);
    t.reads.length = 0;
    expect(ids.rowOf("om_new")).toBeUndefined();
    expect(t.reads).toEqual([]);
  });

  test("stored: the row found, as read once (the batch writer's dedupe needs its event id)", () => {
    const t = rows({ 1: "om_a", 2: "om_b" });
    const ids = new MessageIds(t.messageAt, () => 7);
    ids.add("om_a", 1);
    ids.add("om_b", 2);
    t.reads.length = 0;
    expect(ids.stored("om_b")).toEqual({ messageId: "om_b", eventId: "ev_om_b" });
    // Both candidates share the hash: row 1 is read and passed over, row 2 read once and returned.
    expect(t.reads).toEqual([1, 2]);
    expect(ids.stored("om_c")).toBeUndefined();
  });

  test("messages sharing a hash: each finds its own row, and removing one keeps the other", () => {
    const t = rows({ 1: "om_a", 2: "om_b" });
    const ids = new MessageIds(t.messageAt, () => 7);
    ids.add("om_a", 1);
    ids.add("om_b", 2);
    expect(ids.rowOf("om_b")).toBe(2);
    expect(ids.rowOf("om_a")).toBe(1);
    // A third message of the same hash is not stored: both candidates read, neither dropped.
    expect(ids.rowOf("om_c")).toBeUndefined();
    expect(ids.size).toBe(2);
    ids.remove([{ messageId: "om_a", id: 1 }]);
    t.table.delete(1);
    expect(ids.rowOf("om_b")).toBe(2);
    expect(ids.rowOf("om_a")).toBeUndefined();
    expect(ids.size).toBe(1);
  });

  test("a row gone behind its back, or reused for a message of another hash, is dropped when found", () => {
    const hash = (m: string) => (m.startsWith("om_x") ? 1 : 2);
    const t = rows({ 5: "om_x1" });
    const ids = new MessageIds(t.messageAt, hash);
    ids.add("om_x1", 5);
    ids.add("om_x2", 6);
    // Row 6 was deleted (a user deleted, rows cascading); row 5 now holds a message of hash 2.
    t.table.set(5, "om_y");
    expect(ids.rowOf("om_x2")).toBeUndefined();
    expect(ids.size).toBe(0);
    // Once dropped, a later lookup reads nothing.
    t.reads.length = 0;
    expect(ids.rowOf("om_x1")).toBeUndefined();
    expect(t.reads).toEqual([]);
  });
});
