/**
 * The way back (M1-4): plugin `send` frames and cron pushes reach the fake Feishu over real HTTP,
 * in the right chat, through the durable outbox.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startFakeFeishu } from "../fakes/feishu.ts";
import { tempDir } from "../helpers.ts";
import { gatewayRelay, relayWithFeishu } from "../relay/gateway-fixtures.ts";
import { connect, isType } from "../relay/ws-client.ts";
import { createUser, startRelayProcess } from "./relay-process.ts";

const { fake, r } = await relayWithFeishu();

describe("sends through the relay to Feishu", () => {
  test("a reply to a group message lands in that group's thread; sent carries Feishu's id", async () => {
    const { user, token } = await r.user("ou_send_a");
    const original = await r.store(user.id, { chatId: "oc_team", chatType: "group", threadId: "omt_t1" });
    const c = connect(r.url, { token });
    await c.next(isType("message"));
    c.send({ type: "send", id: "s1", replyTo: original.message.messageId, text: "the answer" });
    const sent = await c.next((f) => f.id === "s1");
    expect(sent.type).toBe("sent");
    const at = fake.sent.find((m) => m.messageId === sent.messageId)!;
    expect(at).toMatchObject({
      kind: "reply",
      replyTo: original.message.messageId,
      replyInThread: true,
      text: "the answer",
    });
    c.close();
  });

  test("markdown goes as a post with an md node; no target means a DM to the owner", async () => {
    const { token } = await r.user("ou_send_md");
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "md1", msgType: "markdown", text: "**bold** move" });
    const sent = await c.next((f) => f.id === "md1");
    expect(sent.type).toBe("sent");
    const at = fake.sent.find((m) => m.messageId === sent.messageId)!;
    expect(at).toMatchObject({
      kind: "create",
      receiveIdType: "open_id",
      receiveId: "ou_send_md",
      msgType: "post",
    });
    expect(JSON.stringify(at.content)).toContain('"tag":"md"');
    c.close();
  });

  test("a permanent Feishu error comes back as an error frame with its code, not retryable", async () => {
    const { token } = await r.user("ou_send_perm");
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    fake.failNext(1, { kind: "code", code: 230053 });
    c.send({ type: "send", id: "p1", text: "blocked?" });
    expect(await c.next((f) => f.id === "p1")).toMatchObject({
      type: "error",
      code: "feishu_230053",
      retryable: false,
    });
    c.close();
  });

  test("a retried send with the same uuid posts once", async () => {
    const { token } = await r.user("ou_send_uuid");
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "u1", text: "once", uuid: "delivery-42" });
    c.send({ type: "send", id: "u2", text: "once", uuid: "delivery-42" });
    // In order: the second submit of the uuid waits for the first's outcome (on PostgreSQL too).
    const a = await c.next((f) => f.id === "u1");
    const b = await c.next((f) => f.id === "u2");
    expect(a.messageId).toBe(b.messageId);
    expect(fake.sent.filter((m) => m.messageId === a.messageId)).toHaveLength(1);
    c.close();
  });

  test("cron push: POST /api/messages to the owner's DM and to a chat of theirs; others forbidden", async () => {
    const { user, token } = await r.user("ou_cron");
    await r.store(user.id, { chatId: "oc_cron_group", chatType: "group" });
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${r.http}/api/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    const dm = await post({ text: "daily digest" }, { "idempotency-key": "digest-2026-11-23" });
    expect(dm.status).toBe(200);
    const { messageId } = (await dm.json()) as { messageId: string };
    expect(fake.sent.find((m) => m.messageId === messageId)).toMatchObject({
      receiveId: "ou_cron",
      text: "daily digest",
    });
    const again = await post({ text: "daily digest" }, { "idempotency-key": "digest-2026-11-23" });
    expect(((await again.json()) as { messageId: string }).messageId).toBe(messageId);
    expect(fake.sent.filter((m) => m.text === "daily digest")).toHaveLength(1);

    const group = await post({ to: "chat:oc_cron_group", text: "to the team" });
    expect(group.status).toBe(200);
    const forbidden = await post({ to: "chat:oc_not_theirs", text: "nope" });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { code: string } }).error.code).toBe("forbidden_target");
    const noAuth = await fetch(`${r.http}/api/messages`, {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    expect(noAuth.status).toBe(401);
  });
});

describe("sends during a Feishu outage and under a flood (M2-1)", () => {
  test("a transient failure answers queued at once (same id, the uuid, retryAt); sent follows with the same id", async () => {
    const { token } = await r.user("ou_send_queued");
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    fake.failNext(1, { kind: "server_error", status: 503 });
    const before = Date.now();
    c.send({ type: "send", id: "q1", text: "through the outage", uuid: "outage-1" });
    const queued = await c.next((f) => f.id === "q1");
    expect(queued).toMatchObject({ type: "queued", id: "q1", uuid: "outage-1" });
    expect(queued.retryAt as number).toBeGreaterThan(before);
    const sent = await c.next((f) => f.id === "q1", 5000);
    expect(sent.type).toBe("sent");
    expect(fake.sent.filter((m) => m.text === "through the outage")).toHaveLength(1);
    c.close();
  });

  test("Feishu's x-ogw-ratelimit-reset reaches the outbox: queued says the retry waits that long", async () => {
    const own = await startFakeFeishu();
    const relay = await gatewayRelay({
      FEISHU_APP_ID: own.appId,
      FEISHU_APP_SECRET: own.appSecret,
      FEISHU_DOMAIN: own.url,
    });
    const { token } = await relay.user("ou_throttled");
    const c = connect(relay.url, { token });
    await c.next(isType("hello"));
    own.failNext(1, { kind: "rate_limit", resetSec: 30 });
    const before = Date.now();
    c.send({ type: "send", id: "t1", text: "throttled", uuid: "throttled-1" });
    const queued = await c.next((f) => f.id === "t1");
    expect(queued.type).toBe("queued");
    expect((queued.retryAt as number) - before).toBeGreaterThanOrEqual(30_000);
    c.close();
    await relay.close();
    await own.stop();
  });

  test("past the per-user cap: error rate_limited with retryAfterMs on the socket, 429 + Retry-After over HTTP; other users unaffected", async () => {
    const own = await startFakeFeishu();
    const capped = await gatewayRelay({
      FEISHU_APP_ID: own.appId,
      FEISHU_APP_SECRET: own.appSecret,
      FEISHU_DOMAIN: own.url,
      OUTBOX_MAX_QUEUED_PER_USER: "2",
    });
    own.failNext(1000, { kind: "server_error", status: 503 });
    const { token } = await capped.user("ou_flood");
    const c = connect(capped.url, { token });
    await c.next(isType("hello"));
    for (const id of ["f1", "f2"]) {
      c.send({ type: "send", id, text: id, uuid: id });
      expect(await c.next((f) => f.id === id)).toMatchObject({ type: "queued" });
    }
    c.send({ type: "send", id: "f3", text: "f3", uuid: "f3" });
    const refused = await c.next((f) => f.id === "f3");
    expect(refused).toMatchObject({ type: "error", code: "rate_limited", retryable: true });
    expect(refused.retryAfterMs as number).toBeGreaterThan(0);
    const http = await fetch(`${capped.http}/api/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ text: "cron too" }),
    });
    expect(http.status).toBe(429);
    expect(Number(http.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await http.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
    // Another user still sends (and is answered queued, not refused, while Feishu fails).
    const other = await capped.user("ou_not_flooding");
    const o = connect(capped.url, { token: other.token });
    await o.next(isType("hello"));
    o.send({ type: "send", id: "b1", text: "mine", uuid: "b1" });
    expect(await o.next((f) => f.id === "b1")).toMatchObject({ type: "queued" });
    c.close();
    o.close();
    await capped.close();
    await own.stop();
  });
});

describe("outbox across a restart", () => {
  test("Feishu answers 5xx, the relay restarts, the send goes out once it answers 200", async () => {
    const own = await startFakeFeishu();
    const tmp = tempDir();
    const env = {
      DATABASE_PATH: join(tmp.dir, "outbox.db"),
      ADMIN_TOKEN: "outbox-admin-token-0123456",
      FEISHU_APP_ID: own.appId,
      FEISHU_APP_SECRET: own.appSecret,
      FEISHU_DOMAIN: own.url,
    };
    const first = await startRelayProcess(env);
    const token = await createUser(first.base, env.ADMIN_TOKEN, "ou_outbox");
    own.failNext(1000, { kind: "server_error", status: 503 });
    const c = connect(first.ws, { token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "o1", text: "survives a restart", uuid: "restart-1" });
    await Bun.sleep(300); // the first attempt fails with 503 and is kept for a retry
    expect(await first.stop("SIGTERM")).toBe(0);
    expect(own.sent.filter((m) => m.text === "survives a restart")).toHaveLength(0);

    own.reset(); // Feishu recovers
    const second = await startRelayProcess(env);
    const arrived = await own.waitForSent((m) => m.text === "survives a restart", 8000);
    expect(arrived.receiveId).toBe("ou_outbox");
    // The plugin asking again with the same uuid learns the outcome.
    const c2 = connect(second.ws, { token });
    await c2.next(isType("hello"));
    c2.send({ type: "send", id: "o2", text: "survives a restart", uuid: "restart-1" });
    expect(await c2.next((f) => f.id === "o2")).toMatchObject({ type: "sent", messageId: arrived.messageId });
    expect(own.sent.filter((m) => m.text === "survives a restart")).toHaveLength(1);
    c2.close();
    await second.stop();
    await own.stop();
    tmp.cleanup();
  }, 30_000);
});
