/**
 * The two reads that give a message its context (M2-4): a message by id with a merge_forward's
 * sub-messages (GET im/v1/messages/:id, feishu-reference.md §11.4) and a chat's name and mode (GET
 * im/v1/chats/:id, §11.6). One attempt each: the caller has a deadline, not a retry budget. Both go
 * through the `read` budget of the shared rate limiter at the lowest priority, so context never
 * takes a slot a reply could use; `feishu_api_calls_total{kind="read"}` counts them.
 */
import type { MessageItem } from "./message-context.ts";
import type { SendRateLimiter } from "./rate-limiter.ts";
import type { FeishuRestClient } from "./rest-client.ts";

export interface ChatFacts {
  name?: string;
  /** `group`, `topic` or `p2p`. */
  chatMode?: string;
}

export interface LookupOptions {
  /** Who the lookup is for (the relay's user): owners share the budget round-robin. */
  owner?: string;
  signal?: AbortSignal;
}

export class MessageLookup {
  constructor(
    private readonly client: FeishuRestClient,
    private readonly limiter: SendRateLimiter,
  ) {}

  /** The message's items: one, or a merge_forward and its sub-messages. Rejects with FeishuApiError. */
  async message(messageId: string, opts: LookupOptions = {}): Promise<MessageItem[]> {
    await this.#acquire(opts);
    const { data } = await this.client.request({
      method: "GET",
      // user_card_content: cards as the user saw them, as the official plugin asks (§11.4).
      path: `/open-apis/im/v1/messages/${encodeURIComponent(messageId)}?user_id_type=open_id&card_msg_content_type=user_card_content`,
      api: "im.message.get",
      signal: opts.signal,
    });
    return Array.isArray(data.items) ? (data.items as MessageItem[]) : [];
  }

  /** A chat's name and mode. Rejects with FeishuApiError (232006 unknown chat, 232011 not a member). */
  async chat(chatId: string, opts: LookupOptions = {}): Promise<ChatFacts> {
    await this.#acquire(opts);
    const { data } = await this.client.request({
      method: "GET",
      path: `/open-apis/im/v1/chats/${encodeURIComponent(chatId)}?user_id_type=open_id`,
      api: "im.chat.get",
      signal: opts.signal,
    });
    return {
      ...(typeof data.name === "string" && data.name ? { name: data.name } : {}),
      ...(typeof data.chat_mode === "string" && data.chat_mode ? { chatMode: data.chat_mode } : {}),
    };
  }

  #acquire(opts: LookupOptions): Promise<void> {
    return this.limiter.acquire("read", {
      kind: "read",
      priority: "reaction",
      owner: opts.owner,
      signal: opts.signal,
    });
  }
}
