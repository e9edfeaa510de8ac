/**
 * Who a plugin may address (DESIGN §4): its owner, chats its owner's messages came from, and message
 * ids delivered to it. Everything else is `forbidden_target`.
 */
import type { Awaitable } from "../storage/storage.ts";
import type { SendRequest } from "./protocol.ts";

export type DeliveryTarget =
  | { kind: "reply"; messageId: string; replyInThread: boolean; chatId: string }
  | { kind: "create"; receiveIdType: "open_id" | "chat_id"; receiveId: string };

export interface TargetFacts {
  /** The chat/thread of a message delivered to this user, or undefined. */
  deliveredMessage(
    userId: number,
    messageId: string,
  ): Awaitable<{ chatId: string; threadId?: string } | undefined>;
  chatAllowed(userId: number, chatId: string): Awaitable<boolean>;
}

export type TargetResult =
  | { ok: true; target: DeliveryTarget }
  | { ok: false; code: string; message: string };

const forbidden = (message: string): TargetResult => ({ ok: false, code: "forbidden_target", message });

export async function resolveTarget(
  facts: TargetFacts,
  owner: { id: number; openId: string },
  req: Pick<SendRequest, "replyTo" | "to">,
): Promise<TargetResult> {
  if (req.replyTo && req.to)
    return { ok: false, code: "bad_request", message: "give replyTo or to, not both" };
  if (req.replyTo) {
    const original = await facts.deliveredMessage(owner.id, req.replyTo);
    if (!original) return forbidden("replyTo is not a message delivered to you");
    const target = {
      kind: "reply" as const,
      messageId: req.replyTo,
      replyInThread: Boolean(original.threadId),
      // Lets the per-chat rate limit cover replies too.
      chatId: original.chatId,
    };
    return { ok: true, target };
  }
  if (!req.to)
    return { ok: true, target: { kind: "create", receiveIdType: "open_id", receiveId: owner.openId } };
  if (req.to.startsWith("user:")) {
    const openId = req.to.slice(5);
    if (openId !== owner.openId) return forbidden("you may only message yourself directly");
    return { ok: true, target: { kind: "create", receiveIdType: "open_id", receiveId: openId } };
  }
  const chatId = req.to.slice(5);
  if (!(await facts.chatAllowed(owner.id, chatId)))
    return forbidden("no message of yours came from that chat");
  return { ok: true, target: { kind: "create", receiveIdType: "chat_id", receiveId: chatId } };
}
