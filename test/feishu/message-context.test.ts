import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { renderContent } from "../../src/feishu/message-content.ts";
import {
  FORWARD_MAX_CHARS,
  FORWARD_MAX_MESSAGES,
  forwardRoot,
  type MessageItem,
  toContextMessage,
  toForwarded,
} from "../../src/feishu/message-context.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/feishu-context");
const fixture = async (name: string) => Bun.file(join(FIXTURES, name)).json();

const item = (id: string, over: Record<string, unknown> = {}): MessageItem => ({
  message_id: id,
  msg_type: "text",
  create_time: "1764700000000",
  sender: { id: "ou_x", id_type: "open_id", sender_type: "user" },
  body: { content: JSON.stringify({ text: id }) },
  ...over,
});

describe("a fetched message as context", () => {
  test("text with mentions resolved, sender and time kept", () => {
    const quoted = toContextMessage(
      item("om_1", {
        body: { content: '{"text":"@_user_1 上周的数据在哪？"}' },
        mentions: [{ key: "@_user_1", id: "ou_lilei", id_type: "open_id", name: "李雷" }],
      }),
    );
    expect(quoted).toEqual({
      messageId: "om_1",
      senderOpenId: "ou_x",
      senderType: "user",
      msgType: "text",
      text: "@李雷 上周的数据在哪？",
      createTime: 1764700000000,
      content: { text: "@_user_1 上周的数据在哪？" },
    });
  });

  test("an app's message has no open_id; a deleted one says so; media become attachments with urls", () => {
    const app = toContextMessage(
      item("om_2", { sender: { id: "cli_1", id_type: "app_id", sender_type: "app" } }),
    );
    expect(app).toMatchObject({ senderType: "app" });
    expect(app?.senderOpenId).toBeUndefined();
    expect(toContextMessage(item("om_3", { deleted: true }))?.text).toBe("[deleted]");
    const image = toContextMessage(
      item("om_4", { msg_type: "image", body: { content: '{"image_key":"img_1"}' } }),
      "https://relay.example/",
    );
    expect(image?.attachments).toEqual([
      { id: "b21fNA.0", kind: "image", url: "https://relay.example/api/media/b21fNA.0" },
    ]);
    expect(toContextMessage({ msg_type: "text" })).toBeUndefined();
    // In a forward: no attachments (Feishu does not serve sub-messages' media), no content.
    const inForward = toContextMessage(
      item("om_5", { msg_type: "image", body: { content: '{"image_key":"img_1"}' } }),
      "https://relay.example/",
      { quoted: false },
    );
    expect(inForward).toMatchObject({ text: "[image]" });
    expect([inForward?.attachments, inForward?.content]).toEqual([undefined, undefined]);
  });
});

describe("a merge_forward's answer", () => {
  test("fixture: a tree through upper_message_id, oldest first per level, nested forward summarised", async () => {
    const answer = await fixture("merge-forward.json");
    const items = answer.data.items as MessageItem[];
    expect(forwardRoot(items, "om_fwd_root")?.message_id).toBe("om_fwd_root");
    expect(toForwarded(items, "om_fwd_root", "https://relay.example")).toEqual(
      await fixture("merge-forward.expected.json"),
    );
  });

  test("at most 50 messages", () => {
    const items = Array.from({ length: 60 }, (_, i) =>
      item(`om_c${i}`, { upper_message_id: "om_root", create_time: String(1000 + i) }),
    );
    const { forwarded, total } = toForwarded(items, "om_root");
    expect(total).toBe(60);
    expect(forwarded.messages).toHaveLength(FORWARD_MAX_MESSAGES);
    expect(forwarded.messages[0]?.messageId).toBe("om_c0");
    expect(forwarded.truncated).toBe(true);
  });

  test("at most 20,000 characters: the message that does not fit is cut", () => {
    const long = "x".repeat(8000);
    const items = [0, 1, 2, 3].map((i) =>
      item(`om_l${i}`, {
        upper_message_id: "om_root",
        create_time: String(1000 + i),
        body: { content: JSON.stringify({ text: long }) },
      }),
    );
    const { forwarded } = toForwarded(items, "om_root");
    expect(forwarded.messages).toHaveLength(3);
    const chars = forwarded.messages.reduce((n, m) => n + m.text.length, 0);
    expect(chars).toBe(FORWARD_MAX_CHARS);
    expect(forwarded.messages[2]?.text.endsWith("…")).toBe(true);
    expect(forwarded.truncated).toBe(true);
  });

  test("an item naming itself or a loop between forwards does not hang", () => {
    const items = [
      item("om_a", { msg_type: "merge_forward", upper_message_id: "om_b" }),
      item("om_b", { msg_type: "merge_forward", upper_message_id: "om_a" }),
      item("om_self", { upper_message_id: "om_self" }),
    ];
    expect(toForwarded(items, "om_a").forwarded.messages.map((m) => m.messageId)).toEqual(["om_b"]);
  });
});

describe("cards and shared chats as text", () => {
  test("the simplified receive form: title, paragraphs, buttons in brackets", async () => {
    const raw = JSON.stringify(await fixture("card-simplified.json"));
    const rendered = renderContent("interactive", raw, [{ key: "@_user_1", openId: "ou_1", name: "王芳" }]);
    expect(rendered.text).toBe(
      "部署审批\n服务 [relay](https://example.com/relay) 等待审批\n@王芳\n[同意][拒绝]",
    );
  });

  test("card JSON 1.0 and 2.0: header title and every text component in order", async () => {
    const v1 = renderContent("interactive", JSON.stringify(await fixture("card-json.json")), []);
    expect(v1.text).toBe(
      "Weekly report\n**Done:** 3 items\n---\n- ship relay\n- fix tests\n[Open]\ngenerated by CI",
    );
    const v2 = renderContent("interactive", JSON.stringify(await fixture("card-v2.json")), []);
    expect(v2.text).toBe("Build\nAll green\nleft\nright");
  });

  test("an empty or unreadable card keeps the placeholder", () => {
    expect(renderContent("interactive", "{}", []).text).toBe("[interactive]");
    expect(renderContent("interactive", "not json", []).text).toBe("[interactive]");
  });

  test("share_chat names the chat", () => {
    expect(renderContent("share_chat", '{"chat_id":"oc_1"}', []).text).toBe("[shared chat: oc_1]");
    expect(renderContent("share_chat", '{"chat_id":"oc_1","chat_name":"产品"}', []).text).toBe(
      "[shared chat: 产品 (oc_1)]",
    );
    expect(renderContent("share_chat", "{}", []).text).toBe("[share_chat]");
  });
});
