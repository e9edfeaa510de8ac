/**
 * Which stored attachment an `/api/media/:id` request names, for which user. Only the user whose
 * inbox holds the message finds it: for anyone else the answer is the same "not found" as for an id
 * that never existed, so another user's media cannot even be confirmed to exist.
 */
import type { Database } from "bun:sqlite";
import { type MediaRef, mediaRefs, parseAttachmentId } from "../feishu/attachments.ts";
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
  readonly #payload;
  readonly #quoting;

  constructor(sqlite: Database) {
    this.#payload = sqlite.query<{ payload: string }, [string, number]>(
      "SELECT payload FROM inbox WHERE message_id = ? AND user_id = ?",
    );
    // M2-4: a quoted message's media belong to whoever received the message quoting it. Only asked
    // when the id is not the user's own message; it scans that user's rows alone.
    this.#quoting = sqlite.query<{ payload: string }, [number, string]>(
      `SELECT payload FROM inbox WHERE user_id = ? AND json_extract(payload, '$.quoted.messageId') = ?
       ORDER BY seq DESC LIMIT 1`,
    );
  }

  /** The attachment `id` names in `userId`'s inbox, or undefined (unknown id, other user, pruned). */
  find(userId: number, id: string): LocatedAttachment | undefined {
    const parsed = parseAttachmentId(id);
    if (!parsed) return undefined;
    const row = this.#payload.get(parsed.messageId, userId);
    if (row) {
      const message = parse(row.payload);
      return message && attachmentIn(message, id, parsed.index);
    }
    const quoting = this.#quoting.get(userId, parsed.messageId);
    const quoted = quoting ? parse(quoting.payload)?.quoted : undefined;
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
