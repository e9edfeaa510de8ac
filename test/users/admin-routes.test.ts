import { afterEach, describe, expect, test } from "bun:test";
import { ADMIN, json, req, type TestRelay, testRelay } from "./helpers.ts";

let relay: TestRelay;
afterEach(() => relay?.cleanup());

const PROVIDERS = JSON.stringify({
  alpha: { baseUrl: "https://alpha.example/v1", apiKey: "sk-alpha", model: "a-1" },
  beta: { baseUrl: "https://beta.example/v1", apiKey: "sk-beta", model: "b-1", api: "openai-completions" },
});

describe("admin API", () => {
  test("does not exist without ADMIN_TOKEN: 404 exactly like an unknown route", async () => {
    relay = await testRelay();
    const unknown = await relay.app.handle(req("/api/nothing-here"));
    for (const [path, method] of [
      ["/api/admin/users", "GET"],
      ["/api/admin/users", "POST"],
      ["/api/admin/users/1/revoke", "POST"],
    ] as const) {
      const res = await relay.app.handle(req(path, { method, token: ADMIN }));
      expect(res.status).toBe(404);
      expect(await json(res)).toEqual(await json(unknown.clone()));
    }
  });

  test("answers 401 for a missing or wrong admin token, and 429 after 20 failures", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    expect((await relay.app.handle(req("/api/admin/users"))).status).toBe(401);
    const wrong = await relay.app.handle(req("/api/admin/users", { token: `${ADMIN}x` }));
    expect(wrong.status).toBe(401);
    expect((await json(wrong)).error.code).toBe("unauthorized");
    for (let i = 0; i < 18; i++) await relay.app.handle(req("/api/admin/users", { token: "wrong" }));
    const limited = await relay.app.handle(req("/api/admin/users", { token: ADMIN }));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBeTruthy();
    expect(relay.lines.join("\n")).not.toContain(ADMIN);
  });

  test("creates a user with a token, returns the same user again with a fresh token, and lists users", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    const first = await relay.app.handle(
      req("/api/admin/users", { token: ADMIN, body: { openId: "ou_ann", name: "Ann" } }),
    );
    expect(first.status).toBe(201);
    const a = await json(first);
    expect(a.user).toEqual({ id: "1", openId: "ou_ann", name: "Ann" });
    expect((await relay.ctx.tokens.verify(a.token))?.user.openId).toBe("ou_ann");

    const again = await relay.app.handle(
      req("/api/admin/users", { token: ADMIN, body: { openId: "ou_ann" } }),
    );
    expect(again.status).toBe(200);
    const b = await json(again);
    expect(b.user).toEqual(a.user);
    expect(b.token).not.toBe(a.token);

    await relay.app.handle(req("/api/admin/users", { token: ADMIN, body: { openId: "ou_bo" } }));
    await relay.plugin(b.token);
    const list = await json(await relay.app.handle(req("/api/admin/users", { token: ADMIN })));
    const more = {
      pending: 0,
      revoked: false,
      revocations: 0,
      llmProvider: null,
      createdAt: "2026-01-15T09:00:00.000Z",
    };
    expect(list).toEqual({
      users: [
        // The plugin's connection is "seen" at the relay's clock.
        {
          id: "1",
          openId: "ou_ann",
          name: "Ann",
          connected: true,
          lastSeenAt: "2026-01-15T09:00:00.000Z",
          ...more,
        },
        { id: "2", openId: "ou_bo", name: "", connected: false, lastSeenAt: null, ...more },
      ],
      llmProviders: [],
    });
  });

  test("rejects a malformed open_id", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    const res = await relay.app.handle(
      req("/api/admin/users", { token: ADMIN, body: { openId: "<script>" } }),
    );
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe("invalid_request");
  });

  test("revoke invalidates every token of the user and closes their socket with 4001", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    const { user } = await relay.ctx.users.upsert({ openId: "ou_cy", name: "Cy" });
    const t1 = (await relay.ctx.tokens.issue(user)).token;
    const t2 = (await relay.ctx.tokens.issue(user)).token;
    const plugin = await relay.plugin(t2);
    const res = await relay.app.handle(
      req(`/api/admin/users/${user.id}/revoke`, { method: "POST", token: ADMIN }),
    );
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      revoked: true,
      user: { id: String(user.id), openId: "ou_cy", name: "Cy" },
    });
    expect(await plugin.closed).toEqual({ code: 4001, reason: "revoked" });
    for (const t of [t1, t2]) expect((await relay.app.handle(req("/api/me", { token: t }))).status).toBe(401);
    // By open_id too; unknown users are 404.
    expect(
      (await relay.app.handle(req("/api/admin/users/ou_cy/revoke", { method: "POST", token: ADMIN }))).status,
    ).toBe(200);
    const missing = await relay.app.handle(
      req("/api/admin/users/999/revoke", { method: "POST", token: ADMIN }),
    );
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe("user_not_found");
  });

  test("assigns an LLM provider per user and validates the name", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN, LLM_PROVIDERS: PROVIDERS });
    const { user } = await relay.ctx.users.upsert({ openId: "ou_di" });
    const token = (await relay.ctx.tokens.issue(user)).token;
    const put = (provider: string | null) =>
      relay.app.handle(
        req(`/api/admin/users/${user.id}/llm`, { method: "PUT", token: ADMIN, body: { provider } }),
      );
    expect((await json(await relay.app.handle(req("/api/config", { token })))).provider).toBe("alpha");
    const ok = await put("beta");
    expect(ok.status).toBe(200);
    expect((await json(ok)).provider).toBe("beta");
    expect((await json(await relay.app.handle(req("/api/config", { token })))).provider).toBe("beta");
    const bad = await put("gamma");
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe("unknown_provider");
    await put(null);
    expect((await json(await relay.app.handle(req("/api/config", { token })))).provider).toBe("alpha");
  });
});
