/**
 * Bodies whose objects cannot be turned into a string (`{"toString":1}`) made Elysia's own validation
 * message throw, and the route answered 500; every route with a body schema must answer 400.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { request, testRelay } from "../helpers.ts";

const ADMIN = "admin-token-for-body-schema-tests";
let t: Awaited<ReturnType<typeof testRelay>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const post = (path: string, body: string, token: string, method = "POST") =>
  request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body,
  });

describe("a body that does not match its schema and cannot be stringified", () => {
  test("gets 400 invalid_request on every route with a body schema, never 500", async () => {
    t = await testRelay({ ADMIN_TOKEN: ADMIN });
    const { ctx, app } = t.relay;
    const { user } = await ctx.users.upsert({ openId: "ou_body", name: "Body" });
    const { token } = await ctx.tokens.issue(user);
    const cases = [
      post("/api/messages", '{"to":{"toString":1},"text":"x"}', token),
      post("/api/messages", '{"text":{"valueOf":1,"toString":1}}', token),
      post("/api/auth/verify", '{"token":{"toString":1}}', token),
      post("/api/admin/users", '{"openId":{"toString":1}}', ADMIN),
      post(`/api/admin/users/${user.id}/llm`, '{"provider":{"toString":{"toString":1}}}', ADMIN, "PUT"),
    ];
    for (const req of cases) {
      const res = await app.handle(req);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect([new URL(req.url).pathname, res.status, body.error.code]).toEqual([
        new URL(req.url).pathname,
        400,
        "invalid_request",
      ]);
      expect(body.error.message).toMatch(/^\/\w+: /);
    }
  });

  test("unknown properties are still dropped rather than refused, as Elysia does", async () => {
    t = await testRelay();
    const { ctx, app } = t.relay;
    const { user } = await ctx.users.upsert({ openId: "ou_body", name: "Body" });
    const { token } = await ctx.tokens.issue(user);
    const res = await app.handle(
      post("/api/auth/verify", JSON.stringify({ token, extra: { toString: 1 } }), token),
    );
    expect(res.status).toBe(200);
  });
});
