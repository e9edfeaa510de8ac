/**
 * Event envelopes, encryption and signing as the Feishu platform produces them (reference §1, §2). Pure
 * functions: the fake server wraps them with its app id, tenant key and clock.
 */
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { hex, type JsonObject, p2pChatId } from "./feishu-common.ts";
import { defaultUnionId, defaultUserId } from "./feishu-contact.ts";

export interface AppIdentity {
  appId: string;
  tenantKey: string;
  verificationToken: string;
  /** Fake clock in ms. */
  now: number;
}

export interface V2Envelope {
  schema: "2.0";
  header: {
    event_id: string;
    event_type: string;
    create_time: string;
    token: string;
    app_id: string;
    tenant_key: string;
  };
  event: JsonObject;
}

export interface V1Envelope {
  ts: string;
  uuid: string;
  token: string;
  type: "event_callback";
  event: JsonObject & { type: string };
}

export interface UrlVerification {
  challenge: string;
  token: string;
  type: "url_verification";
}

export type Envelope = V2Envelope | V1Envelope | UrlVerification;

export interface MentionInput {
  openId: string;
  name: string;
  /** Defaults to `@_user_N` by position. */
  key?: string;
}

export interface MessageEventOptions {
  eventId?: string;
  messageId?: string;
  /** Defaults to the sender's stable DM chat for p2p, a random `oc_` id for groups. */
  chatId?: string;
  chatType?: "p2p" | "group";
  senderOpenId: string;
  senderUnionId?: string;
  /** `null` mimics a tenant without the employee-id permission (the real push sends null). */
  senderUserId?: string | null;
  senderType?: string;
  /** Shorthand for msgType "text" with content {"text": text}. */
  text?: string;
  msgType?: string;
  /** Object (serialised for you) or an already serialised JSON string. */
  content?: JsonObject | string;
  mentions?: MentionInput[];
  threadId?: string;
  rootId?: string;
  parentId?: string;
  /** create_time of the message in ms (defaults to the fake clock). */
  createTime?: number;
}

export function newEventId(): string {
  return hex(16);
}

export function newMessageId(): string {
  return `om_${hex(16)}`;
}

export function v2Envelope(
  app: AppIdentity,
  eventType: string,
  event: JsonObject,
  eventId?: string,
): V2Envelope {
  return {
    schema: "2.0",
    header: {
      event_id: eventId ?? newEventId(),
      event_type: eventType,
      create_time: String(app.now),
      token: app.verificationToken,
      app_id: app.appId,
      tenant_key: app.tenantKey,
    },
    event,
  };
}

/** Legacy v1 envelope: `{ts, uuid, token, type:"event_callback", event:{type, …}}`. */
export function v1Envelope(
  app: AppIdentity,
  eventType: string,
  event: JsonObject,
  uuid?: string,
): V1Envelope {
  return {
    ts: (app.now / 1000).toFixed(7),
    uuid: uuid ?? hex(16),
    token: app.verificationToken,
    type: "event_callback",
    event: { app_id: app.appId, tenant_key: app.tenantKey, ...event, type: eventType },
  };
}

export function urlVerification(challenge: string, token: string): UrlVerification {
  return { challenge, token, type: "url_verification" };
}

function userIds(openId: string, unionId?: string, userId?: string | null): JsonObject {
  return {
    union_id: unionId ?? defaultUnionId(openId),
    user_id: userId === undefined ? defaultUserId(openId) : userId,
    open_id: openId,
  };
}

function messageContent(opts: MessageEventOptions): { type: string; content: string } {
  if (opts.content !== undefined) {
    const content = typeof opts.content === "string" ? opts.content : JSON.stringify(opts.content);
    return { type: opts.msgType ?? "text", content };
  }
  return { type: opts.msgType ?? "text", content: JSON.stringify({ text: opts.text ?? "hello" }) };
}

/** A realistic `im.message.receive_v1` v2 envelope (content is a JSON string, times are ms strings). */
export function messageEvent(app: AppIdentity, opts: MessageEventOptions): V2Envelope {
  const chatType = opts.chatType ?? "p2p";
  const chatId = opts.chatId ?? (chatType === "p2p" ? p2pChatId(opts.senderOpenId) : `oc_${hex(16)}`);
  const { type, content } = messageContent(opts);
  const createTime = String(opts.createTime ?? app.now);
  const message: JsonObject = {
    message_id: opts.messageId ?? newMessageId(),
    ...(opts.rootId ? { root_id: opts.rootId } : {}),
    ...(opts.parentId ? { parent_id: opts.parentId } : {}),
    create_time: createTime,
    update_time: createTime,
    chat_id: chatId,
    ...(opts.threadId ? { thread_id: opts.threadId } : {}),
    chat_type: chatType,
    message_type: type,
    content,
  };
  if (opts.mentions && opts.mentions.length > 0) {
    message.mentions = opts.mentions.map((m, i) => ({
      key: m.key ?? `@_user_${i + 1}`,
      id: userIds(m.openId),
      name: m.name,
      tenant_key: app.tenantKey,
    }));
  }
  const event: JsonObject = {
    sender: {
      sender_id: userIds(opts.senderOpenId, opts.senderUnionId, opts.senderUserId),
      sender_type: opts.senderType ?? "user",
      tenant_key: app.tenantKey,
    },
    message,
  };
  return v2Envelope(app, "im.message.receive_v1", event, opts.eventId);
}

/** `im.chat.member.bot.added_v1` / `deleted_v1` (reference §2.2). */
export function botMembershipEvent(
  app: AppIdentity,
  opts: { chatId: string; operatorOpenId: string; botName: string; removed?: boolean; eventId?: string },
): V2Envelope {
  const type = opts.removed ? "im.chat.member.bot.deleted_v1" : "im.chat.member.bot.added_v1";
  return v2Envelope(
    app,
    type,
    {
      chat_id: opts.chatId,
      operator_id: userIds(opts.operatorOpenId),
      external: false,
      operator_tenant_key: app.tenantKey,
      name: opts.botName,
      i18n_names: { zh_cn: opts.botName, en_us: opts.botName, ja_jp: opts.botName },
    },
    opts.eventId,
  );
}

/** `im.chat.access_event.bot_p2p_chat_entered_v1`: the user opened the DM with the bot. */
export function p2pChatEnteredEvent(
  app: AppIdentity,
  opts: { openId: string; eventId?: string },
): V2Envelope {
  return v2Envelope(
    app,
    "im.chat.access_event.bot_p2p_chat_entered_v1",
    {
      chat_id: p2pChatId(opts.openId),
      operator_id: userIds(opts.openId),
      last_message_id: "",
      last_message_create_time: "",
    },
    opts.eventId,
  );
}

// ---- crypto (the sender side of reference §1.3 / §1.4) ----

/** AES-256-CBC with key = SHA-256(encryptKey), random IV, output base64(iv ‖ ciphertext), PKCS#7 padding. */
export function encryptFeishu(
  plaintext: string,
  encryptKey: string,
  iv: Uint8Array = randomBytes(16),
): string {
  const key = createHash("sha256").update(encryptKey, "utf8").digest();
  const cipher = createCipheriv("aes-256-cbc", key, iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([iv, body]).toString("base64");
}

/** Lowercase hex SHA-256 over utf8(timestamp + nonce + encryptKey) followed by the raw body bytes. */
export function signFeishu(timestamp: string, nonce: string, encryptKey: string, rawBody: string): string {
  return createHash("sha256")
    .update(timestamp + nonce + encryptKey, "utf8")
    .update(rawBody, "utf8")
    .digest("hex");
}

/** Message ids and chat ids in an envelope, so the fake can resolve reply chat ids later. */
export function envelopeMessage(
  envelope: unknown,
): { messageId: string; chatId: string; rootId?: string; threadId?: string } | undefined {
  if (!envelope || typeof envelope !== "object" || !("event" in envelope)) return undefined;
  const event = envelope.event;
  if (!event || typeof event !== "object" || !("message" in event)) return undefined;
  const m = event.message as JsonObject | undefined;
  if (!m || typeof m.message_id !== "string" || typeof m.chat_id !== "string") return undefined;
  return {
    messageId: m.message_id,
    chatId: m.chat_id,
    rootId: typeof m.root_id === "string" ? m.root_id : undefined,
    threadId: typeof m.thread_id === "string" ? m.thread_id : undefined,
  };
}

/** Same event, re-delivered as a new push: new event_id (v2) / uuid (v1), same message_id. */
export function withNewEventId<T extends Envelope>(envelope: T): T {
  const copy = structuredClone(envelope);
  if ("schema" in copy) copy.header.event_id = newEventId();
  else if ("uuid" in copy) copy.uuid = hex(16);
  return copy;
}
