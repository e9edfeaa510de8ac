/**
 * Another process holds the database's write lock past busy_timeout: sends fail with a retryable
 * `unavailable` (frame or 503) and the relay keeps running.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { RELAY_TEST_DIALECT } from "../storage/databases.ts";
import { holdWriteLock } from "./db-lock.ts";
import { gatewayRelay } from "./gateway-fixtures.ts";
import { connect, isType } from "./ws-client.ts";

// SQLite's file lock held by another process; PostgreSQL has no such state (its errors are mapped in
// test/relay/send-failure.test.ts).
const sqlite = RELAY_TEST_DIALECT === "sqlite";
const r = await gatewayRelay();
afterAll(() => r.close());
// Fail fast instead of waiting the production 5 s for the lock.
if (r.ctx.storage.dialect === "sqlite") r.ctx.storage.db.$client.exec("PRAGMA busy_timeout = 50");

describe.skipIf(!sqlite)("the database write-locked by another process", () => {
  test("a send frame, a legacy llm_request and POST /api/messages answer unavailable, retryable", async () => {
    const { user, token } = await r.user("ou_locked");
    const legacyUser = await r.user("ou_locked_legacy");
    await r.store(legacyUser.user.id);
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    const legacy = connect(r.url);
    legacy.send({ type: "auth", token: legacyUser.token });
    await legacy.next(isType("auth_success"));
    await legacy.next(isType("feishu_message"));

    const lock = await holdWriteLock(join(r.dir, "relay.db"));
    try {
      c.send({ type: "send", id: "s1", text: "hi" });
      expect(await c.next((f) => f.id === "s1")).toMatchObject({
        type: "error",
        code: "unavailable",
        retryable: true,
      });

      legacy.send({ type: "llm_request", content: "hi" });
      expect(await legacy.next(isType("error"))).toMatchObject({ code: "unavailable", retryable: true });

      const res = await fetch(`${r.http}/api/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ text: "from cron" }),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unavailable");
    } finally {
      await lock.release();
    }
    // Still serving: the same connection works once the lock is gone.
    c.send({ type: "ping" });
    expect((await c.next(isType("pong"))).type).toBe("pong");
    expect(r.lines.some((l) => l.includes("send_submit_failed") && l.includes(String(user.id)))).toBe(true);
    c.close();
    legacy.close();
    await c.closed;
    await legacy.closed;
  });
});
