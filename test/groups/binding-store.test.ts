import { afterEach, describe, expect, test } from "bun:test";
import { BindingStore } from "../../src/groups/binding-store.ts";
import { NoticeMarks } from "../../src/groups/bot-membership.ts";
import { usersOf } from "../../src/users/user-store.ts";
import { testRelay } from "../helpers.ts";

let t: Awaited<ReturnType<typeof testRelay>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function setup() {
  const clock = { now: 1_000 };
  t = await testRelay({}, { now: () => clock.now });
  const ctx = t.relay.ctx;
  const users = usersOf(ctx);
  const alice = users.upsert({ openId: "ou_alice", name: "Alice" }).user;
  const bob = users.upsert({ openId: "ou_bob", name: "Bob" }).user;
  return { ctx, clock, store: new BindingStore(ctx.db, () => clock.now), alice, bob };
}

describe("group bindings", () => {
  test("bind, get, list with the owner, re-bind by an admin, unbind", async () => {
    const { store, alice, bob, clock, ctx } = await setup();
    expect(store.get("oc_team")).toBeUndefined();
    const first = store.bind({ chatId: "oc_team", ownerUserId: alice.id, boundBy: "admin" });
    expect(first).toEqual({
      chatId: "oc_team",
      ownerUserId: alice.id,
      requireMention: true,
      boundBy: "admin",
      createdAt: 1_000,
      updatedAt: 1_000,
    });
    clock.now = 2_000;
    const again = store.bind({
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
    ctx.db.$client.run("INSERT INTO chat_info (chat_id, name) VALUES ('oc_team', '产品周会')");
    expect(store.list()).toEqual([{ ...again, ownerOpenId: "ou_bob", ownerName: "Bob", name: "产品周会" }]);
    expect(store.unbind("oc_team", alice.id)).toBe(false);
    expect(store.unbind("oc_team", bob.id)).toBe(true);
    expect(store.unbind("oc_team")).toBe(false);
    expect(store.list()).toEqual([]);
  });

  test("bindIfUnbound: the first wins, the second learns who owns it", async () => {
    const { store, alice, bob } = await setup();
    const a = store.bindIfUnbound({ chatId: "oc_team", ownerUserId: alice.id, boundBy: "open_id:ou_alice" });
    const b = store.bindIfUnbound({ chatId: "oc_team", ownerUserId: bob.id, boundBy: "open_id:ou_bob" });
    expect(a).toMatchObject({ bound: true, binding: { ownerUserId: alice.id } });
    expect(b).toMatchObject({
      bound: false,
      binding: { ownerUserId: alice.id, boundBy: "open_id:ou_alice" },
    });
  });

  test("a deleted owner takes the binding with them", async () => {
    const { store, alice, ctx } = await setup();
    store.bind({ chatId: "oc_team", ownerUserId: alice.id, boundBy: "admin" });
    ctx.db.$client.run("DELETE FROM users WHERE id = ?", [alice.id]);
    expect(store.get("oc_team")).toBeUndefined();
  });
});

describe("bot-added notice marks", () => {
  test("one claim per chat; a released claim can be taken again; other columns untouched", async () => {
    const { ctx } = await setup();
    ctx.db.$client.run("INSERT INTO chat_info (chat_id, name, fetched_at) VALUES ('oc_named', 'Named', 5)");
    const marks = new NoticeMarks(ctx.db);
    expect(marks.claim("oc_new", 10)).toBe(true);
    expect(marks.claim("oc_new", 11)).toBe(false);
    expect(marks.claim("oc_named", 12)).toBe(true);
    marks.release("oc_named", 12);
    expect(marks.claim("oc_named", 13)).toBe(true);
    const rows = ctx.db.$client.query("SELECT * FROM chat_info ORDER BY chat_id").all();
    expect(rows).toEqual([
      { chat_id: "oc_named", name: "Named", chat_mode: null, fetched_at: 5, notice_at: 13 },
      { chat_id: "oc_new", name: null, chat_mode: null, fetched_at: null, notice_at: 10 },
    ]);
  });
});
