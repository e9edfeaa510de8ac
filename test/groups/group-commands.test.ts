import { afterEach, describe, expect, test } from "bun:test";
import { createBindingStore } from "../../src/groups/binding-store.ts";
import { runGroupCommand } from "../../src/groups/group-commands.ts";
import { testRelay } from "../helpers.ts";

let t: Awaited<ReturnType<typeof testRelay>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function setup() {
  t = await testRelay();
  const ctx = t.relay.ctx;
  const users = ctx.users;
  const alice = (await users.upsert({ openId: "ou_alice", name: "Alice" })).user;
  const bob = (await users.upsert({ openId: "ou_bob", name: "Bob" })).user;
  const store = createBindingStore(ctx.storage, () => 1);
  const name = async (id: number) => (await users.byId(id))?.name ?? "?";
  const run = (command: "bind" | "unbind", who?: { id: number; name: string; openId: string }) =>
    runGroupCommand(store, name, command, {
      chatId: "oc_team",
      senderOpenId: who?.openId ?? "ou_stranger",
      ...(who ? { sender: who } : {}),
    });
  return { store, alice, bob, run };
}

describe("/bind and /unbind", () => {
  test("the first registered user binds; the others learn who owns it", async () => {
    const { store, alice, bob, run } = await setup();
    expect(await run("bind")).toEqual({ kind: "sign_in" });
    const bound = await run("bind", alice);
    expect(bound).toMatchObject({ kind: "reply", changed: true });
    expect(bound.kind === "reply" && bound.text).toStartWith(
      "已绑定：本群的 @ 消息将由 Alice 的智能体回答。",
    );
    expect(bound.kind === "reply" && bound.text).toContain(
      "Bound: @-mentions in this group will be answered by Alice's agent.",
    );
    expect(await store.get("oc_team")).toMatchObject({ ownerUserId: alice.id, boundBy: "open_id:ou_alice" });
    const taken = await run("bind", bob);
    expect(taken).toMatchObject({ kind: "reply", changed: false });
    expect(taken.kind === "reply" && taken.text).toContain("already bound to Alice's agent");
    expect(await run("bind", alice)).toMatchObject({ kind: "reply", changed: false });
  });

  test("only the owner unbinds; others (registered or not) are refused politely", async () => {
    const { store, alice, bob, run } = await setup();
    expect(await run("unbind", alice)).toMatchObject({
      changed: false,
      text: expect.stringContaining("not bound"),
    });
    await run("bind", alice);
    for (const who of [bob, undefined]) {
      const refused = await run("unbind", who);
      expect(refused).toMatchObject({ kind: "reply", changed: false });
      expect(refused.kind === "reply" && refused.text).toContain("Sorry, only Alice");
    }
    expect(await store.get("oc_team")).toBeDefined();
    expect(await run("unbind", alice)).toMatchObject({
      changed: true,
      text: expect.stringContaining("Unbound"),
    });
    expect(await store.get("oc_team")).toBeUndefined();
  });
});
