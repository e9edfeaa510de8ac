import { afterEach, beforeEach, expect, test } from "bun:test";
import { createMediaRecords, type MediaRecord, type MediaRecords } from "../../src/media/media-records.ts";
import { createOutboxStore, type OutboxStore } from "../../src/relay/outbox-store.ts";
import { eachDialect, freshStorage } from "./databases.ts";
import { addUser } from "./users.ts";

const T0 = 1_000_000;

eachDialect("media records", (dialect) => {
  let close: () => Promise<void>;
  let records: MediaRecords;
  let outbox: OutboxStore;
  let a: number;
  let b: number;
  const record = (id: string, userId: number, size: number, expiresAt = T0 + 1000): MediaRecord => ({
    id,
    userId,
    size,
    mime: "image/png",
    name: id === "m1" ? "cat.png" : null,
    sha256: "ab".repeat(32),
    createdAt: T0,
    expiresAt,
  });
  /** A send naming the media, in the given state. */
  const sendWith = async (mediaId: string, uuid: string, final?: "sent" | "failed") => {
    const row = await outbox.insert({
      userId: a,
      uuid,
      request: "{}",
      status: "sending",
      now: T0,
      deadlineAt: T0 + 1000,
      mediaId,
    });
    if (final === "sent") await outbox.sent(row!.id, ["om"], T0);
    if (final === "failed") await outbox.failed(row!.id, "x", "x", T0);
  };
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    records = createMediaRecords(fresh.storage);
    outbox = createOutboxStore(fresh.storage, "node-a");
    a = await addUser(fresh.storage, "ou_a");
    b = await addUser(fresh.storage, "ou_b");
  });
  afterEach(() => close());

  test("records are stored within the user's quota; usage and totals add up", async () => {
    expect(await records.insertWithinQuota(record("m1", a, 600), 1000)).toBe(true);
    expect(await records.insertWithinQuota(record("m2", a, 500), 1000)).toBe(false);
    expect(await records.insertWithinQuota(record("m3", a, 400), 1000)).toBe(true);
    expect(await records.insertWithinQuota(record("m4", b, 900), 1000)).toBe(true);
    expect(await records.usage(a)).toBe(1000);
    expect(await records.totals()).toEqual({ files: 3, bytes: 1900 });
    expect(await records.byId("m1")).toEqual(record("m1", a, 600));
    expect(await records.byId("m2")).toBeUndefined();
  });

  test("racing uploads of one user cannot both pass the quota", async () => {
    const wins = await Promise.all(
      Array.from({ length: 6 }, (_, i) => records.insertWithinQuota(record(`r${i}`, a, 400), 1000)),
    );
    expect(wins.filter(Boolean)).toHaveLength(2);
    expect(await records.usage(a)).toBe(800);
  });

  test("a waiting send pins its media; expired or sent media are sweepable; remove deletes", async () => {
    for (const id of ["pinned", "expired", "sent", "fresh", "failed"])
      await records.insertWithinQuota(record(id, a, 1, id === "fresh" ? T0 + 10_000 : T0 + 1000), 100);
    await sendWith("pinned", "u1");
    await sendWith("sent", "u2", "sent");
    await sendWith("failed", "u3", "failed");
    expect(await records.pinned("pinned")).toBe(true);
    expect(await records.pinned("sent")).toBe(false);
    expect((await records.sweepable(T0)).sort()).toEqual(["sent"]);
    expect((await records.sweepable(T0 + 1000)).sort()).toEqual(["expired", "failed", "sent"]);
    await records.remove("sent");
    expect(await records.byId("sent")).toBeUndefined();
  });
});
