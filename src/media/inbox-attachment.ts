/**
 * Which stored attachment an `/api/media/:id` request names, for which user. Only the user whose
 * inbox holds the message finds it: for anyone else the answer is the same "not found" as for an id
 * that never existed, so another user's media cannot even be confirmed to exist.
 */
import { type MediaRef, mediaRefs, parseAttachmentId } from "../feishu/attachments.ts";
import type { InboxStore } from "../relay/inbox-store.ts";
import type { Attachment, InboundMessage } from "../relay/protocol.ts";

export interface LocatedAttachment {
  messageId: string;
  attachment: Attachment;
  /** What the download needs: the key and the resource type (stickers have none). */
  ref: MediaRef & { resourceType: NonNullable<MediaRef["resourceType"]> };
}

/** The attachment `id` names in `message`, when it is there and downloadable. Pure. */
export function attachmentIn(
  message: Pick<InboundMessage, "messageId" | "msgType" | "content" | "attachments">,
  id: string,
  index: number,
): LocatedAttachment | undefined {
  const attachment = message.attachments?.find((a) => a.id === id);
  if (!attachment) return undefined;
  // The stored content is the source of truth for the key; the frame never carried it.
  const ref = mediaRefs(message.msgType, message.content)[index];
  if (!ref?.resourceType || ref.kind !== attachment.kind) return undefined;
  return { messageId: message.messageId, attachment, ref: { ...ref, resourceType: ref.resourceType } };
}

export class InboxAttachments {
  constructor(private readonly store: Pick<InboxStore, "payloadOf" | "quotingPayload">) {}

  /** The attachment `id` names in `userId`'s inbox, or undefined (unknown id, other user, pruned). */
  async find(userId: number, id: string): Promise<LocatedAttachment | undefined> {
    const parsed = parseAttachmentId(id);
    if (!parsed) return undefined;
    const payload = await this.store.payloadOf(userId, parsed.messageId);
    if (payload !== undefined) {
      const message = parse(payload);
      return message && attachmentIn(message, id, parsed.index);
    }
    // M2-4: a quoted message's media belong to whoever received the message quoting it. Only asked
    // when the id is not the user's own message.
    const quoting = await this.store.quotingPayload(userId, parsed.messageId);
    const quoted = quoting !== undefined ? parse(quoting)?.quoted : undefined;
    if (!quoted?.content) return undefined;
    return attachmentIn({ ...quoted, content: quoted.content }, id, parsed.index);
  }
}

function parse(payload: string): InboundMessage | undefined {
  try {
    return JSON.parse(payload) as InboundMessage;
  } catch {
    return undefined;
  }
}
