/**
 * What a streaming card looks like (feishu-reference.md §11.5 b) and how text is fitted into it.
 * Pure: no I/O, deterministic.
 */
import { onceCost, splitText } from "../feishu/outgoing-content.ts";
import type { DeliveryTarget } from "./targets.ts";

/** The markdown element every draft and the final write into. */
export const CONTENT_ELEMENT = "content";
/** Chat-list preview while the answer is generated. */
export const STREAMING_SUMMARY = "[生成中…]";
/** Bytes of element text a card holds (Feishu: 30 KB per card, JSON-escaped once in the body). */
export const CARD_TEXT_ROOM = 27_000;
const SUMMARY_CHARS = 50;
const TRIMMED_MARK = "\n\n…";

/** The JSON 2.0 card a stream starts with: streaming on, one markdown element holding `text`. */
export function streamingCard(text: string): Record<string, unknown> {
  return {
    schema: "2.0",
    config: {
      streaming_mode: true,
      update_multi: true,
      summary: { content: STREAMING_SUMMARY },
      streaming_config: {
        print_frequency_ms: { default: 50 },
        print_step: { default: 1 },
        print_strategy: "fast",
      },
    },
    body: { elements: [markdownElement(text)] },
  };
}

export function markdownElement(text: string): Record<string, unknown> {
  return { tag: "markdown", element_id: CONTENT_ELEMENT, content: text };
}

/** The card message's content: a reference to the card entity. */
export function cardMessageContent(cardId: string): Record<string, unknown> {
  return { type: "card", data: { card_id: cardId } };
}

/**
 * A draft as the card can show it: the head of a text too long for one card, cut at a paragraph
 * or line and marked, so a very long answer keeps streaming instead of failing.
 */
export function fitDraft(text: string, room = CARD_TEXT_ROOM): string {
  let cost = 0;
  for (const ch of text) {
    cost += onceCost(ch.codePointAt(0)!);
    if (cost > room) return (splitText(text, room - 16, onceCost)[0] ?? "") + TRIMMED_MARK;
  }
  return text;
}

/** The chat-list preview once streaming ends: the text's first characters on one line. */
export function summaryOf(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  const chars = Array.from(line);
  return chars.length <= SUMMARY_CHARS ? line : `${chars.slice(0, SUMMARY_CHARS).join("")}…`;
}

/** CardKit uuids (≤ 64 characters): one per card and sequence, so each step is idempotent. */
export function stepUuid(cardId: string, sequence: number): string {
  return `c_${cardId}_${sequence}`.slice(0, 64);
}

/**
 * Where text that overflows the card goes: the same chat, without quoting the user's message again;
 * a reply in a thread stays in the thread (as a reply to the card).
 */
export function overflowTarget(target: DeliveryTarget, cardMessageId: string): DeliveryTarget {
  if (target.kind === "create") return target;
  if (target.replyInThread)
    return { kind: "reply", messageId: cardMessageId, replyInThread: true, chatId: target.chatId };
  return { kind: "create", receiveIdType: "chat_id", receiveId: target.chatId };
}
