/**
 * Long Markdown answers through the whole relay (M2-3): a plugin `send` frame over a real WebSocket,
 * the durable outbox, the sender, and the fake Feishu over HTTP. The relay's FEISHU_RENDER_MODE
 * applies when a send does not choose; only the first part quotes the user's message.
 */
import { describe, expect, test } from "bun:test";
import { relayWithFeishu } from "../relay/gateway-fixtures.ts";
import { connect, isType } from "../relay/ws-client.ts";

const { fake, r } = await relayWithFeishu({
  FEISHU_RENDER_MODE: "post",
  FEISHU_RATE_CHAT: "100",
});

const longCode = [
  "Here it is:",
  "",
  "```ts",
  ...Array.from({ length: 2000 }, (_, i) => `export const v${i} = ${i};`),
  "```",
].join("\n");

describe("long markdown replies through the relay", () => {
  test("FEISHU_RENDER_MODE=post: posts; the first part replies, the rest are new messages in the group", async () => {
    const { user, token } = await r.user("ou_md_long");
    const original = await r.store(user.id, { chatId: "oc_md_team", chatType: "group" });
    const c = connect(r.url, { token });
    await c.next(isType("message"));
    c.send({
      type: "send",
      id: "l1",
      replyTo: original.message.messageId,
      msgType: "markdown",
      text: longCode,
    });
    const sent = await c.next((f) => f.id === "l1");
    expect(sent.type).toBe("sent");
    const first = fake.sent.findIndex((m) => m.messageId === sent.messageId);
    const parts = fake.sent.slice(first).filter((m, i) => i === 0 || m.receiveId === "oc_md_team");
    expect(parts.length).toBeGreaterThan(1);
    expect(parts[0]).toMatchObject({ kind: "reply", replyTo: original.message.messageId, msgType: "post" });
    for (const m of parts.slice(1)) {
      expect(m).toMatchObject({
        kind: "create",
        receiveIdType: "chat_id",
        receiveId: "oc_md_team",
        msgType: "post",
      });
    }
    for (const m of parts) expect(m.text!.match(/^```/gm)!.length % 2).toBe(0);
    c.close();
  });

  test("a send's own renderMode wins over the relay's", async () => {
    const { token } = await r.user("ou_md_card");
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "c1", msgType: "markdown", renderMode: "card", text: "| a |\n|---|\n| 1 |" });
    const sent = await c.next((f) => f.id === "c1");
    const at = fake.sent.find((m) => m.messageId === sent.messageId)!;
    expect(at.msgType).toBe("interactive");
    expect(at.content).toMatchObject({ schema: "2.0", body: { elements: [{ tag: "markdown" }] } });
    c.close();
  });
});
