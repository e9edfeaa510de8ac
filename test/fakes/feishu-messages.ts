/**
 * GET /open-apis/im/v1/messages/:message_id (reference §11.4): one item for an ordinary message, a
 * merge_forward and its sub-messages (`upper_message_id`) for a forward. Messages are seeded by tests
 * (`addMessage`, `addForward`), recorded from the events the fake builds, and looked up among the
 * fake's own sends, so a reply to a bot answer can be quoted.
 *
 * Errors (all HTTP 400): 230002 bot not in the chat (`leaveChat`), 230027 no permission (group
 * messages without `im:message.group_msg`: `denyGroupMessages`), 230110 deleted or recalled
 * (`recall`). An id the fake never saw answers 230001 (invalid parameter): Feishu's own code for
 * it is unconfirmed (§11.4), and 230001 is what it answers for a malformed id.
 */
import { feishuError, hex, type JsonObject, ok, type Reply } from "./feishu-common.ts";
import type { MentionInput } from "./feishu-events.ts";
import type { SentMessage } from "./feishu-im.ts";

export interface FakeMessageInput {
  messageId?: string;
  chatId: string;
  /** Default `text` (with `text`). */
  msgType?: string;
  text?: string;
  /** Object (serialised for you) or a serialised JSON string. */
  content?: JsonObject | string;
  /** A user sender; without it the message is the app's own (`sender_type: app`). */
  senderOpenId?: string;
  mentions?: MentionInput[];
  createTime?: number;
  parentId?: string;
  rootId?: string;
  threadId?: string;
}

/** A message inside a forward: its chat defaults to the forward's. */
export type ForwardChild = Omit<FakeMessageInput, "chatId"> & { chatId?: string };
export type ForwardEntry = ForwardChild | { forward: ForwardEntry[] };

interface StoredMessage {
  item: JsonObject;
  /** The merge_forward this sub-message belongs to. */
  upper?: string;
}

/** What a reply to a recalled message answers (reference §5.2: 230011; PARITY §1.2 also 231003). */
export type RecallCode = 230011 | 231003;

export class MessagesApi {
  private readonly messages = new Map<string, StoredMessage>();
  private readonly recalled = new Map<string, RecallCode>();
  private readonly leftChats = new Set<string>();
  private groupMessagesDenied = false;
  /** Added to every read (GET message) answer: a slow Feishu (ms). */
  delayMs = 0;
  /** Ids asked for, in order. */
  readonly lookups: string[] = [];

  constructor(
    private readonly appId: string,
    private readonly tenantKey: string,
    private readonly clock: () => number,
    private readonly sentMessage: (id: string) => SentMessage | undefined,
  ) {}

  reset(): void {
    this.messages.clear();
    this.recalled.clear();
    this.leftChats.clear();
    this.groupMessagesDenied = false;
    this.delayMs = 0;
    this.lookups.length = 0;
  }

  /** Makes a message readable; returns its id. */
  addMessage(input: FakeMessageInput, upper?: string): string {
    const messageId = input.messageId ?? `om_${hex(16)}`;
    this.messages.set(messageId, { item: this.item(messageId, input, upper), upper });
    return messageId;
  }

  /**
   * A merge_forward in `chatId` holding `messages` (oldest first unless their createTime says
   * otherwise); a nested forward is `{forward: [...]}`. Returns the forward's id.
   */
  addForward(input: {
    chatId: string;
    messageId?: string;
    senderOpenId?: string;
    createTime?: number;
    messages: ForwardEntry[];
  }): string {
    const id = this.addMessage({
      messageId: input.messageId,
      chatId: input.chatId,
      msgType: "merge_forward",
      content: { content: "Merged and Forwarded Message" },
      senderOpenId: input.senderOpenId,
      createTime: input.createTime,
    });
    this.addChildren(id, input.chatId, input.messages, input.createTime ?? this.clock());
    return id;
  }

  private addChildren(upper: string, chatId: string, messages: ForwardEntry[], base: number): void {
    messages.forEach((m, i) => {
      const createTime = base - (messages.length - i) * 1000;
      if ("forward" in m) {
        const id = this.addMessage(
          {
            chatId,
            msgType: "merge_forward",
            content: { content: "Merged and Forwarded Message" },
            createTime,
          },
          upper,
        );
        this.addChildren(id, chatId, m.forward, createTime);
      } else {
        this.addMessage({ createTime, ...m, chatId: m.chatId ?? chatId }, upper);
      }
    });
  }

  /** Records a message the fake pushed as an event (its `event.message` and sender open_id). */
  recordEvent(message: JsonObject, senderOpenId: string): void {
    const id = String(message.message_id);
    if (this.messages.has(id)) return;
    this.messages.set(id, {
      item: {
        message_id: id,
        ...(message.root_id ? { root_id: message.root_id, parent_id: message.parent_id } : {}),
        ...(message.thread_id ? { thread_id: message.thread_id } : {}),
        msg_type: message.message_type,
        create_time: message.create_time,
        update_time: message.update_time,
        deleted: false,
        updated: false,
        chat_id: message.chat_id,
        sender: { id: senderOpenId, id_type: "open_id", sender_type: "user", tenant_key: this.tenantKey },
        body: { content: message.content },
        mentions: Array.isArray(message.mentions)
          ? message.mentions.map((m: JsonObject) => ({
              key: m.key,
              id: (m.id as JsonObject | undefined)?.open_id,
              id_type: "open_id",
              name: m.name,
              tenant_key: this.tenantKey,
            }))
          : [],
      },
    });
  }

  /** The message is recalled: reading it answers 230110, replying to it `replyCode`. */
  recall(messageId: string, replyCode: RecallCode = 230011): void {
    this.recalled.set(messageId, replyCode);
  }

  /** The code a reply to `messageId` answers, when it was recalled. */
  replyRefusal(messageId: string): Reply | undefined {
    const code = this.recalled.get(messageId);
    if (code === undefined) return undefined;
    return feishuError(400, code, code === 230011 ? "The message was recalled." : "message not found");
  }

  /** The bot is no longer in `chatId`: its messages answer 230002. */
  leaveChat(chatId: string): void {
    this.leftChats.add(chatId);
  }

  /** The app lacks `im:message.group_msg`: group messages answer 230027. */
  denyGroupMessages(denied = true): void {
    this.groupMessagesDenied = denied;
  }

  /** GET …/messages/:id (token already checked); the router notes the lookup in `lookups` as it arrives. */
  handle(messageId: string): Reply {
    if (this.recalled.has(messageId)) return feishuError(400, 230110, "The message has been deleted.");
    const found = this.messages.get(messageId)?.item ?? this.fromSent(messageId);
    if (!found) {
      return feishuError(
        400,
        230001,
        "Your request contains an invalid request parameter, ext=invalid message_id",
      );
    }
    const chatId = String(found.chat_id);
    if (this.leftChats.has(chatId)) return feishuError(400, 230002, "Bot is not in the chat.");
    if (this.groupMessagesDenied && !chatId.startsWith("oc_p2p_")) {
      return feishuError(400, 230027, "Lack of necessary permissions, ext=im:message.group_msg");
    }
    const items = [found];
    if (found.msg_type === "merge_forward") items.push(...this.descendants(messageId));
    return ok({ code: 0, msg: "success", data: { items } });
  }

  private descendants(id: string): JsonObject[] {
    const out: JsonObject[] = [];
    for (const m of this.messages.values()) {
      if (m.upper !== id) continue;
      out.push(m.item);
      if (m.item.msg_type === "merge_forward") out.push(...this.descendants(String(m.item.message_id)));
    }
    return out;
  }

  private fromSent(messageId: string): JsonObject | undefined {
    const sent = this.sentMessage(messageId);
    if (!sent) return undefined;
    return this.item(messageId, {
      chatId: sent.chatId,
      msgType: sent.msgType,
      content: sent.rawContent,
      createTime: sent.at,
      parentId: sent.parentId,
      rootId: sent.rootId,
      threadId: sent.threadId,
    });
  }

  private item(messageId: string, input: FakeMessageInput, upper?: string): JsonObject {
    const msgType = input.msgType ?? "text";
    const content =
      typeof input.content === "string"
        ? input.content
        : JSON.stringify(input.content ?? { text: input.text ?? "" });
    const time = String(input.createTime ?? this.clock());
    const sender = input.senderOpenId
      ? { id: input.senderOpenId, id_type: "open_id", sender_type: "user", tenant_key: this.tenantKey }
      : { id: this.appId, id_type: "app_id", sender_type: "app", tenant_key: this.tenantKey };
    return {
      message_id: messageId,
      ...(input.rootId || input.parentId
        ? { root_id: input.rootId ?? input.parentId, parent_id: input.parentId ?? input.rootId }
        : {}),
      ...(input.threadId ? { thread_id: input.threadId } : {}),
      msg_type: msgType,
      create_time: time,
      update_time: time,
      deleted: false,
      updated: false,
      chat_id: input.chatId,
      sender,
      body: { content },
      mentions: (input.mentions ?? []).map((m, i) => ({
        key: m.key ?? `@_user_${i + 1}`,
        id: m.openId,
        id_type: "open_id",
        name: m.name,
        tenant_key: this.tenantKey,
      })),
      ...(upper ? { upper_message_id: upper } : {}),
    };
  }
}
