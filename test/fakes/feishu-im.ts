/** Send and reply endpoints (reference §5.1, §5.2, §5.4). */
import { createHash } from "node:crypto";
import { cardIdOf } from "./feishu-cardkit.ts";
import {
  type FakeContext,
  feishuError,
  fieldViolation,
  hex,
  isObject,
  type JsonObject,
  ok,
  p2pChatId,
  parseJsonObject,
  type Reply,
  WaitableList,
} from "./feishu-common.ts";
import type { UserDirectory } from "./feishu-contact.ts";
import { chatRateLimitReply, rateLimitReply, type SlidingWindowLimiter } from "./feishu-switches.ts";
import { msgTypeForUpload, type UploadRecord } from "./feishu-uploads.ts";

export const MSG_TYPES = [
  "text",
  "post",
  "image",
  "file",
  "audio",
  "media",
  "sticker",
  "interactive",
  "share_chat",
  "share_user",
  "system",
] as const;

export const RECEIVE_ID_TYPES = ["open_id", "union_id", "user_id", "email", "chat_id"] as const;

/** Size limits of the whole request body (reference §5.1): 150 KB for text, 30 KB for post and cards. */
export const TEXT_BODY_LIMIT = 150 * 1024;
export const RICH_BODY_LIMIT = 30 * 1024;
const UUID_TTL_MS = 60 * 60 * 1000;

export interface SentMessage {
  messageId: string;
  kind: "create" | "reply";
  receiveIdType?: string;
  receiveId?: string;
  replyTo?: string;
  replyInThread?: boolean;
  msgType: string;
  /** The parsed `content` object. */
  content: JsonObject;
  /** The `content` string exactly as sent. */
  rawContent: string;
  /** Plain text of a text message, or the joined text/md nodes of a post (handy for assertions). */
  text?: string;
  uuid?: string;
  chatId: string;
  rootId?: string;
  parentId?: string;
  threadId?: string;
  /** Fake clock time (ms) when accepted. */
  at: number;
}

interface Deduped {
  data: JsonObject;
  at: number;
}

/** What a send or reply call asked for, before the fake accepts it as a SentMessage. */
type SendRequest = Pick<
  SentMessage,
  | "kind"
  | "receiveIdType"
  | "receiveId"
  | "replyTo"
  | "replyInThread"
  | "msgType"
  | "rawContent"
  | "content"
  | "uuid"
>;

export class ImApi {
  readonly sent = new WaitableList<SentMessage>();
  dedupedSends = 0;
  chatLimiter: SlidingWindowLimiter | undefined;
  appLimiter: SlidingWindowLimiter | undefined;
  /** M2-3: card entities a card message may carry (feishu-cardkit.ts). */
  cardRefs:
    | { checkSend(cardId: string): Reply | undefined; sent(cardId: string, messageId: string): void }
    | undefined;
  private readonly uuids = new Map<string, Deduped>();

  constructor(
    private readonly ctx: FakeContext,
    private readonly directory: UserDirectory,
    /** The upload a media key was issued for (feishu-uploads.ts). */
    private readonly uploadOf: (key: string) => UploadRecord | undefined = () => undefined,
  ) {}

  reset(): void {
    this.sent.clear();
    this.dedupedSends = 0;
    this.uuids.clear();
    this.chatLimiter?.clear();
    this.appLimiter?.clear();
  }

  /** App-wide throttle (checked before the body, like the gateway does). */
  checkAppLimit(): Reply | undefined {
    if (!this.appLimiter) return undefined;
    const waitMs = this.appLimiter.hit("app", this.ctx.clock());
    if (waitMs === 0) return undefined;
    return rateLimitReply(Math.max(1, Math.ceil(waitMs / 1000)), this.appLimiter.limit);
  }

  /** POST /open-apis/im/v1/messages?receive_id_type=… or /messages/:id/reply (auth already checked). */
  handle(url: URL, rawBody: string, replyTo?: string): Reply {
    const parsed = this.parse(url, rawBody, replyTo);
    if ("status" in parsed) return parsed;
    const chat = this.resolveChat(parsed);
    if (this.chatLimiter && this.chatLimiter.hit(chat.chatId, this.ctx.clock()) > 0) {
      return chatRateLimitReply();
    }
    const now = this.ctx.clock();
    if (parsed.uuid) {
      const previous = this.uuids.get(parsed.uuid);
      if (previous && previous.at > now - UUID_TTL_MS) {
        this.dedupedSends++;
        return ok({ code: 0, msg: "success", data: previous.data });
      }
    }
    // After the uuid check: a retried card message answers as before instead of "already sent".
    const cardId = cardIdOf(parsed.msgType, parsed.content);
    const cardProblem = cardId === undefined ? undefined : this.cardRefs?.checkSend(cardId);
    if (cardProblem) return cardProblem;
    const data = this.accept(parsed, chat, now);
    if (cardId !== undefined) this.cardRefs?.sent(cardId, String(data.message_id));
    if (parsed.uuid) this.uuids.set(parsed.uuid, { data, at: now });
    return ok({ code: 0, msg: "success", data });
  }

  private parse(url: URL, rawBody: string, replyTo?: string): SendRequest | Reply {
    const body = parseJsonObject(rawBody);
    if (!body) return feishuError(400, 9499, "Bad Request: body is not a JSON object");
    const receiveIdType = url.searchParams.get("receive_id_type") ?? undefined;
    if (replyTo === undefined) {
      if (!receiveIdType) return fieldViolation("receive_id_type", "receive_id_type is required");
      if (!(RECEIVE_ID_TYPES as readonly string[]).includes(receiveIdType)) {
        return fieldViolation("receive_id_type", `invalid receive_id_type ${receiveIdType}`);
      }
      if (typeof body.receive_id !== "string" || body.receive_id === "") {
        return fieldViolation("receive_id", "receive_id is required");
      }
    } else if (!replyTo.startsWith("om_")) {
      return feishuError(
        400,
        230001,
        "Your request contains an invalid request parameter, ext=invalid message_id",
      );
    }
    const msgType = body.msg_type;
    if (typeof msgType !== "string" || !(MSG_TYPES as readonly string[]).includes(msgType)) {
      return feishuError(
        400,
        230001,
        `Your request contains an invalid request parameter, ext=invalid msg_type`,
      );
    }
    if (typeof body.content !== "string") return fieldViolation("content", "content must be a JSON string");
    const content = parseJsonObject(body.content);
    if (!content) {
      return feishuError(
        400,
        230001,
        "Your request contains an invalid request parameter, ext=invalid message content",
      );
    }
    const mediaProblem = this.checkMedia(msgType, content);
    if (mediaProblem) return mediaProblem;
    if (body.uuid !== undefined && (typeof body.uuid !== "string" || body.uuid.length > 50)) {
      return fieldViolation("uuid", "uuid must be a string of at most 50 characters");
    }
    const limit = msgType === "text" ? TEXT_BODY_LIMIT : RICH_BODY_LIMIT;
    const checkedTypes = ["text", "post", "interactive"];
    if (checkedTypes.includes(msgType) && Buffer.byteLength(rawBody, "utf8") > limit) {
      return feishuError(400, 230025, "The message you send is too long.");
    }
    return {
      kind: replyTo === undefined ? "create" : "reply",
      receiveIdType: replyTo === undefined ? receiveIdType : undefined,
      receiveId: typeof body.receive_id === "string" && replyTo === undefined ? body.receive_id : undefined,
      replyTo,
      replyInThread: replyTo === undefined ? undefined : body.reply_in_thread === true,
      msgType,
      rawContent: body.content,
      content,
      uuid: typeof body.uuid === "string" && body.uuid !== "" ? body.uuid : undefined,
    };
  }

  /**
   * image/file/audio/media content must name a key this fake issued, uploaded as the matching type
   * (opus → audio, mp4 → media, images → image, else file): 230055 otherwise (reference §11.2).
   */
  private checkMedia(msgType: string, content: JsonObject): Reply | undefined {
    if (!["image", "file", "audio", "media"].includes(msgType)) return undefined;
    const key = msgType === "image" ? content.image_key : content.file_key;
    const upload = typeof key === "string" ? this.uploadOf(key) : undefined;
    if (upload && msgTypeForUpload(upload) === msgType) return undefined;
    return feishuError(400, 230055, "The type of file upload does not match the type of message being sent.");
  }

  /** Which chat the message lands in, and its reply/thread position. */
  private resolveChat(req: SendRequest): {
    chatId: string;
    rootId?: string;
    parentId?: string;
    threadId?: string;
  } {
    if (req.kind === "reply" && req.replyTo) {
      const known = this.ctx.messages.get(req.replyTo);
      const rootId = known?.rootId ?? req.replyTo;
      // A reply to a message already in a thread stays in that thread (reference §5.2).
      const threadId = known?.threadId ?? (req.replyInThread ? threadIdFor(rootId) : undefined);
      return { chatId: known?.chatId ?? "oc_unknown", rootId, parentId: req.replyTo, threadId };
    }
    const id = req.receiveId ?? "";
    switch (req.receiveIdType) {
      case "chat_id":
        return { chatId: id };
      case "open_id":
        return { chatId: p2pChatId(id) };
      default: {
        const type =
          req.receiveIdType === "email" ? "email" : req.receiveIdType === "union_id" ? "union_id" : "user_id";
        const user = this.directory.find(id, type);
        return { chatId: p2pChatId(user?.openId ?? id) };
      }
    }
  }

  private accept(
    req: SendRequest,
    chat: { chatId: string; rootId?: string; parentId?: string; threadId?: string },
    now: number,
  ): JsonObject {
    const messageId = `om_${hex(16)}`;
    this.ctx.messages.set(messageId, { chatId: chat.chatId, rootId: chat.rootId, threadId: chat.threadId });
    this.sent.push({
      messageId,
      kind: req.kind,
      receiveIdType: req.receiveIdType,
      receiveId: req.receiveId,
      replyTo: req.replyTo,
      replyInThread: req.replyInThread,
      msgType: req.msgType,
      content: req.content,
      rawContent: req.rawContent,
      text: plainText(req.msgType, req.content),
      uuid: req.uuid,
      chatId: chat.chatId,
      rootId: chat.rootId,
      parentId: chat.parentId,
      threadId: chat.threadId,
      at: now,
    });
    return {
      message_id: messageId,
      ...(chat.rootId ? { root_id: chat.rootId, parent_id: chat.parentId } : {}),
      ...(chat.threadId ? { thread_id: chat.threadId } : {}),
      msg_type: req.msgType,
      create_time: String(now),
      update_time: String(now),
      deleted: false,
      updated: false,
      chat_id: chat.chatId,
      sender: { id: this.ctx.appId, id_type: "app_id", sender_type: "app", tenant_key: this.ctx.tenantKey },
      body: { content: req.rawContent },
    };
  }
}

function threadIdFor(rootId: string): string {
  return `omt_${createHash("sha256").update(rootId).digest("hex").slice(0, 16)}`;
}

/** Text of a text message, or of a post's text-bearing nodes (first locale, or the unwrapped form). */
export function plainText(msgType: string, content: JsonObject): string | undefined {
  if (msgType === "text") return typeof content.text === "string" ? content.text : undefined;
  if (msgType !== "post") return undefined;
  const locale = Array.isArray(content.content) ? content : Object.values(content).find(isObject);
  if (!locale || !Array.isArray(locale.content)) return undefined;
  const paragraphs = locale.content.filter(Array.isArray).map((paragraph: unknown[]) =>
    paragraph
      .filter(isObject)
      .map((node) => (typeof node.text === "string" ? node.text : ""))
      .join(""),
  );
  const title = typeof locale.title === "string" && locale.title ? [locale.title] : [];
  return [...title, ...paragraphs].join("\n");
}
