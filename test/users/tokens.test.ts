import { afterEach, describe, expect, test } from "bun:test";
import { databaseText } from "../storage/sql.ts";
import { type TestRelay, testRelay } from "./helpers.ts";

let relay: TestRelay;
afterEach(() => relay?.cleanup());

describe("TokenService", () => {
  test("issues an HS256 JWT with sub, oid, ver, jti, iat, exp and verifies it", async () => {
    relay = await testRelay({ JWT_EXPIRES_IN: "1h" });
    const { user } = await relay.ctx.users.upsert({ openId: "ou_alice", name: "Alice" });
    const issued = await relay.ctx.tokens.issue(user);
    const [header, payload] = issued.token
      .split(".")
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
    expect(header).toEqual({ alg: "HS256", typ: "JWT" });
    expect(payload).toMatchObject({ sub: String(user.id), oid: "ou_alice", ver: 1 });
    expect(payload.exp - payload.iat).toBe(3600);
    expect(typeof payload.jti).toBe("string");
    expect(issued.expiresAt).toBe(payload.exp * 1000);

    const verified = await relay.ctx.tokens.verify(issued.token);
    expect(verified?.user.id).toBe(user.id);
    expect(verified?.claims.oid).toBe("ou_alice");
    expect(verified?.expiresAt).toBe(issued.expiresAt);
  });

  test("rejects an expired token (injected clock), a tampered one and garbage", async () => {
    relay = await testRelay({ JWT_EXPIRES_IN: "60s" });
    const { user } = await relay.ctx.users.upsert({ openId: "ou_bob" });
    const tokens = relay.ctx.tokens;
    const { token } = await tokens.issue(user);
    relay.clock.t += 59_000;
    expect(await tokens.verify(token)).not.toBeNull();
    relay.clock.t += 1_000;
    expect(await tokens.verify(token)).toBeNull();

    const fresh = (await tokens.issue(user)).token;
    const [h, p, s] = fresh.split(".");
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p!, "base64url").toString()), sub: "999" }),
    ).toString("base64url");
    expect(await tokens.verify(`${h}.${forged}.${s}`)).toBeNull();
    expect(await tokens.verify("not-a-jwt")).toBeNull();
    expect(await tokens.verify("")).toBeNull();
  });

  test("rejects a correctly signed token whose open_id is not the user's", async () => {
    relay = await testRelay();
    const { user } = await relay.ctx.users.upsert({ openId: "ou_erin" });
    const tokens = relay.ctx.tokens;
    // Same sub and ver, signed with our secret, but for another Feishu identity.
    const { token } = await tokens.issue({ ...user, openId: "ou_mallory" });
    expect(await tokens.verify(token)).toBeNull();
    expect((await tokens.verify((await tokens.issue(user)).token))?.user.id).toBe(user.id);
  });

  test("rejects a token signed with another secret and an alg=none token", async () => {
    relay = await testRelay({ JWT_SECRET: "a".repeat(40) });
    const { user } = await relay.ctx.users.upsert({ openId: "ou_carol" });
    const other = await testRelay({ JWT_SECRET: "b".repeat(40) });
    try {
      await other.ctx.users.upsert({ openId: "ou_carol" });
      const foreign = (await other.ctx.tokens.issue(user)).token;
      expect(await relay.ctx.tokens.verify(foreign)).toBeNull();
    } finally {
      await other.cleanup();
    }
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(relay.clock.t / 1000);
    const none = `${enc({ alg: "none", typ: "JWT" })}.${enc({ sub: String(user.id), oid: "ou_carol", ver: 1, jti: "x", iat: now, exp: now + 60 })}.`;
    expect(await relay.ctx.tokens.verify(none)).toBeNull();
  });

  test("revoke bumps the version: old tokens fail, the socket is closed with 4001, new tokens work", async () => {
    relay = await testRelay();
    const users = relay.ctx.users;
    const tokens = relay.ctx.tokens;
    const { user } = await users.upsert({ openId: "ou_dave" });
    const old = (await tokens.issue(user)).token;
    const plugin = await relay.plugin(old);
    expect(relay.ctx.hub.isConnected(user.id)).toBe(true);
    expect(await tokens.revoke(user.id)).toBe(true);
    expect(await plugin.closed).toEqual({ code: 4001, reason: "revoked" });
    expect(relay.ctx.hub.isConnected(user.id)).toBe(false);
    expect(await tokens.verify(old)).toBeNull();
    const renewed = (await tokens.issue((await users.byId(user.id))!)).token;
    expect((await tokens.verify(renewed))?.claims.ver).toBe(2);
    expect(await tokens.revoke(12345)).toBe(false);
  });

  test("the database never contains an issued JWT and logs never contain it", async () => {
    relay = await testRelay();
    const { user } = await relay.ctx.users.upsert({ openId: "ou_erin" });
    const { token } = await relay.ctx.tokens.issue(user);
    await relay.ctx.tokens.verify(token);
    const stored = await databaseText(relay.ctx.storage);
    expect(stored).toContain("ou_erin");
    expect(stored.includes(token)).toBe(false);
    expect(stored.includes(token.split(".")[2]!)).toBe(false);
    expect(relay.lines.join("\n").includes(token)).toBe(false);
  });
});
