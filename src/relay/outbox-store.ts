/**
 * The outbox's table (db/schema.ts `outbox`): its row shape and the prepared statements the outbox
 * runs, prepared once per database.
 */
import type { Database } from "bun:sqlite";
import type { SendRequest } from "./protocol.ts";
import type { DeliveryTarget } from "./targets.ts";

export interface Row {
  id: number;
  userId: number;
  uuid: string;
  request: string;
  status: "pending" | "sending" | "sent" | "failed";
  attempts: number;
  deadlineAt: number;
  nextAttemptAt: number;
  messageIds: string | null;
  lastErrorCode: string | null;
  lastError: string | null;
  /** M2-2: Feishu's key of the uploaded media, once uploaded. */
  mediaKey: string | null;
}

/** The `request` column: where the send goes and what it says. */
export interface Stored {
  target: DeliveryTarget;
  req: SendRequest;
}

export function outboxStatements(c: Database) {
  const cols = `id, user_id AS userId, uuid, request, status, attempts, deadline_at AS deadlineAt,
    message_ids AS messageIds, last_error_code AS lastErrorCode, last_error AS lastError,
    next_attempt_at AS nextAttemptAt, media_key AS mediaKey`;
  return {
    byUuid: c.query<Row, [number, string]>(`SELECT ${cols} FROM outbox WHERE user_id = ? AND uuid = ?`),
    insert: c.query<Row, [number, string, string, string, number, number, number, string | null]>(
      `INSERT INTO outbox (user_id, uuid, request, status, next_attempt_at, deadline_at, created_at, updated_at,
       media_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8) RETURNING ${cols}`,
    ),
    // Committed (synchronous=FULL) before the send that uses the key: a retry never uploads again.
    mediaKey: c.query("UPDATE outbox SET media_key = ?2 WHERE id = ?1"),
    claim: c.query<Row, [number, number]>(
      `UPDATE outbox SET status = 'sending', updated_at = ?2 WHERE id = ?1 AND status = 'pending'
     RETURNING ${cols}`,
    ),
    dueUsers: c.query<{ userId: number }, [number]>(
      "SELECT DISTINCT user_id AS userId FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?",
    ),
    // Oldest first: a user's sends go out in the order they were made.
    dueOf: c.query<{ id: number }, [number, number, number]>(
      `SELECT id FROM outbox WHERE user_id = ? AND status = 'pending' AND next_attempt_at <= ?
     ORDER BY id LIMIT ?`,
    ),
    queuedOf: c.query<{ n: number; next: number | null }, [number]>(
      `SELECT count(*) AS n, min(CASE WHEN status = 'pending' THEN next_attempt_at END) AS next
     FROM outbox WHERE user_id = ? AND status IN ('pending', 'sending')`,
    ),
    sent: c.query(
      "UPDATE outbox SET status = 'sent', attempts = attempts + 1, message_ids = ?2, updated_at = ?3 WHERE id = ?1",
    ),
    retry: c.query(
      `UPDATE outbox SET status = 'pending', attempts = attempts + 1, next_attempt_at = ?2,
     last_error_code = ?3, last_error = ?4, updated_at = ?5 WHERE id = ?1`,
    ),
    failed: c.query(
      `UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error_code = ?2, last_error = ?3,
     updated_at = ?4 WHERE id = ?1`,
    ),
    recover: c.query("UPDATE outbox SET status = 'pending' WHERE status = 'sending'"),
    depth: c.query<{ n: number }, []>(
      "SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'sending')",
    ),
    prune: c.query("DELETE FROM outbox WHERE status IN ('sent', 'failed') AND updated_at <= ?"),
  };
}
