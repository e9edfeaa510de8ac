import { afterEach, describe, expect, test } from "bun:test";
import { insertInbox, setSeqs } from "../storage/rows.ts";
import { json, req, type TestRelay, testRelay } from "./helpers.ts";

let relay: TestRelay;
afterEach(() => relay?.cleanup());

async function userWithToken(r: TestRelay, openId = "ou_alice", name = "Alice") {
  const { user } = await r.ctx.users.upsert({ openId, name, unionId: "on_alice" });
  return { user, token: (await r.ctx.tokens.issue(user)).token };
}

describe("POST /api/auth/verify", () => {
  test("accepts the token in the body or as Bearer and answers the user JSON shape", async () => {
    relay = await testRelay({ JWT_EXPIRES_IN: "2h" });
    const { user, token } = await userWithToken(relay);
    const expected = {
      valid: true,
      user: { id: String(user.id), openId: "ou_alice", name: "Alice", unionId: "on_alice" },
      expiresAt: new Date(relay.clock.t + 2 * 3600_000).toISOString(),
    };
    const byBody = await relay.app.handle(req("/api/auth/verify", { body: { token } }));
    expect(byBody.status).toBe(200);
    expect(await json(byBody)).toEqual(expected);
    const byBearer = await relay.app.handle(req("/api/auth/verify", { method: "POST", token }));
    expect(await json(byBearer)).toEqual(expected);
  });

  test("answers 401 unauthorized for no, bad, expired and revoked tokens", async () => {
    relay = await testRelay({ JWT_EXPIRES_IN: "60s" });
    const { user, token } = await userWithToken(relay);
    const verify = (t?: string) =>
      relay.app.handle(req("/api/auth/verify", { body: t === undefined ? {} : { token: t } }));
    const none = await verify();
    expect(none.status).toBe(401);
    expect(await json(none)).toEqual({
      error: { code: "unauthorized", message: "missing, invalid, expired or revoked token" },
    });
    expect((await verify("garbage")).status).toBe(401);
    relay.clock.t += 61_000;
    expect((await verify(token)).status).toBe(401);
    const fresh = (await relay.ctx.tokens.issue(user)).token;
    expect((await verify(fresh)).status).toBe(200);
    await relay.ctx.tokens.revoke(user.id);
    expect((await verify(fresh)).status).toBe(401);
  });

  test("ignores unknown body fields and rejects a token that is not a string", async () => {
    relay = await testRelay();
    const { token } = await userWithToken(relay);
    expect((await relay.app.handle(req("/api/auth/verify", { body: { token, extra: 1 } }))).status).toBe(200);
    const bad = await relay.app.handle(req("/api/auth/verify", { body: { token: 42 } }));
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe("invalid_request");
  });
});

describe("POST /api/auth/refresh", () => {
  test("issues a new token; the old one keeps working until it expires", async () => {
    relay = await testRelay({ JWT_EXPIRES_IN: "1h" });
    const { user, token } = await userWithToken(relay);
    relay.clock.t += 30 * 60_000;
    const res = await relay.app.handle(req("/api/auth/refresh", { method: "POST", token }));
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.user.id).toBe(String(user.id));
    expect(body.token).not.toBe(token);
    expect(body.expiresAt).toBe(new Date(relay.clock.t + 3600_000).toISOString());
    expect((await relay.ctx.tokens.verify(token))?.user.id).toBe(user.id);
    relay.clock.t += 31 * 60_000;
    expect(await relay.ctx.tokens.verify(token)).toBeNull();
    expect(await relay.ctx.tokens.verify(body.token)).not.toBeNull();
  });

  test("needs a Bearer token", async () => {
    relay = await testRelay();
    expect((await relay.app.handle(req("/api/auth/refresh", { method: "POST" }))).status).toBe(401);
  });
});

describe("GET /api/me", () => {
  test("shows the user, connection, pending inbox count and last seen time", async () => {
    relay = await testRelay();
    const { user, token } = await userWithToken(relay);
    const { storage } = relay.ctx;
    for (const seq of [1, 2, 3]) await insertInbox(storage, { userId: user.id, seq });
    await setSeqs(storage, user.id, { lastSeq: 3, ackedSeq: 1 });
    // Connected (which marks it seen now), then a last-seen time of our choosing.
    await relay.plugin(token);
    await relay.ctx.users.touch(user.id, Date.UTC(2026, 0, 1));

    const res = await relay.app.handle(req("/api/me", { token }));
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      user: { id: String(user.id), openId: "ou_alice", name: "Alice", unionId: "on_alice" },
      connected: true,
      pending: 2,
      lastSeenAt: "2026-01-01T00:00:00.000Z",
    });
    expect((await relay.app.handle(req("/api/me", { token: "bad" }))).status).toBe(401);
  });
});

describe("failed token checks are rate limited per client", () => {
  test("the 21st failure within a minute gets 429 with Retry-After; a good token from there still passes", async () => {
    relay = await testRelay();
    const { token } = await userWithToken(relay);
    for (let i = 0; i < 20; i++) {
      const path = ["/api/me", "/api/config", "/api/auth/refresh"][i % 3]!;
      const res = await relay.app.handle(
        req(path, { method: path === "/api/auth/refresh" ? "POST" : "GET", token: "bad" }),
      );
      expect(res.status).toBe(401);
    }
    const limited = await relay.app.handle(req("/api/me", { token: "still-bad" }));
    expect(limited.status).toBe(429);
    expect((await json(limited)).error.code).toBe("rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // Users behind the same NAT or proxy are not starved by someone else's failures.
    expect((await relay.app.handle(req("/api/me", { token }))).status).toBe(200);
    relay.clock.t += 61_000;
    expect((await relay.app.handle(req("/api/me", { token: "still-bad" }))).status).toBe(401);
  });

  test("successful checks do not count", async () => {
    relay = await testRelay();
    const { token } = await userWithToken(relay);
    for (let i = 0; i < 30; i++) expect((await relay.app.handle(req("/api/me", { token }))).status).toBe(200);
  });
});
