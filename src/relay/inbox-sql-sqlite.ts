/**
 * The SQLite inbox's statements on the webhook's hot path, by name (the group commit, delivery reads,
 * acks and the prune). test/relay/inbox-sql-sqlite.test.ts prepares each against the migrated schema
 * and checks its query plan, so a schema change that breaks one, or leaves it scanning a table, fails
 * a test rather than the hot path.
 */
export const INBOX_SQL = {
  // --- group commit (inbox-batch-sqlite.ts) ---
  /**
   * A row MessageIds names for a message id's hash: which message it holds (a candidate may hold
   * another message of the same hash, or be gone) and, for a re-push, the event id that names the
   * duplicate.
   */
  storedRow: "SELECT event_id AS eventId, message_id AS messageId FROM inbox WHERE id = ?1",
  /** Dedupe marks for a whole batch: ?1 is a JSON array of `e:<event_id>` and `m:<message_id>` keys. */
  marks: "SELECT key FROM seen_events WHERE key IN (SELECT value FROM json_each(?1))",
  /** Seqs for all of a user's messages in a batch at once. */
  takeSeqs:
    "UPDATE users SET last_seq = last_seq + ?2 WHERE id = ?1 RETURNING last_seq AS last, acked_seq AS acked",
  insert: `INSERT INTO inbox (user_id, seq, event_id, message_id, chat_id, payload, received_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  upsertChat: `INSERT INTO chats (user_id, chat_id, chat_type, last_message_at) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT(user_id, chat_id) DO UPDATE SET last_message_at = ?4`,
  // --- delivery and acks (inbox-store-sqlite.ts) ---
  pending: `SELECT i.seq, i.payload, i.received_at AS receivedAt FROM inbox i JOIN users u ON u.id = i.user_id
    WHERE i.user_id = ?1 AND i.seq > max(?2, u.acked_seq) AND i.seq < ?4
    ORDER BY i.seq LIMIT ?3`,
  ackedSeq: "SELECT acked_seq AS acked FROM users WHERE id = ?",
  ackUser: `UPDATE users SET acked_seq = min(max(acked_seq, ?2), last_seq) WHERE id = ?1
    RETURNING acked_seq AS acked`,
  // --- maintenance ---
  /** The inbox's lowest and highest rowid (each by the rowid's own order), for `lastRowReceivedBy`. */
  rowRange: "SELECT (SELECT min(id) FROM inbox) AS lo, (SELECT max(id) FROM inbox) AS hi",
  /** The first row at or after a rowid, for `lastRowReceivedBy`'s binary search. */
  rowFrom: "SELECT id, received_at AS receivedAt FROM inbox WHERE id >= ?1 ORDER BY id LIMIT 1",
  /**
   * Acked messages received by the cut-off (?2), up to the bound `lastRowReceivedBy` found (?1) — a
   * rowid range, not a scan of the table; their ids leave MessageIds.
   */
  pruneAcked: `DELETE FROM inbox WHERE id <= ?1 AND received_at <= ?2
    AND seq <= (SELECT acked_seq FROM users u WHERE u.id = inbox.user_id) RETURNING message_id AS messageId, id`,
  /** Dedupe marks past the window, by the seen_at index; their keys leave SeenMarks. */
  pruneSeen: "DELETE FROM seen_events WHERE seen_at <= ? RETURNING key",
  /** Once at start: the whole table, for MessageIds. */
  messageIds: "SELECT message_id AS messageId, id FROM inbox",
  /** Once at start: every dedupe mark, for SeenMarks. */
  markKeys: "SELECT key FROM seen_events",
} as const;

export type InboxStatement = keyof typeof INBOX_SQL;

/** Statements that read every row on purpose; every other one must search by an index. */
export const FULL_SCANS: ReadonlySet<InboxStatement> = new Set(["messageIds", "markKeys"]);
