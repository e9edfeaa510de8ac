/**
 * The per-user offline cap on SQLite (its rules: inbox-cap.ts). Runs inside the inbox's transactions.
 * The unacked byte total per user is kept in memory for users written since start (summed once from
 * the table on first use); a failed transaction must call `forget` so the figure is summed again
 * rather than trusted.
 */
import type { Database } from "bun:sqlite";
import type { CapLimits, Trimmed } from "./inbox-cap.ts";
import type { MessageRow } from "./inbox-message-ids.ts";

export class PendingCap {
  readonly #limits: CapLimits;
  readonly #bytes = new Map<number, number>();
  readonly #stmt;

  constructor(sqlite: Database, limits: CapLimits) {
    this.#limits = limits;
    const q = sqlite;
    this.#stmt = {
      // octet_length: the stored size in bytes, the unit of INBOX_MAX_PENDING_BYTES.
      sum: q.query<{ n: number }, [number, number, number]>(
        "SELECT coalesce(sum(octet_length(payload)), 0) AS n FROM inbox WHERE user_id = ?1 AND seq > ?2 AND seq <= ?3",
      ),
      sizes: q.query<{ seq: number; n: number }, [number, number]>(
        "SELECT seq, octet_length(payload) AS n FROM inbox WHERE user_id = ?1 AND seq > ?2 ORDER BY seq",
      ),
      oldest: q.query<{ receivedAt: number }, [number, number]>(
        "SELECT received_at AS receivedAt FROM inbox WHERE user_id = ?1 AND seq > ?2 ORDER BY seq LIMIT 1",
      ),
      // Seqs above acked_seq are contiguous, so "drop the oldest" is one range on the (user_id, seq)
      // index. The dropped messages keep a dedupe mark so that a re-push does not bring them back.
      markTrimmed: q.query(
        `INSERT OR IGNORE INTO seen_events (key, seen_at)
         SELECT 'm:' || message_id, ?4 FROM inbox WHERE user_id = ?1 AND seq > ?2 AND seq <= ?3`,
      ),
      trim: q.query<MessageRow, [number, number, number]>(
        "DELETE FROM inbox WHERE user_id = ?1 AND seq > ?2 AND seq <= ?3 RETURNING message_id AS messageId, id",
      ),
    };
  }

  /**
   * After a user's inserts (seqs up to `last`, `added` payload bytes): drops the oldest unacked
   * messages beyond either limit (their message ids and rows are pushed to `gone`). Undefined when
   * nothing was dropped.
   */
  enforce(
    userId: number,
    acked: number,
    last: number,
    added: number,
    now: number,
    gone: MessageRow[] = [],
  ): Trimmed | undefined {
    const known = this.#bytes.get(userId);
    const bytes = known === undefined ? this.#stmt.sum.get(userId, acked, last)!.n : known + added;
    const { maxPending, maxPendingBytes } = this.#limits;
    let upTo = Math.max(acked, last - maxPending);
    if (bytes > maxPendingBytes)
      upTo = Math.max(upTo, this.#bytesCut(userId, acked, bytes - maxPendingBytes));
    upTo = Math.min(upTo, last - 1);
    if (upTo <= acked) {
      this.#bytes.set(userId, bytes);
      return undefined;
    }
    const s = this.#stmt;
    const oldestReceivedAt = s.oldest.get(userId, acked)?.receivedAt ?? now;
    const freed = s.sum.get(userId, acked, upTo)!.n;
    s.markTrimmed.run(userId, acked, upTo, now);
    const removed = s.trim.all(userId, acked, upTo);
    for (const r of removed) gone.push(r);
    const dropped = removed.length;
    this.#bytes.set(userId, bytes - freed);
    return dropped > 0 ? { dropped, oldestReceivedAt } : undefined;
  }

  /** Inside the ack transaction: messages up to `after` are no longer pending. */
  acked(userId: number, before: number, after: number): void {
    const known = this.#bytes.get(userId);
    if (known === undefined || after <= before) return;
    this.#bytes.set(userId, known - this.#stmt.sum.get(userId, before, after)!.n);
  }

  /** A transaction that touched this user (or all users) rolled back: sum again on next use. */
  forget(userId?: number): void {
    if (userId === undefined) this.#bytes.clear();
    else this.#bytes.delete(userId);
  }

  /** The highest seq that must go so that at least `excess` bytes are freed, oldest first. */
  #bytesCut(userId: number, acked: number, excess: number): number {
    let freed = 0;
    let seq = acked;
    for (const row of this.#stmt.sizes.iterate(userId, acked)) {
      freed += row.n;
      seq = row.seq;
      if (freed >= excess) break;
    }
    return seq;
  }
}
