import { afterEach, beforeEach, expect, test } from "bun:test";
import { createTypingStore, type TypingStore } from "../../src/relay/typing-store.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { eachDialect, freshStorage } from "./databases.ts";
import { addUser } from "./users.ts";

eachDialect("typing store", (dialect) => {
  let close: () => Promise<void>;
  let storage: Storage;
  let store: TypingStore;
  let errors: unknown[];
  let a: number;
  let b: number;
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    storage = fresh.storage;
    errors = [];
    store = createTypingStore(storage, (e) => errors.push(e));
    a = await addUser(storage, "ou_a");
    b = await addUser(storage, "ou_b");
  });
  afterEach(async () => {
    await store.flush();
    await close();
  });

  test("a message is claimed once; the reaction id is recorded; a drop forgets it", async () => {
    expect(await store.claim("om_1", a, 1, 10)).toBe(true);
    expect(await store.claim("om_1", a, 1, 11)).toBe(false);
    expect(await store.durable()).toBe(true);
    expect(await store.get("om_1")).toEqual({
      messageId: "om_1",
      userId: a,
      seq: 1,
      reactionId: null,
      addedAt: 10,
    });
    expect(await store.added("om_1", "r1")).toBe(true);
    expect((await store.get("om_1"))?.reactionId).toBe("r1");
    await store.drop("om_1");
    expect(await store.get("om_1")).toBeUndefined();
    // The row went meanwhile: the caller learns it, to remove the reaction it just added.
    expect(await store.added("om_1", "r2")).toBe(false);
    expect(errors).toEqual([]);
  });

  test("finds a user's rows up to an acked seq, and rows past a cutoff", async () => {
    await store.claim("om_a1", a, 1, 100);
    await store.claim("om_a2", a, 2, 200);
    await store.claim("om_b1", b, 1, 300);
    await store.durable();
    const ids = (rows: { messageId: string }[]) => rows.map((r) => r.messageId).sort();
    expect(ids(await store.ackedBy(a, 1))).toEqual(["om_a1"]);
    expect(ids(await store.ackedBy(a, 9))).toEqual(["om_a1", "om_a2"]);
    expect(ids(await store.olderThan(200))).toEqual(["om_a1", "om_a2"]);
  });

  test("a second store over the same database: SQLite loads the last run's rows, a cluster node does not", async () => {
    await store.claim("om_left", a, 5, 1);
    await store.added("om_left", "r_left");
    await store.flush();
    const next = createTypingStore(storage, () => {});
    const leftovers = await next.loadLeftovers();
    if (dialect === "sqlite")
      expect(leftovers).toEqual([
        { messageId: "om_left", userId: a, seq: 5, reactionId: "r_left", addedAt: 1 },
      ]);
    // Another node's rows may be live; the shared table still answers for them (a reply elsewhere).
    else expect(leftovers).toEqual([]);
    expect((await next.get("om_left"))?.reactionId).toBe("r_left");
  });
});
