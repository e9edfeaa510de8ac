import { afterEach, beforeEach, expect, test } from "bun:test";
import { type ConsoleStats, createConsoleStats } from "../../src/admin/stats.ts";
import { createKv } from "../../src/db/kv.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { Revocations } from "../../src/users/revocations.ts";
import { createUserStore, type UserStore } from "../../src/users/user-store.ts";
import { eachDialect, freshStorage } from "./databases.ts";
import { insertInbox, insertOutbox, setAckedSeq } from "./rows.ts";

const HOUR = 60 * 60_000;

eachDialect("console stats port", (dialect) => {
  let close: () => Promise<void>;
  let storage: Storage;
  let stats: ConsoleStats;
  let users: UserStore;
  const now = 1_700_000_000_000;
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    storage = fresh.storage;
    stats = createConsoleStats(storage);
    users = createUserStore(storage, () => now);
  });
  afterEach(() => close());

  test("users: everyone for '', else by id, open_id or a case-insensitive part of the name", async () => {
    const ann = (await users.upsert({ openId: "ou_ann", name: "Ann Lee" })).user;
    const bob = (await users.upsert({ openId: "ou_bob", name: "Bob 50%_off" })).user;
    await users.bumpTokenVersion(bob.id);
    await users.setLlmProvider(bob.id, "alpha");
    await insertInbox(storage, { userId: ann.id, seq: 1 });
    const all = await stats.users("", (id) => id === ann.id);
    expect(all).toEqual([
      {
        id: String(ann.id),
        openId: "ou_ann",
        name: "Ann Lee",
        connected: true,
        pending: 1,
        lastSeenAt: null,
        revoked: false,
        revocations: 0,
        llmProvider: null,
        createdAt: new Date(now).toISOString(),
      },
      expect.objectContaining({ id: String(bob.id), revocations: 1, llmProvider: "alpha", connected: false }),
    ]);
    const ids = async (q: string) => (await stats.users(q, () => false)).map((u) => u.openId);
    expect(await ids(String(bob.id))).toEqual(["ou_bob"]);
    expect(await ids("ou_ann")).toEqual(["ou_ann"]);
    expect(await ids("  lee ")).toEqual(["ou_ann"]);
    expect(await ids("50%_")).toEqual(["ou_bob"]);
    expect(await ids("%")).toEqual(["ou_bob"]);
    expect(await ids("nobody")).toEqual([]);
  });

  test("outbox: backlog, failures of the last hour, the newest failure", async () => {
    const { user } = await users.upsert({ openId: "ou_o" });
    expect(await stats.outbox(now)).toEqual({ backlog: 0, failedLastHour: 0, lastFailure: null });
    const row = (uuid: string, status: "pending" | "sending" | "sent" | "failed", updatedAt: number) => ({
      userId: user.id,
      uuid,
      request: "{}",
      status,
      nextAttemptAt: now,
      deadlineAt: now + HOUR,
      createdAt: now - 2 * HOUR,
      updatedAt,
    });
    await insertOutbox(storage, row("a", "pending", now));
    await insertOutbox(storage, row("b", "sending", now));
    await insertOutbox(storage, row("c", "sent", now));
    await insertOutbox(storage, { ...row("d", "failed", now - 2 * HOUR), lastErrorCode: "old" });
    await insertOutbox(storage, {
      ...row("e", "failed", now - 60_000),
      lastErrorCode: "230002",
      lastError: "bot not in chat",
    });
    expect(await stats.outbox(now)).toEqual({
      backlog: 2,
      failedLastHour: 1,
      lastFailure: { at: new Date(now - 60_000).toISOString(), code: "230002", message: "bot not in chat" },
    });
  });

  test("pendingByUser: most waiting first, only users with something waiting", async () => {
    const a = (await users.upsert({ openId: "ou_a", name: "A" })).user;
    const b = (await users.upsert({ openId: "ou_b", name: "B" })).user;
    await users.upsert({ openId: "ou_c", name: "C" });
    for (const seq of [1, 2, 3]) await insertInbox(storage, { userId: a.id, seq });
    for (const seq of [1, 2, 3, 4]) await insertInbox(storage, { userId: b.id, seq });
    await setAckedSeq(storage, b.id, 2);
    expect(await stats.pendingByUser()).toEqual([
      { id: String(a.id), openId: "ou_a", name: "A", pending: 3 },
      { id: String(b.id), openId: "ou_b", name: "B", pending: 2 },
    ]);
  });

  test("revocation marks (kv): set by a revoke, cleared by the next issue", async () => {
    const marks = new Revocations(
      createKv(storage, () => now),
      () => now,
    );
    expect(await marks.revokedAt(7)).toBeUndefined();
    await marks.mark(7);
    expect(await marks.revokedAt(7)).toBe(new Date(now).toISOString());
    await marks.clear(7);
    expect(await marks.revokedAt(7)).toBeUndefined();
  });
});
