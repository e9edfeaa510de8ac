/**
 * The outbox's SQLite adapter: one process owns the database, so a row is claimed by moving it to
 * `sending` (no lease), and the statements are prepared once.
 */
import type { Db } from "../db/open.ts";
import type { NewSend, OutboxStore, Row } from "./outbox-store.ts";

const COLS = `id, user_id AS userId, uuid, request, status, attempts, deadline_at AS deadlineAt,
  message_ids AS messageIds, last_error_code AS lastErrorCode, last_error AS lastError,
  next_attempt_at AS nextAttemptAt, media_key AS mediaKey`;

function statements(db: Db) {
  const c = db.$client;
  return {
    byUuid: c.query<Row, [number, string]>(`SELECT ${COLS} FROM outbox WHERE user_id = ? AND uuid = ?`),
    insert: c.query<Row, [number, string, string, string, number, number, number, string | null]>(
      `INSERT INTO outbox (user_id, uuid, request, status, next_attempt_at, deadline_at, created_at, updated_at,
       media_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8) ON CONFLICT DO NOTHING RETURNING ${COLS}`,
    ),
    // Committed (synchronous=FULL) before the send that uses the key: a retry never uploads again.
    mediaKey: c.query("UPDATE outbox SET media_key = ?2 WHERE id = ?1"),
    claim: c.query<Row, [number, number]>(
      `UPDATE outbox SET status = 'sending', updated_at = ?2 WHERE id = ?1 AND status = 'pending'
     RETURNING ${COLS}`,
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
      `UPDATE outbox SET status = 'sent', attempts = attempts + 1, message_ids = ?2, updated_at = ?3
       WHERE id = ?1 AND status = 'sending'`,
    ),
    retry: c.query(
      `UPDATE outbox SET status = 'pending', attempts = attempts + 1, next_attempt_at = ?2,
     last_error_code = ?3, last_error = ?4, updated_at = ?5 WHERE id = ?1 AND status = 'sending'`,
    ),
    failed: c.query(
      `UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error_code = ?2, last_error = ?3,
     updated_at = ?4 WHERE id = ?1 AND status = 'sending'`,
    ),
    finals: c.query<Row, [string]>(
      `SELECT ${COLS} FROM outbox WHERE id IN (SELECT value FROM json_each(?)) AND status IN ('sent', 'failed')`,
    ),
    recover: c.query("UPDATE outbox SET status = 'pending' WHERE status = 'sending'"),
    depth: c.query<{ n: number }, []>(
      "SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'sending')",
    ),
    prune: c.query("DELETE FROM outbox WHERE status IN ('sent', 'failed') AND updated_at <= ?"),
  };
}

export class SqliteOutboxStore implements OutboxStore {
  readonly shared = false;
  readonly #q;

  constructor(db: Db) {
    this.#q = statements(db);
  }

  async byUuid(userId: number, uuid: string) {
    return this.#q.byUuid.get(userId, uuid) ?? undefined;
  }
  async insert(s: NewSend) {
    const row = this.#q.insert.get(
      s.userId,
      s.uuid,
      s.request,
      s.status,
      s.now,
      s.deadlineAt,
      s.now,
      s.mediaId,
    );
    return row ?? undefined;
  }
  async recordMediaKey(id: number, key: string) {
    return this.#q.mediaKey.run(id, key).changes > 0;
  }
  async claimDue(userId: number, now: number, limit: number) {
    const rows: Row[] = [];
    for (const { id } of this.#q.dueOf.all(userId, now, limit)) {
      const row = this.#q.claim.get(id, now);
      if (row) rows.push(row);
    }
    return rows;
  }
  async dueUsers(now: number) {
    return this.#q.dueUsers.all(now).map((r) => r.userId);
  }
  async queuedOf(userId: number) {
    return this.#q.queuedOf.get(userId) ?? { n: 0, next: null };
  }
  async sent(id: number, messageIds: string[], now: number) {
    return this.#q.sent.run(id, JSON.stringify(messageIds), now).changes > 0;
  }
  async retry(id: number, next: number, code: string, message: string, now: number) {
    return this.#q.retry.run(id, next, code, message, now).changes > 0;
  }
  async failed(id: number, code: string, message: string, now: number) {
    return this.#q.failed.run(id, code, message, now).changes > 0;
  }
  async finals(ids: number[]) {
    return ids.length ? this.#q.finals.all(JSON.stringify(ids)) : [];
  }
  async recover(_now: number) {
    return this.#q.recover.run().changes;
  }
  async renew(_ids: number[], _now: number) {
    // One process: a claim never expires, nothing to renew.
  }
  depth() {
    return this.#q.depth.get()?.n ?? 0;
  }
  async prune(before: number) {
    return this.#q.prune.run(before).changes;
  }
}
