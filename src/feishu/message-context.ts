/**
 * Messages fetched with GET im/v1/messages/:id (feishu-reference.md §11.4) → the `quoted` and
 * `forwarded` fields of a `message` frame (docs/protocol.md "Groups and context"). Pure: content is
 * rendered by the same renderer as inbound messages (message-content.ts), media become attachments
 * as for inbound messages (attachments.ts).
 */
import type { ContextMessage, Forwarded, Mention } from "../relay/protocol.ts";
import { mediaRefs, toAttachments, withMediaUrls } from "./attachments.ts";
import { renderContent } from "./message-content.ts";

/** Bounds of a forwarded chat in one frame (the official plugin's figures). */
export const FORWARD_MAX_MESSAGES = 50;
export const FORWARD_MAX_CHARS = 20_000;
const MERGE_FORWARD = "merge_forward";

/** One `data.items[]` entry, as far as we read it. */
export interface MessageItem {
  message_id?: unknown;
  msg_type?: unknown;
  create_time?: unknown;
  deleted?: unknown;
  upper_message_id?: unknown;
  sender?: unknown;
  body?: unknown;
  mentions?: unknown;
}

type Json = Record<string, unknown>;

/** The one-line `text` of a merge_forward once its messages are known: `[合并转发: 12 条消息]`. */
export function forwardSummary(count: number): string {
  return `[合并转发: ${count} 条消息]`;
}

/**
 * One item → a context message; undefined for an item without an id (nothing to refer to).
 * `quoted`: the message is the one replied to, whose media can be downloaded: it keeps its parsed
 * content (the media keys) and its attachments. Sub-messages of a forward get neither: Feishu does
 * not serve their resources (feishu-reference.md §11.1, 234043).
 */
export function toContextMessage(
  item: MessageItem,
  publicUrl?: string,
  opts: { quoted?: boolean } = { quoted: true },
): ContextMessage | undefined {
  const messageId = str(item.message_id);
  if (!messageId) return undefined;
  const msgType = str(item.msg_type) || "unknown";
  const mentions = parseMentions(item.mentions);
  const body = obj(item.body);
  const raw = typeof body?.content === "string" ? body.content : "";
  const deleted = item.deleted === true;
  const rendered = deleted ? undefined : renderContent(msgType, raw, mentions);
  const sender = obj(item.sender) ?? {};
  const senderType = str(sender.sender_type);
  const senderOpenId = str(sender.id_type) === "open_id" || senderType === "user" ? str(sender.id) : "";
  const createTime = Number(item.create_time);
  const quoted = opts.quoted === true && rendered !== undefined;
  let attachments = quoted ? toAttachments(messageId, mediaRefs(msgType, rendered.content)) : [];
  if (publicUrl && attachments.length > 0) attachments = withMediaUrls(attachments, publicUrl);
  return {
    messageId,
    ...(senderOpenId?.startsWith("ou_") ? { senderOpenId } : {}),
    ...(senderType ? { senderType: senderType === "app" ? "app" : "user" } : {}),
    msgType,
    text: rendered ? rendered.text : "[deleted]",
    ...(Number.isFinite(createTime) && createTime > 0 ? { createTime } : {}),
    ...(attachments.length > 0 ? { attachments } : {}),
    ...(quoted ? { content: rendered.content } : {}),
  };
}

/**
 * A merge_forward's answer (the forward itself and its sub-messages, nested forwards linked by
 * `upper_message_id`) → its messages depth first, each level oldest first. A nested forward appears
 * as its summary line followed by its own messages. Bounded by count and total characters; the last
 * message that does not fit whole is cut, and `truncated` says so. `total` counts every sub-message.
 */
export function toForwarded(
  items: MessageItem[],
  rootId: string,
  publicUrl?: string,
): { forwarded: Forwarded; total: number } {
  const children = new Map<string, MessageItem[]>();
  for (const item of items) {
    const upper = str(item.upper_message_id);
    const id = str(item.message_id);
    // The root has no upper id; an item naming itself would loop.
    if (!upper || upper === id) continue;
    const list = children.get(upper);
    if (list) list.push(item);
    else children.set(upper, [item]);
  }
  const ordered: MessageItem[] = [];
  const seen = new Set<string>([rootId]);
  const walk = (id: string) => {
    const list = [...(children.get(id) ?? [])].sort((a, b) => time(a) - time(b));
    for (const item of list) {
      const childId = str(item.message_id);
      if (!childId || seen.has(childId)) continue;
      seen.add(childId);
      ordered.push(item);
      if (item.msg_type === MERGE_FORWARD) walk(childId);
    }
  };
  walk(rootId);
  const messages: ContextMessage[] = [];
  let chars = 0;
  let truncated = false;
  for (const item of ordered) {
    const message = toContextMessage(item, publicUrl, { quoted: false });
    if (!message) continue;
    if (message.msgType === MERGE_FORWARD) {
      message.text = forwardSummary(children.get(message.messageId)?.length ?? 0);
    }
    if (messages.length >= FORWARD_MAX_MESSAGES || chars >= FORWARD_MAX_CHARS) {
      truncated = true;
      break;
    }
    const room = FORWARD_MAX_CHARS - chars;
    if (message.text.length > room) {
      // The ellipsis counts too: the bound is on what the agent reads.
      message.text = `${message.text.slice(0, Math.max(0, room - 1))}…`;
      truncated = true;
    }
    chars += message.text.length;
    messages.push(message);
  }
  return { forwarded: { messages, truncated }, total: ordered.length };
}

/** The root of a merge_forward answer: the item without an upper id, or the one asked for. */
export function forwardRoot(items: MessageItem[], messageId: string): MessageItem | undefined {
  return (
    items.find((i) => str(i.message_id) === messageId) ??
    items.find((i) => i.msg_type === MERGE_FORWARD && !str(i.upper_message_id))
  );
}

/** `mentions[]` of a fetched item: `id` is a string there (`id_type` says which), unlike in events. */
function parseMentions(value: unknown): Mention[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((m) => {
    const mention = obj(m);
    const key = str(mention?.key);
    if (!mention || !key) return [];
    const id = typeof mention.id === "string" ? mention.id : str(obj(mention.id)?.open_id);
    return [{ key, openId: id ?? "", name: str(mention.name) ?? "" }];
  });
}

function time(item: MessageItem): number {
  const n = Number(item.create_time);
  return Number.isFinite(n) ? n : 0;
}

function obj(value: unknown): Json | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
