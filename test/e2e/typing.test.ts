/**
 * The typing indicator end to end: the fake Feishu pushes a user's message to the relay's webhook,
 * the relay delivers it to a real plugin WebSocket and puts a Typing reaction on it in the fake, and
 * takes it away again after the reply, the ack, or the timeout. Real SQLite files, real HTTP.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { Raw } from "../../src/config/definition.ts";
import type { TypingIndicator } from "../../src/relay/typing.ts";
import { startFakeFeishu } from "../fakes/feishu.ts";
import type { ReactionCall } from "../fakes/feishu-reactions.ts";
import { tempDir, testRelay } from "../helpers.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";
import { connect, isType } from "../relay/ws-client.ts";
import { testDatabase } from "../storage/databases.ts";
import { sqlGet, sqliteOnly } from "../storage/sql.ts";

const fake = await startFakeFeishu();
afterAll(() => fake.stop());

const feishuRaw: Raw = {
  FEISHU_APP_ID: fake.appId,
  FEISHU_APP_SECRET: fake.appSecret,
  FEISHU_DOMAIN: fake.url,
};
let users = 0;

/** A relay of its own (its breaker, clock and database), a user and a connected plugin. */
async function setUp(raw: Raw = {}, opts: { now?: () => number } = {}) {
  const r = await gatewayRelay({ ...feishuRaw, ...raw }, opts.now ? { now: opts.now } : {});
  const openId = `ou_typing_${++users}`;
  const { user, token } = await r.user(openId);
  const plugin = connect(r.url, { token });
  await plugin.next(isType("hello"));
  const typing = r.relay.core.typing as TypingIndicator;
  return {
    r,
    user,
    plugin,
    typing,
    /** Pushes a user message through the webhook; resolves with its frame at the plugin. */
    async push(text = "hi") {
      const event = fake.messageEvent({ senderOpenId: openId, text });
      expect((await fake.pushEvent(`${r.http}/api/feishu/webhook`, event)).status).toBe(200);
      const messageId = (event.event as { message: { message_id: string } }).message.message_id;
      const frame = await plugin.next((f) => f.type === "message" && f.messageId === messageId);
      return { messageId, seq: frame.seq as number };
    },
    async close() {
      plugin.close();
      await r.close();
    },
  };
}

const callOf = (messageId: string, action: "add" | "delete") => (c: ReactionCall) =>
  c.messageId === messageId && c.action === action;
const waitCall = (messageId: string, action: "add" | "delete") =>
  fake.reactions.calls.waitFor(callOf(messageId, action), 3000, `${action} on ${messageId}`);
const callsOn = (messageId: string) => fake.reactions.calls.items.filter((c) => c.messageId === messageId);

describe("typing indicator end to end", () => {
  test("a live message gets Typing, and the reply takes it away", async () => {
    const t = await setUp();
    const { messageId } = await t.push("what's the weather?");
    const added = await waitCall(messageId, "add");
    expect([added.code, added.emojiType]).toEqual([0, "Typing"]);
    expect(fake.reactions.on(messageId)).toMatchObject([{ emojiType: "Typing", operatorType: "app" }]);
    t.plugin.send({ type: "send", id: "s1", replyTo: messageId, text: "sunny" });
    await t.plugin.next((f) => f.id === "s1" && f.type === "sent");
    const removed = await waitCall(messageId, "delete");
    await t.typing.settled();
    expect([removed.code, removed.reactionId]).toEqual([0, added.reactionId]);
    expect(fake.reactions.on(messageId)).toEqual([]);
    const metrics = await (await fetch(`${t.r.http}/metrics`)).text();
    expect(metrics).toContain('typing_reactions_total{action="added"} 1');
    expect(metrics).toContain('typing_reactions_total{action="removed"} 1');
    expect(metrics).toContain('feishu_api_calls_total{kind="reaction",result="ok"} 2');
    expect(metrics).toContain('feishu_api_calls_total{kind="message",result="ok"} 1');
    await t.close();
  });

  test("an ack without a reply takes it away", async () => {
    const t = await setUp();
    const { messageId, seq } = await t.push("NO_REPLY please");
    await waitCall(messageId, "add");
    t.plugin.send({ type: "ack", seq });
    await waitCall(messageId, "delete");
    expect(fake.reactions.on(messageId)).toEqual([]);
    await t.close();
  });

  test("after FEISHU_TYPING_TIMEOUT the sweep takes it away", async () => {
    let offset = 0;
    const t = await setUp({ FEISHU_TYPING_TIMEOUT: "60" }, { now: () => Date.now() + offset });
    const { messageId } = await t.push("a long task");
    await waitCall(messageId, "add");
    await t.typing.settled();
    offset = 59_000;
    t.typing.sweep();
    await t.typing.settled();
    expect(callsOn(messageId).map((c) => c.action)).toEqual(["add"]);
    offset = 61_000;
    t.typing.sweep();
    await waitCall(messageId, "delete");
    expect(fake.reactions.on(messageId)).toEqual([]);
    await t.close();
  });

  test("a replayed message older than two minutes gets none", async () => {
    const r = await gatewayRelay(feishuRaw);
    const { user, token } = await r.user(`ou_typing_${++users}`);
    const old = await r.store(user.id, { createTime: Date.now() - 3 * 60_000 });
    const plugin = connect(r.url, { token });
    await plugin.next((f) => f.type === "message" && f.messageId === old.message.messageId);
    await (r.relay.core.typing as TypingIndicator).settled();
    expect(callsOn(old.message.messageId)).toEqual([]);
    plugin.close();
    await r.close();
  });

  test("FEISHU_TYPING=false: no reaction calls at all", async () => {
    const t = await setUp({ FEISHU_TYPING: "false" });
    const { messageId, seq } = await t.push();
    t.plugin.send({ type: "send", id: "s2", replyTo: messageId, text: "ok" });
    await t.plugin.next((f) => f.id === "s2");
    t.plugin.send({ type: "ack", seq });
    await t.typing.settled();
    expect(callsOn(messageId)).toEqual([]);
    await t.close();
  });

  test("a 429 on add: tried once, and no more adds during the back-off", async () => {
    const t = await setUp();
    fake.reactions.failNext(1, { kind: "rate_limit", resetSec: 1 });
    const first = await t.push("one");
    const throttled = await waitCall(first.messageId, "add");
    expect([throttled.status, throttled.code]).toEqual([429, 99991400]);
    await t.typing.settled();
    const second = await t.push("two");
    await t.typing.settled();
    expect(callsOn(first.messageId)).toHaveLength(1);
    expect(callsOn(second.messageId)).toEqual([]);
    expect(t.typing.pausedUntil).toBeGreaterThan(Date.now() + 50_000);
    const metrics = await (await fetch(`${t.r.http}/metrics`)).text();
    expect(metrics).toContain('feishu_api_calls_total{kind="reaction",result="throttled"} 1');
    expect(metrics).toContain('feishu_throttled_total{kind="reaction",priority="reaction"} 1');
    expect(metrics).toContain('typing_reactions_total{action="skipped"} 1');
    await t.close();
  });

  // One node restarting. In a cluster (PostgreSQL) another node's rows are live at start-up, so
  // leftovers go with the timeout sweep instead (test/relay/typing-cluster.test.ts).
  sqliteOnly("a restart removes the reactions the last run left behind", async () => {
    const { dir, cleanup } = tempDir();
    const database = await testDatabase(dir);
    const t = await setUp(database.raw);
    const { messageId } = await t.push("left hanging");
    await waitCall(messageId, "add");
    await t.typing.settled();
    // Stopped before any reply or ack: the reaction stays, and so does its row.
    t.plugin.close();
    await t.r.relay.stop();
    expect(fake.reactions.on(messageId)).toHaveLength(1);
    const next = await testRelay({ ...feishuRaw, ...database.raw });
    await waitCall(messageId, "delete");
    await (next.relay.core.typing as TypingIndicator).settled();
    expect(fake.reactions.on(messageId)).toEqual([]);
    const rows = (await sqlGet<{ n: number }>(
      next.relay.ctx.storage,
      "SELECT CAST(count(*) AS INTEGER) AS n FROM typing_reactions",
    ))!;
    expect(rows.n).toBe(0);
    await next.close();
    await database.drop();
    cleanup();
  });
});
