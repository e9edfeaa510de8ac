import { afterEach, describe, expect, test } from "bun:test";
import { sqlRun } from "../storage/sql.ts";
import { ADMIN, json, req, type TestRelay, testRelay } from "../users/helpers.ts";

let relay: TestRelay;
afterEach(() => relay?.cleanup());

async function setup(raw = { ADMIN_TOKEN: ADMIN }) {
  relay = await testRelay(raw);
  const alice = (await relay.ctx.users.upsert({ openId: "ou_alice", name: "Alice" })).user;
  return { alice };
}

const put = (chatId: string, body: unknown, token = ADMIN) =>
  relay.app.handle(req(`/api/admin/chats/${chatId}`, { method: "PUT", token, body }));

describe("admin API: group bindings", () => {
  test("does not exist without ADMIN_TOKEN, and wants the admin token", async () => {
    await setup({} as { ADMIN_TOKEN: string });
    expect((await relay.app.handle(req("/api/admin/chats", { token: ADMIN }))).status).toBe(404);
    await relay.cleanup();
    await setup();
    expect((await relay.app.handle(req("/api/admin/chats"))).status).toBe(401);
    expect((await put("oc_team", { ownerUserId: 1 }, "wrong")).status).toBe(401);
    expect(relay.lines.join("\n")).not.toContain(ADMIN);
  });

  test("PUT binds (requireMention defaults to true), GET lists with the owner and the cached name", async () => {
    const { alice } = await setup();
    const res = await put("oc_team", { ownerUserId: alice.id });
    expect(res.status).toBe(200);
    const at = new Date(relay.clock.t).toISOString();
    const bound = {
      chatId: "oc_team",
      ownerUserId: alice.id,
      ownerOpenId: "ou_alice",
      ownerName: "Alice",
      requireMention: true,
      boundBy: "admin",
      createdAt: at,
      updatedAt: at,
    };
    expect(await json(res)).toEqual(bound);
    await sqlRun(relay.ctx.storage, "INSERT INTO chat_info (chat_id, name) VALUES ('oc_team', '产品周会')");
    const every = await put("oc_team", { ownerUserId: alice.id, requireMention: false });
    expect(await json(every)).toEqual({ ...bound, requireMention: false, name: "产品周会" });
    const list = await relay.app.handle(req("/api/admin/chats", { token: ADMIN }));
    expect(await json(list)).toEqual({ chats: [{ ...bound, requireMention: false, name: "产品周会" }] });
  });

  test("PUT refuses an unknown user (404), a chat id that is not oc_… and a bad body (400)", async () => {
    await setup();
    const unknown = await put("oc_team", { ownerUserId: 99 });
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).error.code).toBe("user_not_found");
    const badChat = await put("ou_alice", { ownerUserId: 1 });
    expect(badChat.status).toBe(400);
    expect((await json(badChat)).error.code).toBe("bad_request");
    for (const body of [
      {},
      { ownerUserId: "alice" },
      { ownerUserId: 1.5 },
      { ownerUserId: 1, requireMention: "no" },
    ]) {
      const res = await put("oc_team", body);
      expect(res.status).toBe(400);
      expect((await json(res)).error.code).toBe("invalid_request");
    }
    expect(await relay.ctx.bindings.list()).toEqual([]);
  });

  test("DELETE unbinds (204), then 404 not_found", async () => {
    const { alice } = await setup();
    await put("oc_team", { ownerUserId: alice.id });
    const del = () => relay.app.handle(req("/api/admin/chats/oc_team", { method: "DELETE", token: ADMIN }));
    const first = await del();
    expect(first.status).toBe(204);
    const again = await del();
    expect(again.status).toBe(404);
    expect((await json(again)).error.code).toBe("not_found");
  });

  test("the routes are in the OpenAPI document", async () => {
    await setup();
    const doc = await json(await relay.app.handle(req("/swagger/json")));
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/admin/chats", "/api/admin/chats/{chatId}"]),
    );
    expect(doc.paths["/api/admin/chats/{chatId}"].put).toBeDefined();
    expect(doc.paths["/api/admin/chats/{chatId}"].delete).toBeDefined();
  });
});
