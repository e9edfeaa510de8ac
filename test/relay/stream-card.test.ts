import { describe, expect, test } from "bun:test";
import { onceCost } from "../../src/feishu/outgoing-content.ts";
import {
  CARD_TEXT_ROOM,
  fitDraft,
  overflowTarget,
  stepUuid,
  streamingCard,
  summaryOf,
} from "../../src/relay/stream-card.ts";

const cost = (s: string) => Array.from(s).reduce((n, ch) => n + onceCost(ch.codePointAt(0)!), 0);

describe("stream card", () => {
  test("the streaming card is JSON 2.0, shared, streaming, with one markdown element 'content'", () => {
    expect(streamingCard("hi")).toMatchObject({
      schema: "2.0",
      config: { streaming_mode: true, update_multi: true, summary: { content: "[生成中…]" } },
      body: { elements: [{ tag: "markdown", element_id: "content", content: "hi" }] },
    });
  });

  test("a draft longer than a card shows its head, cut at a paragraph and marked; short ones are untouched", () => {
    expect(fitDraft("short")).toBe("short");
    const para = `${"长".repeat(1000)}\n\n`;
    const long = para.repeat(20);
    const fitted = fitDraft(long);
    expect(cost(fitted)).toBeLessThanOrEqual(CARD_TEXT_ROOM);
    expect(long.startsWith(fitted.slice(0, -3).trimEnd())).toBe(true);
    expect(fitted.endsWith("\n\n…")).toBe(true);
  });

  test("summary is the first 50 characters on one line", () => {
    expect(summaryOf("# Title\n\nbody")).toBe("# Title body");
    expect(summaryOf("字".repeat(60))).toBe(`${"字".repeat(50)}…`);
  });

  test("step uuids are per card and sequence, at most 64 characters", () => {
    expect(stepUuid("7355372766134157313", 12)).toBe("c_7355372766134157313_12");
    expect(stepUuid("x".repeat(80), 1).length).toBe(64);
  });

  test("overflow stays in the chat without quoting again, and in the thread for a thread reply", () => {
    const reply = { kind: "reply" as const, messageId: "om_u", replyInThread: false, chatId: "oc_1" };
    expect(overflowTarget(reply, "om_card")).toEqual({
      kind: "create",
      receiveIdType: "chat_id",
      receiveId: "oc_1",
    });
    expect(overflowTarget({ ...reply, replyInThread: true }, "om_card")).toEqual({
      kind: "reply",
      messageId: "om_card",
      replyInThread: true,
      chatId: "oc_1",
    });
    const dm = { kind: "create" as const, receiveIdType: "open_id" as const, receiveId: "ou_me" };
    expect(overflowTarget(dm, "om_card")).toBe(dm);
  });
});
