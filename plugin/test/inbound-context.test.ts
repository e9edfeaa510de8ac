/** What the agent sees of a frame: session peers per scope, bot mention, quoted and forwarded context. */
import { describe, expect, test } from "bun:test";
import { parseGroupSessionScope, resolveAccount } from "../src/config.ts";
import {
  agentText,
  chatLabel,
  commandAuthorized,
  forwardedBlock,
  quotedFacts,
  sessionPeer,
  withoutBotMention,
} from "../src/inbound-context.ts";
import { messageFrame, OWNER } from "./helpers/fake-relay.ts";

const BOT = { openId: "ou_bot", name: "OpenClaw助手" };
const group = (extra: Parameters<typeof messageFrame>[1] = {}) =>
  messageFrame(1, {
    chatType: "group",
    chatId: "oc_g",
    sender: { openId: "ou_member", name: "李雷" },
    mentionedBot: true,
    mentions: [{ key: "@_user_1", openId: BOT.openId, name: BOT.name }],
    ...extra,
  });

describe("groupSessionScope", () => {
  test("config: the four official values, anything else is the default group", () => {
    for (const v of ["group", "group_sender", "group_topic", "group_topic_sender"]) {
      expect(parseGroupSessionScope(v)).toBe(v as never);
    }
    expect(parseGroupSessionScope(undefined)).toBe("group");
    expect(parseGroupSessionScope("topic")).toBe("group");
    const cfg = {
      channels: {
        "feishu-relay": { relayUrl: "ws://x/openclaw", token: "t", groupSessionScope: "group_topic" },
      },
    };
    expect(resolveAccount(cfg).groupSessionScope).toBe("group_topic");
    expect(resolveAccount({ channels: { "feishu-relay": {} } }).groupSessionScope).toBe("group");
  });

  test("direct messages are per sender whatever the scope", () => {
    expect(sessionPeer(messageFrame(1), "group_topic_sender")).toEqual({
      peer: { kind: "direct", id: OWNER.openId },
    });
  });

  test("group: one session per chat (today's behaviour), topics and senders alike", () => {
    expect(sessionPeer(group({ threadId: "omt_1" }), "group")).toEqual({
      peer: { kind: "group", id: "oc_g" },
    });
    expect(sessionPeer(group())).toEqual({ peer: { kind: "group", id: "oc_g" } });
  });

  test("group_sender: per sender in the chat, the group as parent", () => {
    expect(sessionPeer(group(), "group_sender")).toEqual({
      peer: { kind: "group", id: "oc_g:sender:ou_member" },
      parentPeer: { kind: "group", id: "oc_g" },
    });
  });

  test("group_topic: per topic (thread id, else root id); outside a topic the group", () => {
    expect(sessionPeer(group({ threadId: "omt_1", rootId: "om_root" }), "group_topic")).toEqual({
      peer: { kind: "group", id: "oc_g:topic:omt_1" },
      parentPeer: { kind: "group", id: "oc_g" },
    });
    expect(sessionPeer(group({ rootId: "om_root" }), "group_topic").peer.id).toBe("oc_g:topic:om_root");
    expect(sessionPeer(group(), "group_topic")).toEqual({ peer: { kind: "group", id: "oc_g" } });
  });

  test("group_topic_sender: per sender in a topic; outside a topic per sender", () => {
    expect(sessionPeer(group({ threadId: "omt_1" }), "group_topic_sender")).toEqual({
      peer: { kind: "group", id: "oc_g:topic:omt_1:sender:ou_member" },
      parentPeer: { kind: "group", id: "oc_g" },
    });
    expect(sessionPeer(group(), "group_topic_sender").peer.id).toBe("oc_g:sender:ou_member");
  });
});

describe("bot mention", () => {
  test("an M2-4 relay's text is left alone", () => {
    expect(withoutBotMention(group({ text: "/status" }), BOT)).toBe("/status");
  });

  test('an older relay\'s "@<bot name> /status" becomes /status; other mentions stay', () => {
    expect(withoutBotMention(group({ text: `@${BOT.name} /status` }), BOT)).toBe("/status");
    expect(withoutBotMention(group({ text: `@韩梅梅 看看 @${BOT.name}` }), BOT)).toBe("@韩梅梅 看看");
  });

  test("kept when the bot was not mentioned, the name is unknown, or the name is only a prefix", () => {
    const text = `@${BOT.name} hi`;
    expect(withoutBotMention(group({ text, mentionedBot: false }), BOT)).toBe(text);
    expect(withoutBotMention(group({ text }), undefined)).toBe(text);
    expect(withoutBotMention(group({ text: `@${BOT.name}2 hi` }), BOT)).toBe(`@${BOT.name}2 hi`);
    expect(withoutBotMention(group({ text, mentions: [] }), BOT)).toBe(text);
  });
});

describe("quoted and forwarded", () => {
  test("quoted → reply-to id, body and the sender's name (else open_id)", () => {
    expect(
      quotedFacts({
        messageId: "om_p",
        senderOpenId: "ou_h",
        senderName: "韩梅梅",
        msgType: "text",
        text: "上周的数据在哪？",
      }),
    ).toEqual({ id: "om_p", body: "上周的数据在哪？", sender: "韩梅梅" });
    expect(quotedFacts({ messageId: "om_p", senderOpenId: "ou_h", msgType: "text", text: "x" })?.sender).toBe(
      "ou_h",
    );
    expect(quotedFacts({ messageId: "om_p", senderType: "app", msgType: "text", text: "x" })?.sender).toBe(
      "bot",
    );
    expect(quotedFacts(undefined)).toBeUndefined();
  });

  test("forwarded → a readable block after the text, oldest first, saying when truncated", () => {
    const forwarded = {
      messages: [
        { messageId: "om_1", senderName: "韩梅梅", msgType: "text", text: "第一条" },
        { messageId: "om_2", senderOpenId: "ou_y", msgType: "text", text: "second" },
      ],
      truncated: false,
    };
    expect(agentText("[merge_forward: 2 messages]", forwarded)).toBe(
      "[merge_forward: 2 messages]\n\n[Forwarded chat: 2 messages, oldest first]\n韩梅梅: 第一条\nou_y: second\n[End of forwarded chat]",
    );
    expect(forwardedBlock({ ...forwarded, truncated: true })).toEndWith(
      "[Forwarded chat truncated: some messages were left out]",
    );
    expect(agentText("hi", undefined)).toBe("hi");
    expect(agentText("hi", { messages: [], truncated: false })).toBe("hi");
  });

  test("the group's name labels the chat when the relay sent one", () => {
    expect(chatLabel(group({ chatName: "产品周会" }))).toBe("产品周会");
    expect(chatLabel(group())).toBe("oc_g");
  });
});

describe("commands", () => {
  test("only the owner's commands are authorized; a bound group's member is not", () => {
    expect(commandAuthorized(group({ sender: { openId: OWNER.openId } }), OWNER.openId)).toBe(true);
    expect(commandAuthorized(group({ boundChat: true }), OWNER.openId)).toBe(false);
    expect(commandAuthorized(group(), undefined)).toBe(false);
  });
});
