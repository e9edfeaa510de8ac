/** A plain text direct message as the inbox stores it, for tests of the inbox and what reads it. */
import type { InboundMessage } from "../../src/relay/protocol.ts";

export const textMessage = (id: string, opts: { chatId?: string; text?: string } = {}): InboundMessage => ({
  messageId: id,
  chatId: opts.chatId ?? "oc_1",
  chatType: "p2p",
  sender: { openId: "ou_1" },
  mentionedBot: false,
  msgType: "text",
  text: opts.text ?? id,
  content: { text: opts.text ?? id },
  mentions: [],
  createTime: 0,
});
