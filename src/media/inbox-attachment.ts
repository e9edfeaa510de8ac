/**
 * Which stored attachment an `/api/media/:id` request names, for which user. Only the user whose
 * inbox holds the message finds it: for anyone else the answer is the same "not found" as for an id
 * that never existed, so another user's media cannot even be confirmed to exist. The inbox rows
 * are read through a small port (`InboxPayloads`) with SQLite and PostgreSQL adapters.
 */
import type { Database } from "bun:sqlite";
import { and, desc, eq, sql } from "drizzle-orm";
import { inbox } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import { type MediaRef, mediaRefs, parseAttachmentId } from "../feishu/attachments.ts";
import type { Attachment, InboundMessage } from "../relay/protocol.ts";
import type { Storage } from "../storage/storage.ts";

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

/** The inbox rows an attachment lookup reads. */
export interface InboxPayloads {
  /** The payload of the user's own message `messageId`. */
  payload(userId: number, messageId: string): Promise<string | undefined>;
  /**
   * M2-4: a quoted message's media belong to whoever received the message quoting it: the payload
   * of the user's newest message quoting `messageId`. Only asked when the id is not the user's own
   * message; it scans that user's rows alone.
   */
  quoting(userId: number, messageId: string): Promise<string | undefined>;
}

export function createInboxPayloads(storage: Storage): InboxPayloads {
  return storage.dialect === "sqlite"
    ? new SqliteInboxPayloads(storage.db.$client)
    : new PostgresInboxPayloads(storage.db);
}

export class SqliteInboxPayloads implements InboxPayloads {
  readonly #payload;
  readonly #quoting;

  constructor(sqlite: Database) {
    this.#payload = sqlite.query<{ payload: string }, [string, number]>(
      "SELECT payload FROM inbox WHERE message_id = ? AND user_id = ?",
    );
    this.#quoting = sqlite.query<{ payload: string }, [number, string]>(
      `SELECT payload FROM inbox WHERE user_id = ? AND json_extract(payload, '$.quoted.messageId') = ?
       ORDER BY seq DESC LIMIT 1`,
    );
  }

  async payload(userId: number, messageId: string) {
    return this.#payload.get(messageId, userId)?.payload;
  }
  async quoting(userId: number, messageId: string) {
    return this.#quoting.get(userId, messageId)?.payload;
  }
}

/** The quoted message's id inside a stored payload; JSON paths have no query-builder form. */
const QUOTED_MESSAGE_ID = sql`(${inbox.payload}::jsonb -> 'quoted' ->> 'messageId')`;

export class PostgresInboxPayloads implements InboxPayloads {
  constructor(private readonly db: PgDb) {}

  async payload(userId: number, messageId: string) {
    const [row] = await this.db
      .select({ payload: inbox.payload })
      .from(inbox)
      .where(and(eq(inbox.messageId, messageId), eq(inbox.userId, userId)));
    return row?.payload;
  }
  async quoting(userId: number, messageId: string) {
    const [row] = await this.db
      .select({ payload: inbox.payload })
      .from(inbox)
      .where(and(eq(inbox.userId, userId), sql`${QUOTED_MESSAGE_ID} = ${messageId}`))
      .orderBy(desc(inbox.seq))
      .limit(1);
    return row?.payload;
  }
}

export class InboxAttachments {
  constructor(private readonly rows: InboxPayloads) {}

  /** The attachment `id` names in `userId`'s inbox, or undefined (unknown id, other user, pruned). */
  async find(userId: number, id: string): Promise<LocatedAttachment | undefined> {
    const parsed = parseAttachmentId(id);
    if (!parsed) return undefined;
    const own = await this.rows.payload(userId, parsed.messageId);
    if (own !== undefined) {
      const message = parse(own);
      return message && attachmentIn(message, id, parsed.index);
    }
    const quoting = await this.rows.quoting(userId, parsed.messageId);
    const quoted = quoting ? parse(quoting)?.quoted : undefined;
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
