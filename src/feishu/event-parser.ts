/**
 * Feishu event envelopes (feishu-reference.md §1.1, §2.1) → typed events. Pure: the webhook and the
 * long connection both feed decoded JSON through here, so both paths accept and refuse the same things.
 */
import type { InboundMessage, Mention } from "../relay/protocol.ts";
import { mediaRefs, toAttachments } from "./attachments.ts";
import { renderContent } from "./message-content.ts";
import { textWithoutBot } from "./own-mention.ts";

export const MESSAGE_EVENT = "im.message.receive_v1";
/** M2-4: the bot was added to / removed from a group (feishu-reference.md §2.2, §11.6). */
export const BOT_ADDED_EVENT = "im.chat.member.bot.added_v1";
export const BOT_REMOVED_EVENT = "im.chat.member.bot.deleted_v1";

/**
 * Longest id we accept (event_id, message_id, chat and open ids, event and message types). Feishu's
 * are 20–40 characters; these become dedupe keys, columns and log fields, so an attacker's megabyte
 * id must stop here.
 */
export const MAX_ID_LENGTH = 128;

/**
 * Event types a bot commonly subscribes to: the `type` label of `events_received_total` takes one of
 * these or `other`, so a sender cannot grow the metric without bound.
 */
const KNOWN_EVENT_TYPES = new Set([
  MESSAGE_EVENT,
  "url_verification",
  "im.message.message_read_v1",
  "im.message.recalled_v1",
  "im.message.reaction.created_v1",
  "im.message.reaction.deleted_v1",
  "im.chat.member.bot.added_v1",
  "im.chat.member.bot.deleted_v1",
  "im.chat.member.user.added_v1",
  "im.chat.member.user.deleted_v1",
  "im.chat.disbanded_v1",
  "im.chat.updated_v1",
  "im.chat.access_event.bot_p2p_chat_entered_v1",
  "application.bot.menu_v6",
  "card.action.trigger",
  "p2p_chat_create",
  "add_bot",
  "remove_bot",
  "message",
]);

/** `eventType` when it is a known type, else `other`: the bounded metric label. */
export function eventTypeLabel(eventType: string): string {
  return KNOWN_EVENT_TYPES.has(eventType) ? eventType : "other";
}

export interface EventMeta {
  /** `header.event_id` (v2) or `uuid` (v1): the dedupe key of the push. */
  eventId: string;
  eventType: string;
  /** The Verification Token the envelope carries (`header.token` or `token`). */
  token: string | undefined;
  schema: "v1" | "v2";
}

/**
 * A message as Feishu sent it; `mentionedBot`, and `text` without the bot's own mention, need the
 * bot's identity (`toInbound`).
 */
export interface ParsedMessage extends Omit<InboundMessage, "mentionedBot"> {
  /** Open ids a post mentioned directly instead of through `mentions[]`. */
  atOpenIds: string[];
  /** `message.content` as received, to render `text` again without the bot's mention. */
  rawContent: string;
}

export type FeishuEvent =
  | { kind: "challenge"; challenge: string; token: string | undefined }
  | { kind: "message"; meta: EventMeta; senderType: string; message: ParsedMessage }
  | { kind: "membership"; meta: EventMeta; membership: BotMembership }
  | { kind: "other"; meta: EventMeta };

/** The bot joined or left a group; `operatorOpenId` is who added or removed it, when Feishu says. */
export interface BotMembership {
  change: "added" | "removed";
  chatId: string;
  operatorOpenId?: string;
}

/** The body is JSON but not an event we can read (answered 400 `invalid_event`). */
export class EventParseError extends Error {
  readonly code = "invalid_event";
  constructor(message: string) {
    super(message);
    this.name = "EventParseError";
  }
}

type Json = Record<string, unknown>;

export function parseEvent(body: unknown): FeishuEvent {
  const env = object(body, "body");
  if (env.type === "url_verification") {
    return { kind: "challenge", challenge: string(env, "challenge", "body"), token: optString(env.token) };
  }
  let meta: EventMeta;
  let event: Json;
  if ("header" in env || env.schema === "2.0") {
    const header = object(env.header, "header");
    meta = {
      eventId: id(header, "event_id", "header"),
      eventType: id(header, "event_type", "header"),
      token: optString(header.token),
      schema: "v2",
    };
    event = object(env.event, "event");
  } else if ("uuid" in env || env.type === "event_callback") {
    event = object(env.event, "event");
    meta = {
      eventId: id(env, "uuid", "body"),
      eventType: id(event, "type", "event"),
      token: optString(env.token),
      schema: "v1",
    };
  } else {
    throw new EventParseError("body is neither a v2 nor a v1 Feishu event envelope");
  }
  if (meta.eventType === BOT_ADDED_EVENT || meta.eventType === BOT_REMOVED_EVENT) {
    return { kind: "membership", meta, membership: parseMembership(meta.eventType, event) };
  }
  if (meta.eventType !== MESSAGE_EVENT) return { kind: "other", meta };
  return { kind: "message", meta, ...parseMessageEvent(event) };
}

function parseMessageEvent(event: Json): { senderType: string; message: ParsedMessage } {
  const sender = object(event.sender, "event.sender");
  const senderType = id(sender, "sender_type", "event.sender");
  const ids = sender.sender_id === undefined ? {} : object(sender.sender_id, "event.sender.sender_id");
  // Bots may come without an open_id; they are dropped by type, so only users need one.
  const openId = senderType === "user" ? id(ids, "open_id", "event.sender.sender_id") : "";
  const m = object(event.message, "event.message");
  const msgType = id(m, "message_type", "event.message");
  const mentions = parseMentions(m.mentions);
  const rawContent = string(m, "content", "event.message", true);
  const rendered = renderContent(msgType, rawContent, mentions);
  const threadId = optId(m, "thread_id", "event.message");
  const rootId = optId(m, "root_id", "event.message");
  const parentId = optId(m, "parent_id", "event.message");
  const messageId = id(m, "message_id", "event.message");
  const attachments = toAttachments(messageId, mediaRefs(msgType, rendered.content));
  return {
    senderType,
    message: {
      messageId,
      chatId: id(m, "chat_id", "event.message"),
      chatType: string(m, "chat_type", "event.message") === "p2p" ? "p2p" : "group",
      ...(threadId ? { threadId } : {}),
      ...(rootId ? { rootId } : {}),
      ...(parentId ? { parentId } : {}),
      sender: { openId },
      msgType,
      text: rendered.text,
      content: rendered.content,
      mentions,
      createTime: millis(m.create_time),
      atOpenIds: rendered.atOpenIds,
      rawContent,
      ...(attachments.length > 0 ? { attachments } : {}),
    },
  };
}

function parseMembership(eventType: string, event: Json): BotMembership {
  const operator =
    event.operator_id && typeof event.operator_id === "object" ? (event.operator_id as Json) : {};
  const operatorOpenId = optId(operator, "open_id", "event.operator_id");
  return {
    change: eventType === BOT_ADDED_EVENT ? "added" : "removed",
    chatId: id(event, "chat_id", "event"),
    ...(operatorOpenId ? { operatorOpenId } : {}),
  };
}

function parseMentions(value: unknown): Mention[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item) => {
    if (!item || typeof item !== "object") return [];
    const m = item as Json;
    const id = m.id && typeof m.id === "object" ? (m.id as Json) : {};
    const key = optString(m.key);
    return key ? [{ key, openId: optString(id.open_id) ?? "", name: optString(m.name) ?? "" }] : [];
  });
}

/**
 * The frame's message: the bot counts as mentioned when a mention carries its open_id, and then its
 * mention is left out of `text` ("@Bot /reset" → "/reset"); `mentions` keeps it.
 */
export function toInbound(parsed: ParsedMessage, botOpenId: string | undefined): InboundMessage {
  const { atOpenIds, rawContent, ...message } = parsed;
  const mentionedBot =
    botOpenId !== undefined &&
    botOpenId !== "" &&
    (message.mentions.some((m) => m.openId === botOpenId) || atOpenIds.includes(botOpenId));
  if (!mentionedBot) return { ...message, mentionedBot };
  const text = textWithoutBot(message.msgType, rawContent, message.mentions, botOpenId);
  return { ...message, text, mentionedBot };
}

/**
 * The SDK's EventDispatcher hands handlers the v2 envelope flattened (`header` and `event` fields
 * merged into one object); this puts it back so the long connection parses like the webhook.
 */
export function unflattenSdkEvent(data: Json): Json {
  const { schema, event_id, event_type, create_time, token, app_id, tenant_key, ...event } = data;
  return { schema, header: { event_id, event_type, create_time, token, app_id, tenant_key }, event };
}

/** Feishu times are digit strings in ms; one documented sample has µs, and some v1 fields seconds. */
function millis(value: unknown): number {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0) return 0;
  if (n >= 1e15) return Math.floor(n / 1000);
  if (n < 1e11) return Math.floor(n * 1000);
  return Math.floor(n);
}

function object(value: unknown, path: string): Json {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new EventParseError(`${path} is missing or not an object`);
  }
  return value as Json;
}

function string(obj: Json, key: string, path: string, allowEmpty = false): string {
  const v = obj[key];
  if (typeof v !== "string" || (!allowEmpty && v === "")) {
    throw new EventParseError(`${path}.${key} is missing or not a string`);
  }
  return v;
}

/** A required id: a non-empty string of at most MAX_ID_LENGTH characters. */
function id(obj: Json, key: string, path: string): string {
  const v = string(obj, key, path);
  if (v.length > MAX_ID_LENGTH) {
    throw new EventParseError(`${path}.${key} is longer than ${MAX_ID_LENGTH} characters`);
  }
  return v;
}

/** An optional id: absent or empty is undefined; present must be within MAX_ID_LENGTH. */
function optId(obj: Json, key: string, path: string): string | undefined {
  const v = optString(obj[key]);
  return v ? id(obj, key, path) : undefined;
}

function optString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
