/** The fake's GET message and GET chat APIs behave as reference §11.4 and §11.6 say. */
import { describe, expect, test } from "bun:test";
import { tenantToken, useFakeFeishu } from "./use-fake-feishu.ts";

const fake = await useFakeFeishu();

const token = () => tenantToken(fake);

async function get(path: string, auth?: string) {
  const res = await fetch(`${fake.url}/open-apis/im/v1/${path}`, {
    headers: auth ? { authorization: `Bearer ${auth}` } : {},
  });
  return { status: res.status, body: (await res.json()) as { code: number; data?: Record<string, unknown> } };
}

type Item = Record<string, unknown>;
const items = (body: { data?: Record<string, unknown> }) => body.data?.items as Item[];

describe("fake GET message", () => {
  test("one item in the §11.4 shape; pushed events and the fake's own sends are readable too", async () => {
    const t = await token();
    const id = fake.addMessage({
      chatId: "oc_g",
      text: "@_user_1 hi",
      senderOpenId: "ou_a",
      mentions: [{ openId: "ou_b", name: "B" }],
      createTime: 1000,
    });
    const { status, body } = await get(`messages/${id}`, t);
    expect(status).toBe(200);
    expect(items(body)).toEqual([
      {
        message_id: id,
        msg_type: "text",
        create_time: "1000",
        update_time: "1000",
        deleted: false,
        updated: false,
        chat_id: "oc_g",
        sender: { id: "ou_a", id_type: "open_id", sender_type: "user", tenant_key: fake.tenantKey },
        body: { content: '{"text":"@_user_1 hi"}' },
        mentions: [
          { key: "@_user_1", id: "ou_b", id_type: "open_id", name: "B", tenant_key: fake.tenantKey },
        ],
      },
    ]);
    const event = fake.messageEvent({ senderOpenId: "ou_a", text: "pushed" });
    const pushedId = (event.event.message as { message_id: string }).message_id;
    expect(items((await get(`messages/${pushedId}`, t)).body)[0]).toMatchObject({
      body: { content: '{"text":"pushed"}' },
    });
    const sent = await fetch(`${fake.url}/open-apis/im/v1/messages?receive_id_type=chat_id`, {
      method: "POST",
      headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
      body: JSON.stringify({ receive_id: "oc_g", msg_type: "text", content: '{"text":"from the bot"}' }),
    });
    const sentId = ((await sent.json()) as { data: { message_id: string } }).data.message_id;
    expect(items((await get(`messages/${sentId}`, t)).body)[0]).toMatchObject({
      sender: { id: fake.appId, id_type: "app_id", sender_type: "app" },
      body: { content: '{"text":"from the bot"}' },
    });
  });

  test("a merge_forward answers the forward and its sub-messages, nested ones by upper_message_id", async () => {
    const id = fake.addForward({
      chatId: "oc_g",
      messages: [{ text: "one" }, { forward: [{ text: "deep" }] }],
    });
    const list = items((await get(`messages/${id}`, await token())).body);
    expect(list.map((i) => [i.msg_type, i.upper_message_id ?? null])).toEqual([
      ["merge_forward", null],
      ["text", id],
      ["merge_forward", id],
      ["text", list[2]!.message_id],
    ]);
  });

  test("errors: no token, unknown id 230001, not in chat 230002, no group_msg scope 230027, recalled 230110", async () => {
    const t = await token();
    const id = fake.addMessage({ chatId: "oc_err", text: "x" });
    expect((await get(`messages/${id}`)).body.code).toBe(99991661);
    expect((await get("messages/om_nope", t)).body.code).toBe(230001);
    fake.messages.denyGroupMessages();
    expect((await get(`messages/${id}`, t)).body.code).toBe(230027);
    const p2p = fake.addMessage({ chatId: "oc_p2p_ou_a", text: "dm" });
    expect((await get(`messages/${p2p}`, t)).status).toBe(200);
    fake.messages.denyGroupMessages(false);
    fake.messages.leaveChat("oc_err");
    expect((await get(`messages/${id}`, t)).body.code).toBe(230002);
    fake.recallMessage(p2p);
    expect((await get(`messages/${p2p}`, t)).body.code).toBe(230110);
    fake.failNext(1, { kind: "rate_limit" }, { scope: "all" });
    const limited = await get(`messages/${p2p}`, t);
    expect([limited.status, limited.body.code]).toEqual([429, 99991400]);
  });
});

describe("fake GET chat", () => {
  test("name, chat_mode and group_message_type; 232006 unknown, 232011 not a member", async () => {
    const t = await token();
    fake.addChat({ chatId: "oc_named", name: "产品周会", groupMessageType: "thread" });
    fake.addChat({ chatId: "oc_topic", chatMode: "topic" });
    expect((await get("chats/oc_named", t)).body.data).toMatchObject({
      name: "产品周会",
      chat_mode: "group",
      group_message_type: "thread",
    });
    const topic = (await get("chats/oc_topic", t)).body.data!;
    expect([topic.name, topic.chat_mode, topic.group_message_type]).toEqual([undefined, "topic", undefined]);
    expect((await get("chats/oc_unknown", t)).body.code).toBe(232006);
    fake.chats.leave("oc_named");
    expect((await get("chats/oc_named", t)).body.code).toBe(232011);
    expect(fake.chats.lookups).toEqual(["oc_named", "oc_topic", "oc_unknown", "oc_named"]);
  });
});

describe("control API", () => {
  test("seeds a message and a chat, and lists the lookups", async () => {
    const post = (name: string, body: unknown) =>
      fetch(`${fake.url}/_fake/${name}`, { method: "POST", body: JSON.stringify(body) }).then((r) =>
        r.json(),
      );
    const { messageId } = (await post("messages", { chatId: "oc_c", text: "seeded" })) as {
      messageId: string;
    };
    await post("chats", { chatId: "oc_c", name: "C" });
    const t = await token();
    expect(items((await get(`messages/${messageId}`, t)).body)[0]).toMatchObject({ chat_id: "oc_c" });
    expect((await get("chats/oc_c", t)).body.data).toMatchObject({ name: "C" });
    const lookups = await fetch(`${fake.url}/_fake/message-lookups`).then((r) => r.json());
    expect(lookups).toEqual([messageId]);
  });
});
