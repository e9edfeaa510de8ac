/**
 * The inbox on SQLite (one process): today's prepared statements, group commit with `synchronous=NORMAL`
 * and then one fdatasync of the WAL for the whole group (db/wal-sync.ts), acks batched without an fsync
 * of their own. `commit`, `pending` and `ack` stay synchronous: they are the measured hot path.
 *
 * Under light load (a small batch, no WAL sync under way, few messages expected during the fsync:
 * inline-commit.ts) a batch is committed at the connection's own level instead, FULL, which fsyncs
 * the WAL inside COMMIT on this thread: durable on return, as fast as the fsync itself. The deferred
 * sync pays for a hop to Bun's I/O pool and back, and its fsync runs while this thread writes the
 * next frames: at a steady 1,000/s the inline commit took the webhook → plugin p99 from 3.6–4.2 ms
 * to 2.7–3.3 ms (docs/architecture.md). With more traffic the loop must go on while the disk works:
 * at 5,000/s inline commits blocked it long enough to raise the p99 from ~5.4 to 6.3–9.1 ms; here an
 * inline commit takes ~0.3–0.4 ms, so they stop at ~1,500–2,000 messages/s.
 */
import type { Database } from "bun:sqlite";
import type { Db } from "../db/open.ts";
import { WalSync } from "../db/wal-sync.ts";
import type { StoredMessage } from "./inbox.ts";
import type { BatchItem } from "./inbox-batch.ts";
import { BatchWriter, IsolationNeeded } from "./inbox-batch-sqlite.ts";
import { PendingCap } from "./inbox-cap-sqlite.ts";
import { MessageIds, type MessageRow, type StoredRow } from "./inbox-message-ids.ts";
import { lastRowReceivedBy, type ReceivedRow } from "./inbox-received-bound.ts";
import { SeenMarks } from "./inbox-seen-marks.ts";
import { INBOX_SQL } from "./inbox-sql-sqlite.ts";
import type { Backlog, CommitOutcome, InboxStore, InboxStoreOptions, PendingRow } from "./inbox-store.ts";
import { InlineCommitPolicy } from "./inline-commit.ts";

/** Per user, `seq > acked_seq` walks the unique (user_id, seq) index: cheap with many users. */
const PENDING_TOTAL = `SELECT coalesce(sum(
  (SELECT count(*) FROM inbox i WHERE i.user_id = u.id AND i.seq > u.acked_seq)), 0) AS n FROM users u`;
const OLDEST_PENDING = `SELECT min(
  (SELECT i.received_at FROM inbox i WHERE i.user_id = u.id AND i.seq > u.acked_seq ORDER BY i.seq LIMIT 1)
  ) AS at FROM users u`;

/** Default `inlineCommitMax`: batches of light load, where the inline fsync costs less than the hop. */
export const INLINE_COMMIT_MAX = 4;

export class SqliteInboxStore implements InboxStore {
  readonly dialect = "sqlite" as const;
  /** Unbounded: everything queued in one turn shares one commit and one WAL sync. */
  readonly maxBatch = Number.POSITIVE_INFINITY;
  readonly #sqlite: Database;
  readonly #cap: PendingCap;
  readonly #batch: BatchWriter;
  readonly #walSync: WalSync;
  /** Which batches commit inline (none when the connection does not fsync at COMMIT). */
  readonly #inline: InlineCommitPolicy;
  /** Monotonic ms, to measure inline commits. */
  readonly #clock: () => number;
  readonly #ids: MessageIds<StoredRow>;
  readonly #marks: SeenMarks;
  readonly #stmt;

  constructor(db: Db, opts: InboxStoreOptions) {
    const q = db.$client;
    this.#sqlite = q;
    this.#cap = new PendingCap(q, { maxPending: opts.maxPending, maxPendingBytes: opts.maxPendingBytes });
    this.#ids = MessageIds.from(q.query<MessageRow, []>(INBOX_SQL.messageIds).all(), (rowid) =>
      this.#stmt.storedRow.get(rowid),
    );
    this.#marks = SeenMarks.from(q.query<{ key: string }, []>(INBOX_SQL.markKeys).iterate());
    this.#batch = new BatchWriter(q, this.#cap, this.#ids, this.#marks);
    this.#walSync = opts.walSync ?? WalSync.forDatabase(q);
    // The connection's own level (FULL in production), restored after each relaxed commit.
    const synchronous = q.query<{ synchronous: number }, []>("PRAGMA synchronous").get()?.synchronous ?? 2;
    // FULL (2) and EXTRA (3) fsync the WAL at COMMIT; below that an inline commit would not be durable.
    this.#inline = new InlineCommitPolicy({
      maxBatch: synchronous >= 2 ? (opts.inlineCommitMax ?? INLINE_COMMIT_MAX) : 0,
    });
    this.#clock = opts.monotonicMs ?? (() => performance.now());
    this.#stmt = {
      syncNormal: q.query("PRAGMA synchronous = NORMAL"),
      syncRestore: q.query(`PRAGMA synchronous = ${Number(synchronous)}`),
      markSeen: q.query("INSERT OR IGNORE INTO seen_events (key, seen_at) VALUES (?, ?)"),
      isSeen: q.query<{ one: number }, [string]>("SELECT 1 AS one FROM seen_events WHERE key = ?"),
      pending: q.query<PendingRow, [number, number, number, number]>(INBOX_SQL.pending),
      pendingCount: q.query<{ n: number }, [number]>(
        `SELECT count(*) AS n FROM inbox i JOIN users u ON u.id = i.user_id
         WHERE i.user_id = ? AND i.seq > u.acked_seq`,
      ),
      ackedSeq: q.query<{ acked: number }, [number]>(INBOX_SQL.ackedSeq),
      ackUser: q.query<{ acked: number }, [number, number]>(INBOX_SQL.ackUser),
      rowRange: q.query<{ lo: number | null; hi: number | null }, []>(INBOX_SQL.rowRange),
      rowFrom: q.query<ReceivedRow, [number]>(INBOX_SQL.rowFrom),
      pruneAcked: q.query<MessageRow, [number, number]>(INBOX_SQL.pruneAcked),
      storedRow: q.query<StoredRow, [number]>(INBOX_SQL.storedRow),
      pruneSeen: q.query<{ key: string }, [number]>(INBOX_SQL.pruneSeen),
      chatAllowed: q.query<{ one: number }, [number, string]>(
        "SELECT 1 AS one FROM chats WHERE user_id = ? AND chat_id = ?",
      ),
      latest: q.query<{ messageId: string }, [number]>(
        "SELECT message_id AS messageId FROM inbox WHERE user_id = ? ORDER BY seq DESC LIMIT 1",
      ),
      rewrite: q.query<unknown, [number, number, string]>(
        "UPDATE inbox SET payload = ?3 WHERE user_id = ?1 AND seq = ?2",
      ),
      // By the row MessageIds knows; the message id is checked again (a rowid can be reused once the
      // newest row is gone).
      messageOwner: q.query<{ chatId: string; threadId: string | null }, [number, number, string]>(
        `SELECT chat_id AS chatId, json_extract(payload, '$.threadId') AS threadId
         FROM inbox WHERE id = ? AND user_id = ? AND message_id = ?`,
      ),
      payload: q.query<{ payload: string }, [number, number, string]>(
        "SELECT payload FROM inbox WHERE id = ? AND user_id = ? AND message_id = ?",
      ),
      // M2-4: only asked when the id is not the user's own message; it scans that user's rows alone.
      quoting: q.query<{ payload: string }, [number, string]>(
        `SELECT payload FROM inbox WHERE user_id = ? AND json_extract(payload, '$.quoted.messageId') = ?
         ORDER BY seq DESC LIMIT 1`,
      ),
      pendingTotal: q.query<{ n: number }, []>(PENDING_TOTAL),
      oldestPending: q.query<{ at: number | null }, []>(OLDEST_PENDING),
    };
  }

  commitAfter(size: number, now: number): Promise<void> | undefined {
    // Committed now it would have to be deferred (answers keep commit order) and would wait for the
    // next sync anyway; after this one it goes inline, joined by what arrives meanwhile.
    if (this.#walSync.idle || !this.#inline.saturated(size, now)) return undefined;
    return this.#walSync.settled();
  }

  commit(batch: BatchItem[], now: number): CommitOutcome {
    const stored: StoredMessage[] = [];
    let sorted: ReturnType<BatchWriter["write"]>;
    // Inline only when every earlier commit is durable already: answers then keep commit order.
    const syncIdle = this.#walSync.idle;
    const inline = syncIdle && this.#inline.inline(batch.length, now);
    this.#inline.counted(batch.length, now);
    const started = this.#clock();
    try {
      // Deferred: committed without an fsync; the WAL sync below makes it durable before anyone is
      // answered. Inline: at the connection's level (FULL), the fsync is part of COMMIT.
      // IMMEDIATE: the write lock is taken (waiting up to busy_timeout) before the first read. A
      // deferred transaction upgrading from read to write gets SQLITE_BUSY at once, without waiting,
      // whenever the checkpoint worker holds the lock (RESTART): that was `inbox_commit_failed` → 500.
      const attempt = (isolated: boolean) => {
        const write = () =>
          this.#sqlite.transaction(() => this.#batch.write(batch, now, stored, isolated)).immediate();
        return inline ? write() : this.#relaxed(write);
      };
      try {
        sorted = attempt(false);
      } catch (err) {
        if (!(err instanceof IsolationNeeded)) throw err;
        // Rolled back: nothing of the first pass is stored, and the cap's figures are summed again.
        stored.length = 0;
        this.#cap.forget();
        sorted = attempt(true);
      }
      if (inline) this.#inline.measured(this.#clock() - started, batch.length, now);
      this.#batch.committed();
    } catch (err) {
      this.#cap.forget();
      throw err;
    }
    return {
      results: sorted.results,
      stored,
      duplicates: sorted.duplicates,
      // Duplicates wait too (the Inbox answers after this): their original may be in this very batch.
      // Inline, COMMIT returned after its fsync: durable now, like PostgreSQL's.
      durable: inline ? undefined : this.#deferredSync(started, syncIdle, batch.length, now),
    };
  }

  /**
   * The WAL sync for a deferred commit. When it is this batch's alone (none was under way), commit and
   * sync together took about what an inline commit would have (a little more: the hop to Bun's I/O
   * pool and back), so the policy learns from it too: without it, an estimate raised by a slow spell
   * would learn nothing new while commits are deferred and only fade.
   */
  #deferredSync(started: number, alone: boolean, size: number, now: number): Promise<void> {
    const synced = this.#walSync.sync();
    if (alone)
      synced.then(
        () => this.#inline.measured(this.#clock() - started, size, now),
        () => {},
      );
    return synced;
  }

  pending(userId: number, afterSeq: number, limit: number, below: number): PendingRow[] {
    return this.#stmt.pending.all(userId, afterSeq, limit, below);
  }

  async pendingCount(userId: number): Promise<number> {
    return this.#stmt.pendingCount.get(userId)?.n ?? 0;
  }

  ack(acks: ReadonlyArray<readonly [number, number]>): number {
    let advanced = 0;
    try {
      // WAL with synchronous=NORMAL stays consistent; only this commit's durability is deferred (it
      // becomes durable with the next inbox commit; a lost ack only means a redelivery).
      // IMMEDIATE for the same reason as the inbox commit: it reads before it writes.
      this.#relaxed(() =>
        this.#sqlite
          .transaction(() => {
            for (const [userId, seq] of acks) {
              const before = this.#stmt.ackedSeq.get(userId)?.acked ?? 0;
              const after = this.#stmt.ackUser.get(userId, seq)?.acked ?? before;
              if (after > before) advanced += 1;
              this.#cap.acked(userId, before, after);
            }
          })
          .immediate(),
      );
    } catch (err) {
      this.#cap.forget();
      throw err;
    }
    return advanced;
  }

  async ackedSeq(userId: number): Promise<number> {
    return this.#stmt.ackedSeq.get(userId)?.acked ?? 0;
  }

  async markSeen(key: string, now: number): Promise<boolean> {
    // A lost mark only means a re-push is looked at again (it stores nothing either way): no fsync.
    const added = this.#relaxed(() => this.#stmt.markSeen.run(key, now).changes > 0);
    if (added) this.#marks.add(key);
    return added;
  }

  async isSeen(key: string): Promise<boolean> {
    return this.#marks.mayHave(key) && this.#stmt.isSeen.get(key) !== null;
  }

  async chatAllowed(userId: number, chatId: string): Promise<boolean> {
    return this.#stmt.chatAllowed.get(userId, chatId) !== null;
  }

  async deliveredMessage(userId: number, messageId: string) {
    const rowid = this.#ids.rowOf(messageId);
    const row = rowid === undefined ? null : this.#stmt.messageOwner.get(rowid, userId, messageId);
    return row ? { chatId: row.chatId, threadId: row.threadId ?? undefined } : undefined;
  }

  async latestMessageId(userId: number): Promise<string | undefined> {
    return this.#stmt.latest.get(userId)?.messageId;
  }

  async rewrite(userId: number, seq: number, payload: string): Promise<void> {
    // No fsync: a crash only loses the context, not the row.
    this.#relaxed(() => this.#stmt.rewrite.run(userId, seq, payload));
    // The payload's size changed: the cap sums the user's bytes again on its next commit.
    this.#cap.forget(userId);
  }

  async payloadOf(userId: number, messageId: string): Promise<string | undefined> {
    const rowid = this.#ids.rowOf(messageId);
    return rowid === undefined ? undefined : this.#stmt.payload.get(rowid, userId, messageId)?.payload;
  }

  async quotingPayload(userId: number, messageId: string): Promise<string | undefined> {
    return this.#stmt.quoting.get(userId, messageId)?.payload;
  }

  async prune(messagesUpTo: number, marksUpTo: number) {
    const s = this.#stmt;
    const range = s.rowRange.get() ?? { lo: null, hi: null };
    const bound = lastRowReceivedBy(messagesUpTo, range, (id) => s.rowFrom.get(id));
    const pruned = bound === undefined ? [] : s.pruneAcked.all(bound, messagesUpTo);
    this.#ids.remove(pruned);
    const marks = s.pruneSeen.all(marksUpTo).map((r) => r.key);
    this.#marks.remove(marks);
    return { messages: pruned.length, marks: marks.length };
  }

  backlog(): Backlog {
    return {
      pending: this.#stmt.pendingTotal.get()?.n ?? 0,
      oldestReceivedAt: this.#stmt.oldestPending.get()?.at ?? null,
    };
  }

  close(): Promise<void> {
    return this.#walSync.close();
  }

  /** Runs `fn` with this connection at synchronous=NORMAL (no fsync at COMMIT), then restores it. */
  #relaxed<T>(fn: () => T): T {
    // Inside another transaction the work joins that one's commit.
    if (this.#sqlite.inTransaction) return fn();
    this.#stmt.syncNormal.run();
    try {
      return fn();
    } finally {
      this.#stmt.syncRestore.run();
    }
  }
}
