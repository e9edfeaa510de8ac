/**
 * The `streams` table (db/schema.ts): one streaming card per (user, stream id), and the prepared
 * statements the stream manager runs, prepared once per database. `sequence` is written before each
 * card call so a restart continues above it; `shown_text` after each call Feishu accepted.
 */
import type { Database } from "bun:sqlite";

export type StreamStatus = "opening" | "open" | "closed" | "final" | "failed";

export interface StreamRow {
  id: number;
  userId: number;
  streamId: string;
  /** DeliveryTarget as JSON. */
  target: string;
  cardId: string | null;
  messageId: string | null;
  sequence: number;
  shownText: string;
  status: StreamStatus;
  updatedAt: number;
}

export function streamStatements(c: Database) {
  const cols = `id, user_id AS userId, stream_id AS streamId, target, card_id AS cardId,
    message_id AS messageId, sequence, shown_text AS shownText, status, updated_at AS updatedAt`;
  return {
    byStream: c.query<StreamRow, [number, string]>(
      `SELECT ${cols} FROM streams WHERE user_id = ? AND stream_id = ?`,
    ),
    /** Undefined when the stream exists already (the unique index decides). */
    insert: c.query<StreamRow, [number, string, string, number]>(
      `INSERT INTO streams (user_id, stream_id, target, status, created_at, updated_at)
       VALUES (?1, ?2, ?3, 'opening', ?4, ?4) ON CONFLICT DO NOTHING RETURNING ${cols}`,
    ),
    opened: c.query<never, [number, string, string, string, number]>(
      `UPDATE streams SET card_id = ?2, message_id = ?3, shown_text = ?4, status = 'open', updated_at = ?5
       WHERE id = ?1`,
    ),
    cardCreated: c.query<never, [number, string, number]>(
      "UPDATE streams SET card_id = ?2, updated_at = ?3 WHERE id = ?1",
    ),
    sequence: c.query<never, [number, number]>("UPDATE streams SET sequence = ?2 WHERE id = ?1"),
    shown: c.query<never, [number, string, number]>(
      "UPDATE streams SET shown_text = ?2, updated_at = ?3 WHERE id = ?1",
    ),
    status: c.query<never, [number, string, number]>(
      "UPDATE streams SET status = ?2, updated_at = ?3 WHERE id = ?1",
    ),
    unfinished: c.query<StreamRow, []>(
      `SELECT ${cols} FROM streams WHERE status IN ('opening', 'open') ORDER BY id`,
    ),
    prune: c.query<never, [number]>(
      "DELETE FROM streams WHERE status IN ('closed', 'final', 'failed') AND updated_at <= ?",
    ),
  };
}

export type StreamStatements = ReturnType<typeof streamStatements>;
