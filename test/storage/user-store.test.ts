import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Storage } from "../../src/storage/storage.ts";
import { createUserStore, type UserStore } from "../../src/users/user-store.ts";
import { eachDialect, freshStorage, postgresNodes, postgresReachable } from "./databases.ts";
import { insertInbox, setAckedSeq } from "./rows.ts";

eachDialect("users port", (dialect) => {
  let close: () => Promise<void>;
  let storage: Storage;
  let users: UserStore;
  const clock = { t: 1_700_000_000_000 };
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    storage = fresh.storage;
    users = createUserStore(storage, () => clock.t);
  });
  afterEach(() => close());

  test("upsert creates once, then merges only what is newly known", async () => {
    const first = await users.upsert({ openId: "ou_a", name: " Alice ", unionId: "on_a" });
    expect(first.created).toBe(true);
    expect(first.user).toMatchObject({ openId: "ou_a", name: "Alice", unionId: "on_a", tokenVersion: 1 });
    expect(first.user.createdAt).toBe(clock.t);
    clock.t += 10;
    const second = await users.upsert({ openId: "ou_a", name: "", avatarUrl: "https://a/x.png" });
    expect(second.created).toBe(false);
    expect(second.user).toMatchObject({
      id: first.user.id,
      name: "Alice",
      unionId: "on_a",
      avatarUrl: "https://a/x.png",
      updatedAt: clock.t,
      createdAt: first.user.createdAt,
    });
    expect((await users.upsert({ openId: "ou_a", name: "Al" })).user.name).toBe("Al");
  });

  test("updating a known user burns no id: the next new user gets the next one", async () => {
    const a = (await users.upsert({ openId: "ou_a" })).user;
    for (let i = 0; i < 3; i++) await users.upsert({ openId: "ou_a", name: `A${i}` });
    const b = (await users.upsert({ openId: "ou_b" })).user;
    expect(b.id).toBe(a.id + 1);
  });

  test("two concurrent upserts of one open_id leave one row, one of them created", async () => {
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => users.upsert({ openId: "ou_race", name: `n${i}` })),
    );
    expect(new Set(results.map((r) => r.user.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await users.list(() => false)).toHaveLength(1);
  });

  test("byId, byOpenId, find and identity", async () => {
    const { user } = await users.upsert({ openId: "ou_b", name: "Bob" });
    expect((await users.byId(user.id))?.openId).toBe("ou_b");
    expect((await users.byOpenId("ou_b"))?.id).toBe(user.id);
    expect((await users.find(String(user.id)))?.id).toBe(user.id);
    expect((await users.find("ou_b"))?.id).toBe(user.id);
    expect(await users.find("ou_nobody")).toBeUndefined();
    expect(await users.byId(999)).toBeUndefined();
    expect(await users.identity("ou_b")).toMatchObject({ id: user.id, name: "Bob" });
    expect(await users.identity("ou_nobody")).toBeUndefined();
    // A rename through this store is seen at once (the cached identity is dropped).
    await users.upsert({ openId: "ou_b", name: "Robert" });
    expect((await users.identity("ou_b"))?.name).toBe("Robert");
  });

  test("list and pendingCount count inbox rows past the cumulative ack", async () => {
    const a = (await users.upsert({ openId: "ou_a", name: "A" })).user;
    const b = (await users.upsert({ openId: "ou_b", name: "B" })).user;
    for (const seq of [1, 2, 3]) await insertInbox(storage, { userId: a.id, seq });
    await setAckedSeq(storage, a.id, 1);
    expect(await users.pendingCount(a.id)).toBe(2);
    expect(await users.pendingCount(b.id)).toBe(0);
    await users.touch(a.id, Date.UTC(2026, 0, 1));
    const listed = await users.list((id) => id === b.id);
    expect(listed).toEqual([
      {
        id: String(a.id),
        openId: "ou_a",
        name: "A",
        connected: false,
        pending: 2,
        lastSeenAt: "2026-01-01T00:00:00.000Z",
      },
      { id: String(b.id), openId: "ou_b", name: "B", connected: true, pending: 0, lastSeenAt: null },
    ]);
  });

  test("token versions, LLM provider and sealed Feishu tokens", async () => {
    const { user } = await users.upsert({ openId: "ou_c" });
    expect(await users.bumpTokenVersion(user.id)).toBe(2);
    expect(await users.bumpTokenVersion(12345)).toBeUndefined();
    expect(await users.tokenVersions()).toEqual([{ id: user.id, ver: 2 }]);
    expect(await users.setLlmProvider(user.id, "alpha")).toBe(true);
    expect(await users.setLlmProvider(12345, "alpha")).toBe(false);
    expect((await users.byId(user.id))?.llmProvider).toBe("alpha");
    expect(await users.feishuTokensEnc(user.id)).toBeNull();
    expect(await users.setFeishuTokensEnc(user.id, "sealed")).toBe(true);
    expect(await users.feishuTokensEnc(user.id)).toBe("sealed");
    expect(await users.setFeishuTokensEnc(12345, "sealed")).toBe(false);
  });
});

describe("users port [postgres, two nodes]", () => {
  test("upserts of one open_id from two processes' pools make one row", async () => {
    if (!(await postgresReachable())) return;
    const { storages: nodes, close } = await postgresNodes(2);
    try {
      const [a, b] = nodes.map((s) => createUserStore(s));
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? a! : b!).upsert({ openId: "ou_two", name: `n${i}` })),
      );
      expect(new Set(results.map((r) => r.user.id)).size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(1);
    } finally {
      await close();
    }
  });
});
