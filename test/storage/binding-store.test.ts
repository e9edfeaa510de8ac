import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import * as pg from "../../src/db/pg-schema.ts";
import * as lite from "../../src/db/schema.ts";
import { createChatInfoStore } from "../../src/feishu/chat-info-store.ts";
import { type BindingStore, createBindingStore } from "../../src/groups/binding-store.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { createUserStore, type UserRecord } from "../../src/users/user-store.ts";
import { eachDialect, freshStorage, postgresNodes, postgresReachable } from "./databases.ts";

async function chatInfoRows(storage: Storage) {
  const rows =
    storage.dialect === "sqlite"
      ? storage.db.select().from(lite.chatInfo).all()
      : await storage.db.select().from(pg.chatInfo);
  return rows.sort((a, b) => a.chatId.localeCompare(b.chatId));
}

async function deleteUser(storage: Storage, id: number) {
  if (storage.dialect === "sqlite") storage.db.delete(lite.users).where(eq(lite.users.id, id)).run();
  else await storage.db.delete(pg.users).where(eq(pg.users.id, id));
}

eachDialect("group bindings port", (dialect) => {
  let close: () => Promise<void>;
  let storage: Storage;
  let store: BindingStore;
  let alice: UserRecord;
  let bob: UserRecord;
  const clock = { now: 1_000 };
  beforeEach(async () => {
    clock.now = 1_000;
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    storage = fresh.storage;
    const users = createUserStore(storage, () => clock.now);
    alice = (await users.upsert({ openId: "ou_alice", name: "Alice" })).user;
    bob = (await users.upsert({ openId: "ou_bob", name: "Bob" })).user;
    store = createBindingStore(storage, () => clock.now);
  });
  afterEach(() => close());

  test("bind, get, list with the owner, re-bind by an admin, unbind", async () => {
    expect(await store.get("oc_team")).toBeUndefined();
    const first = await store.bind({ chatId: "oc_team", ownerUserId: alice.id, boundBy: "admin" });
    expect(first).toEqual({
      chatId: "oc_team",
      ownerUserId: alice.id,
      requireMention: true,
      boundBy: "admin",
      createdAt: 1_000,
      updatedAt: 1_000,
    });
    clock.now = 2_000;
    const again = await store.bind({
      chatId: "oc_team",
      ownerUserId: bob.id,
      requireMention: false,
      boundBy: "admin",
    });
    expect(again).toMatchObject({
      ownerUserId: bob.id,
      requireMention: false,
      createdAt: 1_000,
      updatedAt: 2_000,
    });
    await createChatInfoStore(storage).put("oc_team", { name: "产品周会", chatMode: "group", fetchedAt: 5 });
    const shown = { ...again, ownerOpenId: "ou_bob", ownerName: "Bob", name: "产品周会" };
    expect(await store.list()).toEqual([shown]);
    expect(await store.view("oc_team")).toEqual(shown);
    expect(await store.view("oc_none")).toBeUndefined();
    expect(await store.unbind("oc_team", alice.id)).toBe(false);
    expect(await store.unbind("oc_team", bob.id)).toBe(true);
    expect(await store.unbind("oc_team")).toBe(false);
    expect(await store.list()).toEqual([]);
  });

  test("bindIfUnbound: the first wins, the second learns who owns it", async () => {
    const a = await store.bindIfUnbound({
      chatId: "oc_team",
      ownerUserId: alice.id,
      boundBy: "open_id:ou_alice",
    });
    const b = await store.bindIfUnbound({
      chatId: "oc_team",
      ownerUserId: bob.id,
      boundBy: "open_id:ou_bob",
    });
    expect(a).toMatchObject({ bound: true, binding: { ownerUserId: alice.id } });
    expect(b).toMatchObject({
      bound: false,
      binding: { ownerUserId: alice.id, boundBy: "open_id:ou_alice" },
    });
  });

  test("concurrent /bind: exactly one owner, every other caller is told who", async () => {
    const results = await Promise.all(
      [alice, bob, alice, bob].map((u) =>
        store.bindIfUnbound({ chatId: "oc_race", ownerUserId: u.id, boundBy: `open_id:${u.openId}` }),
      ),
    );
    expect(results.filter((r) => r.bound)).toHaveLength(1);
    const owner = results.find((r) => r.bound)!.binding.ownerUserId;
    expect(results.every((r) => r.binding.ownerUserId === owner)).toBe(true);
    expect((await store.get("oc_race"))?.ownerUserId).toBe(owner);
  });

  test("a deleted owner takes the binding with them", async () => {
    await store.bind({ chatId: "oc_team", ownerUserId: alice.id, boundBy: "admin" });
    await deleteUser(storage, alice.id);
    expect(await store.get("oc_team")).toBeUndefined();
  });
});

eachDialect("chat info port", (dialect) => {
  let close: () => Promise<void>;
  let storage: Storage;
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    storage = fresh.storage;
  });
  afterEach(() => close());

  test("facts are stored and read back; the notice mark is left alone", async () => {
    const chats = createChatInfoStore(storage);
    expect(await chats.get("oc_1")).toBeUndefined();
    expect(await chats.claimNotice("oc_1", 7)).toBe(true);
    expect(await chats.get("oc_1")).toEqual({ name: null, fetchedAt: null });
    await chats.put("oc_1", { name: "周会", chatMode: "group", fetchedAt: 10 });
    await chats.put("oc_1", { name: "周会 2", chatMode: "group", fetchedAt: 20 });
    expect(await chats.get("oc_1")).toEqual({ name: "周会 2", fetchedAt: 20 });
    expect(await chatInfoRows(storage)).toEqual([
      { chatId: "oc_1", name: "周会 2", chatMode: "group", fetchedAt: 20, noticeAt: 7 },
    ]);
  });

  test("bot-added notice: one claim per chat; a released claim can be taken again; other columns untouched", async () => {
    const chats = createChatInfoStore(storage);
    await chats.put("oc_named", { name: "Named", chatMode: null, fetchedAt: 5 });
    expect(await chats.claimNotice("oc_new", 10)).toBe(true);
    expect(await chats.claimNotice("oc_new", 11)).toBe(false);
    expect(await chats.claimNotice("oc_named", 12)).toBe(true);
    await chats.releaseNotice("oc_named", 99); // not this claim: kept
    expect(await chats.claimNotice("oc_named", 13)).toBe(false);
    await chats.releaseNotice("oc_named", 12);
    expect(await chats.claimNotice("oc_named", 13)).toBe(true);
    expect(await chatInfoRows(storage)).toEqual([
      { chatId: "oc_named", name: "Named", chatMode: null, fetchedAt: 5, noticeAt: 13 },
      { chatId: "oc_new", name: null, chatMode: null, fetchedAt: null, noticeAt: 10 },
    ]);
  });

  test("racing claims of one chat: exactly one wins", async () => {
    const chats = createChatInfoStore(storage);
    const wins = await Promise.all(
      Array.from({ length: 5 }, (_, i) => chats.claimNotice("oc_race", 100 + i)),
    );
    expect(wins.filter(Boolean)).toHaveLength(1);
  });
});

describe("group bindings and notice marks [postgres, two nodes]", () => {
  test("/bind racing on two nodes has one owner; the notice is claimed once", async () => {
    if (!(await postgresReachable())) return;
    const { storages: nodes, close } = await postgresNodes(2);
    try {
      const users = createUserStore(nodes[0]!);
      const ids: number[] = [];
      for (const openId of ["ou_a", "ou_b", "ou_c", "ou_d"])
        ids.push((await users.upsert({ openId })).user.id);
      const stores = nodes.map((s) => createBindingStore(s));
      const results = await Promise.all(
        ids.map((id, i) => stores[i % 2]!.bindIfUnbound({ chatId: "oc_two", ownerUserId: id, boundBy: "x" })),
      );
      expect(results.filter((r) => r.bound)).toHaveLength(1);
      const marks = nodes.map((s) => createChatInfoStore(s));
      const wins = await Promise.all(ids.map((_, i) => marks[i % 2]!.claimNotice("oc_two", i + 1)));
      expect(wins.filter(Boolean)).toHaveLength(1);
    } finally {
      await close();
    }
  });
});
