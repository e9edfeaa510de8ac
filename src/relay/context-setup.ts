/**
 * Builds the message context (M2-4) for the composition root: the lookups through the shared
 * client and rate limiter, the chat-name cache on `chat_info`, and the enricher the inbox consults
 * for every stored message. Nothing at all with FEISHU_CONTEXT=false.
 */
import type { RelayContext } from "../context.ts";
import { ChatInfo } from "../feishu/chat-info.ts";
import type { Feishu } from "../feishu/index.ts";
import { MessageLookup } from "../feishu/message-lookup.ts";
import { ContextEnricher } from "./context-enricher.ts";

export function startMessageContext(ctx: RelayContext, feishu: Feishu): ContextEnricher | undefined {
  const { config } = ctx;
  if (!config.FEISHU_CONTEXT) return undefined;
  const lookup = new MessageLookup(feishu.client, feishu.limiter);
  const ttlMs = config.CHAT_INFO_TTL * 1000;
  const chats = new ChatInfo(ctx.chatInfo, {
    fetchChat: (chatId, signal) => lookup.chat(chatId, { signal }),
    ttlMs,
    now: ctx.now,
  });
  const enricher = new ContextEnricher({
    message: (messageId, opts) => lookup.message(messageId, opts),
    chats,
    userName: async (openId) => (await feishu.directory.user(openId)).name,
    timeoutMs: config.FEISHU_CONTEXT_TIMEOUT * 1000,
    nameTtlMs: ttlMs,
    log: ctx.log.child({ module: "message_context" }),
    metrics: ctx.metrics,
    publicUrl: config.PUBLIC_URL,
    now: ctx.now,
  });
  ctx.inbox.useContext(enricher);
  return enricher;
}
