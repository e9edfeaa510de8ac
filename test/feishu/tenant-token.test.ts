import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SqliteKv } from "../../src/db/kv.ts";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { FeishuApiError } from "../../src/feishu/api-error.ts";
import { AUTH_RETRY_MS, REFRESH_AHEAD_MS, TOKEN_KV_KEY } from "../../src/feishu/tenant-token.ts";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { tempDir } from "../helpers.ts";
import { clientStack } from "./client-stack.ts";
import { VirtualTime } from "./virtual-time.ts";

const vt = new VirtualTime();
let fake: FakeFeishu;

beforeAll(async () => {
  // The fake and our manager read the same virtual clock, so expiry is seen alike on both sides.
  fake = await startFakeFeishu({ clock: vt.now });
});
afterAll(async () => {
  await fake.stop();
});
beforeEach(() => {
  fake.reset();
  fake.expireAllTokens();
});

const fetchCount = () => fake.tokenFetches;

describe("tenant token", () => {
  test("is fetched once and then served from memory", async () => {
    const { tokens, metrics } = clientStack(fake, { now: vt.now });
    const first = await tokens.get();
    expect(first).toStartWith("t-");
    expect(await tokens.get()).toBe(first);
    expect(fetchCount()).toBe(1);
    expect(metrics.counter("feishu_token_fetches_total", "").get({ outcome: "ok" })).toBe(1);
    expect(tokens.health()).toBe("ok");
  });

  test("1,000 concurrent first calls share exactly one fetch", async () => {
    const { tokens } = clientStack(fake, { now: vt.now });
    const all = await Promise.all(Array.from({ length: 1000 }, () => tokens.get()));
    expect(new Set(all).size).toBe(1);
    expect(fetchCount()).toBe(1);
  });

  test("an expired token is replaced before it is used", async () => {
    const { tokens } = clientStack(fake, { now: vt.now });
    const first = await tokens.get();
    vt.advance(7200 * 1000);
    const second = await tokens.get();
    expect(second).not.toBe(first);
    expect(fetchCount()).toBe(2);
    expect(fake.validTokens()).toContain(second);
  });

  test("is refreshed in the background shortly before expiry, without making callers wait", async () => {
    const { tokens } = clientStack(fake, { now: vt.now });
    const first = await tokens.get();
    vt.advance(7200 * 1000 - REFRESH_AHEAD_MS + 60_000); // 4 min left
    expect(await tokens.get()).toBe(first); // still valid: handed out at once
    // The refresh runs in the background; Feishu hands out a new token with < 30 min left.
    for (let i = 0; i < 100 && fetchCount() < 2; i++) await Bun.sleep(2);
    await Bun.sleep(5);
    const second = await tokens.get();
    expect(fetchCount()).toBe(2);
    expect(second).not.toBe(first);
    expect(await tokens.get()).toBe(second);
    expect(fetchCount()).toBe(2);
  });

  test("survives a restart through the database", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, "relay.db");
      const db1 = openDatabase(path);
      migrate(db1);
      const first = await clientStack(fake, { now: vt.now, kv: new SqliteKv(db1, vt.now) }).tokens.get();
      db1.$client.close();

      const db2 = openDatabase(path);
      migrate(db2);
      const kv = new SqliteKv(db2, vt.now);
      expect((await kv.getEntry(TOKEN_KV_KEY))?.expiresAt).toBeGreaterThan(vt.now());
      const { tokens } = clientStack(fake, { now: vt.now, kv });
      expect(await tokens.get()).toBe(first);
      expect(fetchCount()).toBe(1);

      // invalidate drops it from the database too, so the next start fetches anew.
      await tokens.invalidate(first);
      expect(await kv.getEntry(TOKEN_KV_KEY)).toBeUndefined();
      db2.$client.close();
    } finally {
      cleanup();
    }
  });

  test("a stored token of another app or already expired is ignored", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = openDatabase(join(dir, "relay.db"));
      migrate(db);
      const kv = new SqliteKv(db, vt.now);
      const later = vt.now() + 3_600_000;
      await kv.set(
        TOKEN_KV_KEY,
        JSON.stringify({ token: "t-other", expiresAt: later, appId: "cli_other", base: fake.url }),
        later,
      );
      const { tokens } = clientStack(fake, { now: vt.now, kv });
      expect(await tokens.get()).not.toBe("t-other");
      expect(fetchCount()).toBe(1);
      db.$client.close();
    } finally {
      cleanup();
    }
  });

  test("invalidate drops only the token that is still current", async () => {
    const { tokens } = clientStack(fake, { now: vt.now });
    const first = await tokens.get();
    tokens.invalidate("t-some-older-token");
    expect(await tokens.get()).toBe(first);
    expect(fetchCount()).toBe(1);
    tokens.invalidate(first);
    await tokens.get();
    expect(fetchCount()).toBe(2);
  });

  test("a wrong app secret is a permanent error, logged once, health failing, and no retry storm", async () => {
    const { tokens, lines } = clientStack(fake, { now: vt.now, appSecret: "wrong-secret" });
    const err = await tokens.get().catch((e) => e);
    expect(err).toBeInstanceOf(FeishuApiError);
    expect(err).toMatchObject({ kind: "auth", code: 10014, retryable: false });
    expect(tokens.health()).toBe("failing");
    const again = await Promise.allSettled(Array.from({ length: 50 }, () => tokens.get()));
    expect(again.every((r) => r.status === "rejected")).toBe(true);
    expect(fetchCount()).toBe(1);
    expect(lines.filter((l) => l.includes('"feishu_auth_failed"'))).toHaveLength(1);
    expect(lines.join("\n")).not.toContain("wrong-secret");

    vt.advance(AUTH_RETRY_MS);
    await tokens.get().catch(() => {});
    expect(fetchCount()).toBe(2);
    expect(lines.filter((l) => l.includes('"feishu_auth_failed"'))).toHaveLength(1);
  });

  test("a transient failure of the token endpoint backs off briefly, then recovers", async () => {
    const { tokens } = clientStack(fake, { now: vt.now });
    const tokenCalls = () =>
      fake.calls.filter((c) => c.path.endsWith("/tenant_access_token/internal")).length;
    fake.failNext(1, { kind: "server_error", status: 503 }, { scope: "all" });
    const err = await tokens.get().catch((e) => e);
    expect(err).toMatchObject({ kind: "api", code: 2200, status: 503, retryable: true });
    expect(tokens.health()).toBe("failing");
    await tokens.get().catch(() => {}); // within the back-off: no new request
    expect(tokenCalls()).toBe(1);
    vt.advance(1000);
    expect(await tokens.get()).toStartWith("t-");
    expect(tokenCalls()).toBe(2);
    expect(tokens.health()).toBe("ok");
  });
});
