/**
 * GET /open-apis/im/v1/chats/:chat_id (reference §11.6): a chat's name, `chat_mode` and, for normal
 * groups, `group_message_type`. Chats are seeded by tests (`addChat`). Errors (HTTP 400): 232006
 * for a chat the fake does not know, 232011 when the bot is not in it (`leave`).
 */
import { feishuError, ok, type Reply } from "./feishu-common.ts";

export interface FakeChatInput {
  chatId: string;
  /** Absent: the chat has no name (Feishu then leaves the field out). */
  name?: string;
  /** Default `group`. */
  chatMode?: "group" | "topic" | "p2p";
  /** Normal groups only; default `chat`. */
  groupMessageType?: "chat" | "thread";
}

export class ChatsApi {
  private readonly chats = new Map<string, FakeChatInput>();
  private readonly left = new Set<string>();
  /** Added to every answer: a slow Feishu (ms). */
  delayMs = 0;
  /** Chat ids asked for, in order. */
  readonly lookups: string[] = [];

  constructor(private readonly tenantKey: string) {}

  reset(): void {
    this.chats.clear();
    this.left.clear();
    this.delayMs = 0;
    this.lookups.length = 0;
  }

  addChat(input: FakeChatInput): void {
    this.chats.set(input.chatId, input);
  }

  /** The bot left the chat: it answers 232011. */
  leave(chatId: string): void {
    this.left.add(chatId);
  }

  /** GET …/chats/:id (token already checked); the router notes the lookup in `lookups` as it arrives. */
  handle(chatId: string): Reply {
    const chat = this.chats.get(chatId);
    if (!chat) return feishuError(400, 232006, "invalid chat_id");
    if (this.left.has(chatId))
      return feishuError(
        400,
        232011,
        "operator and chat can NOT be in different tenants or the bot is not in the chat",
      );
    const mode = chat.chatMode ?? "group";
    return ok({
      code: 0,
      msg: "success",
      data: {
        ...(chat.name !== undefined ? { name: chat.name } : {}),
        avatar: "https://example.invalid/avatar.png",
        description: "",
        chat_mode: mode,
        ...(mode === "group" ? { group_message_type: chat.groupMessageType ?? "chat" } : {}),
        ...(mode === "p2p" ? {} : { chat_type: "private" }),
        chat_tag: "inner",
        external: false,
        tenant_key: this.tenantKey,
        user_count: "3",
        bot_count: "1",
        chat_status: "normal",
      },
    });
  }
}
