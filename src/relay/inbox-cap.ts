/**
 * The per-user offline cap (both adapters): at most INBOX_MAX_PENDING unacked messages and
 * INBOX_MAX_PENDING_BYTES of their stored payload. A commit that goes over drops the oldest unacked
 * messages (the newest one is always kept) and reports how many and since when, so that the owner can
 * be told (ingest-notices.ts) instead of learning it from a log line they never see. The dropped
 * messages keep a dedupe mark so that a re-push does not bring them back. SQLite:
 * inbox-cap-sqlite.ts; PostgreSQL: inbox-store-postgres.ts.
 */

export interface CapLimits {
  maxPending: number;
  maxPendingBytes: number;
}

/** What one commit dropped for one user. */
export interface Trimmed {
  dropped: number;
  /** When the oldest dropped message was received (ms). */
  oldestReceivedAt: number;
}
