/**
 * The `typing_reactions` table (db/schema.ts): one row per Typing reaction the relay added and has
 * not removed yet, written before the add call so a crash leaves a trace the next start can clean.
 * Statements prepared once per database.
 */
import type { Database } from "bun:sqlite";

export interface TypingRow {
  messageId: string;
  userId: number;
  seq: number;
  /** Null while the add call is in flight (or when a crash cut it short). */
  reactionId: string | null;
  addedAt: number;
}

const COLS =
  "message_id AS messageId, user_id AS userId, seq, reaction_id AS reactionId, added_at AS addedAt";

export function typingStatements(c: Database) {
  return {
    /** 0 changes when a reaction is already held for the message. */
    claim: c.query<never, [string, number, number, number]>(
      "INSERT OR IGNORE INTO typing_reactions (message_id, user_id, seq, reaction_id, added_at) VALUES (?, ?, ?, NULL, ?)",
    ),
    added: c.query<never, [string, string]>(
      "UPDATE typing_reactions SET reaction_id = ?2 WHERE message_id = ?1",
    ),
    drop: c.query<never, [string]>("DELETE FROM typing_reactions WHERE message_id = ?"),
    get: c.query<TypingRow, [string]>(`SELECT ${COLS} FROM typing_reactions WHERE message_id = ?`),
    ackedBy: c.query<TypingRow, [number, number]>(
      `SELECT ${COLS} FROM typing_reactions WHERE user_id = ? AND seq <= ?`,
    ),
    olderThan: c.query<TypingRow, [number, number]>(
      `SELECT ${COLS} FROM typing_reactions WHERE added_at <= ? ORDER BY added_at LIMIT ?`,
    ),
    all: c.query<TypingRow, []>(`SELECT ${COLS} FROM typing_reactions`),
  };
}

export type TypingStatements = ReturnType<typeof typingStatements>;
