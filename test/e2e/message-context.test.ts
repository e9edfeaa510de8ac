/**
 * M2-4 context end to end: the fake Feishu pushes over HTTP, the relay stores, fetches what the
 * message refers to from the fake (GET message, GET chat, contact) and only then delivers to a real
 * WebSocket plugin client; replies to recalled messages fall back to a new message in the chat.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { tempDir } from "../helpers.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";
import { connect, isType, type TestClient } from "../relay/ws-client.ts";
import { testDatabase } from "../storage/databases.ts";
import { sqlAll } from "../storage/sql.ts";

const OWNER = "ou_c0ntext0wner0000000000000000001";
const PEER = "ou_c0ntextpeer00000000000000000002";
const GROUP = "oc_c0ntextgroup000000000000000001";

let fake: FakeFeishu;
type Relay = Awaited<ReturnType<typeof gatewayRelay>>;
let relay: Relay | undefined;
let plugin: TestClient | undefined;

beforeAll(async () => {
  fake = await startFakeFeishu();
});
afterAll(() => fake.stop());
afterEach(async () => {
  plugin?.close();
  plugin = undefined;
  await relay?.close();
  relay = undefined;
  fake.reset();
});

async function start(raw: Record<string, string> = {}) {
  relay = await gatewayRelay({
    FEISHU_APP_ID: fake.appId,
    FEISHU_APP_SECRET: fake.appSecret,
    FEISHU_DOMAIN: fake.url,
    FEISHU_VERIFICATION_TOKEN: fake.verificationToken,
    PUBLIC_URL: "https://relay.example",
    ...raw,
  });
  const { user, token } = await relay.user(OWNER, "Owner");
  plugin = connect(relay.url, { token });
  await plugin.next(isType("hello"));
  return { relay, plugin, user, token };
}

const webhook = () => `${relay!.http}/api/feishu/webhook`;
const message = (c: TestClient, timeoutMs?: number) => c.next(isType("message"), timeoutMs);

describe("message context", () => {
  test("a reply to an earlier message carries it as quoted, with the quoted image as an attachment", async () => {
    const { plugin, token } = await start();
    fake.addUser({ openId: PEER, name: "韩梅梅" });
    const parent = fake.addMessage({
      chatId: `oc_p2p_${OWNER}`,
      msgType: "image",
      content: { image_key: "img_v3_quoted" },
      senderOpenId: PEER,
      createTime: 1_764_700_000_000,
    });
    fake.addResource({
      messageId: parent,
      fileKey: "img_v3_quoted",
      type: "image",
      bytes: "PNGDATA",
      mime: "image/png",
    });
    const textParent = fake.addMessage({
      chatId: `oc_p2p_${OWNER}`,
      text: "上周的数据在哪？",
      senderOpenId: PEER,
    });
    await fake.pushEvent(webhook(), {
      senderOpenId: OWNER,
      text: "this one",
      parentId: parent,
      rootId: parent,
    });
    const first = await message(plugin);
    // Read before toMatchObject: bun's asymmetric matchers write themselves into the object compared.
    const url = String((first.quoted as { attachments: Array<{ url: string }> }).attachments[0]!.url);
    expect(first.quoted).toMatchObject({
      messageId: parent,
      senderOpenId: PEER,
      senderName: "韩梅梅",
      senderType: "user",
      msgType: "image",
      text: "[image]",
      createTime: 1_764_700_000_000,
      attachments: [{ kind: "image", url: expect.stringContaining("https://relay.example/api/media/") }],
    });
    // The quoted image downloads like the message's own media, for the owner only.
    const path = new URL(url).pathname;
    const download = await fetch(`${relay!.http}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect([download.status, await download.text()]).toEqual([200, "PNGDATA"]);
    const other = await relay!.user("ou_c0ntextstranger000000000000003");
    const refused = await fetch(`${relay!.http}${path}`, {
      headers: { authorization: `Bearer ${other.token}` },
    });
    expect(refused.status).toBe(404);
    await fake.pushEvent(webhook(), { senderOpenId: OWNER, text: "and this", parentId: textParent });
    const second = await message(plugin);
    expect(second.quoted).toMatchObject({ messageId: textParent, text: "上周的数据在哪？" });
  });

  test("a reply to the bot's own answer quotes it as an app message", async () => {
    const { plugin } = await start();
    await fake.pushEvent(webhook(), { senderOpenId: OWNER, text: "question" });
    const asked = await message(plugin);
    plugin.send({ type: "send", id: "a1", replyTo: asked.messageId, text: "the bot's answer" });
    const sent = await plugin.next((f) => f.id === "a1");
    await fake.pushEvent(webhook(), { senderOpenId: OWNER, text: "why?", parentId: String(sent.messageId) });
    const frame = await message(plugin);
    expect(frame.quoted).toMatchObject({ senderType: "app", text: "the bot's answer" });
    expect((frame.quoted as Record<string, unknown>).senderOpenId).toBeUndefined();
  });

  test("a merge_forward carries its messages oldest first, bounded at 50, with a summary text", async () => {
    const { plugin } = await start();
    const forward = fake.addForward({
      chatId: `oc_p2p_${OWNER}`,
      senderOpenId: OWNER,
      messages: [
        { forward: [{ text: "nested one", senderOpenId: PEER }] },
        ...Array.from({ length: 59 }, (_, i) => ({ text: `line ${i}`, senderOpenId: PEER })),
      ],
    });
    await fake.pushEvent(webhook(), {
      senderOpenId: OWNER,
      messageId: forward,
      msgType: "merge_forward",
      content: { content: "Merged and Forwarded Message" },
    });
    const frame = await message(plugin);
    const forwarded = frame.forwarded as { messages: Array<Record<string, unknown>>; truncated: boolean };
    expect(frame.text).toBe("[合并转发: 61 条消息]");
    expect(forwarded.truncated).toBe(true);
    expect(forwarded.messages).toHaveLength(50);
    expect(forwarded.messages.slice(0, 3).map((m) => m.text)).toEqual([
      "[合并转发: 1 条消息]",
      "nested one",
      "line 0",
    ]);
  });

  test("interactive and share_chat messages arrive as readable text", async () => {
    const { plugin } = await start();
    await fake.pushEvent(webhook(), {
      senderOpenId: OWNER,
      msgType: "interactive",
      content: {
        title: "周报",
        elements: [[{ tag: "text", text: "本周完成 3 项" }], [{ tag: "button", text: "查看" }]],
      },
    });
    expect((await message(plugin)).text).toBe("周报\n本周完成 3 项\n[查看]");
    await fake.pushEvent(webhook(), {
      senderOpenId: OWNER,
      msgType: "share_chat",
      content: { chat_id: GROUP },
    });
    expect((await message(plugin)).text).toBe(`[shared chat: ${GROUP}]`);
  });

  test("a group message carries the group's name, fetched once and then cached", async () => {
    const { plugin, relay } = await start();
    fake.addChat({ chatId: GROUP, name: "产品周会" });
    const mention = { chatId: GROUP, chatType: "group" as const, mentions: [fake.botMention()] };
    await fake.pushEvent(webhook(), { senderOpenId: OWNER, text: "@_user_1 one", ...mention });
    expect(await message(plugin)).toMatchObject({ chatName: "产品周会" });
    await fake.pushEvent(webhook(), { senderOpenId: OWNER, text: "@_user_1 two", ...mention });
    expect(await message(plugin)).toMatchObject({ chatName: "产品周会" });
    expect(fake.chats.lookups).toEqual([GROUP]);
    // Counted with the other Feishu calls, in their own budget.
    expect(relay.ctx.metrics.render()).toContain('feishu_api_calls_total{kind="read",result="ok"} 1');
    const row = await sqlAll(relay.ctx.storage, "SELECT name, chat_mode AS mode FROM chat_info");
    expect(row).toEqual([{ name: "产品周会", mode: "group" }]);
  });

  test("a slow Feishu: Feishu's push is answered at once, the message delivered after the timeout without context, in order", async () => {
    const { plugin } = await start({ FEISHU_CONTEXT_TIMEOUT: "1" });
    const parent = fake.addMessage({ chatId: `oc_p2p_${OWNER}`, text: "slow parent", senderOpenId: OWNER });
    fake.setReadDelay(3000);
    const started = Date.now();
    const pushed = await fake.pushEvent(webhook(), { senderOpenId: OWNER, text: "held", parentId: parent });
    expect(pushed.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(800);
    // Needs nothing, but comes after the held one: it waits with it.
    await fake.pushEvent(webhook(), { senderOpenId: OWNER, text: "plain" });
    const held = await message(plugin, 3000);
    const plain = await message(plugin);
    const elapsed = Date.now() - started;
    expect([held.text, plain.text]).toEqual(["held", "plain"]);
    expect(held.quoted).toBeUndefined();
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(2500);
    expect(relay!.ctx.metrics.render()).toContain('message_context_total{outcome="timeout"} 1');
  });

  test("a message still waiting for its context when the relay stops is delivered as stored after the restart", async () => {
    const { dir, cleanup } = tempDir();
    const database = await testDatabase(dir);
    const raw = { ...database.raw, FEISHU_CONTEXT_TIMEOUT: "3" };
    const { relay: first, plugin } = await start(raw);
    plugin.close();
    const parent = fake.addMessage({ chatId: `oc_p2p_${OWNER}`, text: "never fetched", senderOpenId: OWNER });
    fake.setReadDelay(5000);
    expect(
      (await fake.pushEvent(webhook(), { senderOpenId: OWNER, text: "before", parentId: parent })).status,
    ).toBe(200);
    await first.close();
    relay = undefined;
    fake.setReadDelay(0);
    const second = await start(raw);
    const frame = await message(second.plugin);
    expect(frame).toMatchObject({ text: "before", parentId: parent });
    expect(frame.quoted).toBeUndefined();
    await second.relay.close();
    relay = undefined;
    await database.drop();
    cleanup();
  });

  test("without im:message.group_msg (230027) a group reply is delivered without its quote, logged once", async () => {
    const { plugin, relay } = await start();
    fake.addChat({ chatId: GROUP, name: "G" });
    fake.messages.denyGroupMessages();
    const mention = { chatId: GROUP, chatType: "group" as const, mentions: [fake.botMention()] };
    for (const text of ["@_user_1 a", "@_user_1 b"]) {
      const parent = fake.addMessage({ chatId: GROUP, text: "p", senderOpenId: PEER });
      await fake.pushEvent(webhook(), { senderOpenId: OWNER, text, parentId: parent, ...mention });
      const frame = await message(plugin);
      expect(frame.quoted).toBeUndefined();
      expect(frame.chatName).toBe("G");
    }
    const warned = relay.lines.filter(
      (l) => l.includes('"message_context_unavailable"') && l.includes('"warn"') && l.includes("230027"),
    );
    expect(warned).toHaveLength(1);
  });

  test("FEISHU_CONTEXT=false: no lookups at all", async () => {
    const { plugin } = await start({ FEISHU_CONTEXT: "false" });
    fake.addChat({ chatId: GROUP, name: "G" });
    const parent = fake.addMessage({ chatId: GROUP, text: "p", senderOpenId: PEER });
    await fake.pushEvent(webhook(), {
      senderOpenId: OWNER,
      text: "@_user_1 hi",
      parentId: parent,
      chatId: GROUP,
      chatType: "group",
      mentions: [fake.botMention()],
    });
    const frame = await message(plugin);
    expect(frame.parentId).toBe(parent);
    expect(frame.quoted).toBeUndefined();
    expect(frame.chatName).toBeUndefined();
    expect(fake.messages.lookups).toEqual([]);
    expect(fake.chats.lookups).toEqual([]);
  });

  test("a reply to a recalled message goes out once as a new message in the same chat", async () => {
    const { plugin } = await start();
    fake.addChat({ chatId: GROUP, name: "G" });
    for (const code of [230011, 231003] as const) {
      await fake.pushEvent(webhook(), {
        senderOpenId: OWNER,
        text: "@_user_1 q",
        chatId: GROUP,
        chatType: "group",
        mentions: [fake.botMention()],
      });
      const asked = await message(plugin);
      fake.recallMessage(String(asked.messageId), code);
      const id = `r${code}`;
      plugin.send({ type: "send", id, replyTo: asked.messageId, text: `answer ${code}` });
      const sent = await plugin.next((f) => f.id === id);
      expect(sent.type).toBe("sent");
      const posted = fake.sent.filter((m) => m.text === `answer ${code}`);
      expect(posted).toHaveLength(1);
      expect(posted[0]).toMatchObject({ kind: "create", receiveIdType: "chat_id", receiveId: GROUP });
      const refused = fake.calls.filter((c) => c.path.endsWith(`${asked.messageId}/reply`));
      expect(refused.map((c) => c.code)).toEqual([code]);
    }
  });
});
