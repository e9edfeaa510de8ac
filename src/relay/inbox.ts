/**
 * The durable inbox (DESIGN §4 delivery rules, §7 group commit): every accepted Feishu message is
 * deduplicated on event_id and message_id and stored with its owner's next seq before the webhook is
 * answered. Messages that arrive together share one transaction; each caller resolves after the commit
 * that holds its message.
 */
import type { Database } from "bun:sqlite";
import type { Db } from "../db/open.ts";
import { WalSync } from "../db/wal-sync.ts";
import { WriteHealth, type WriteStatus } from "../db/write-health.ts";
import { HttpError } from "../ops/errors.ts";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import { type BatchItem, BatchWriter } from "./inbox-batch.ts";
import { PendingCap, type Trimmed } from "./inbox-cap.ts";
import { SeqHolds } from "./inbox-holds.ts";
import type { InboundMessage } from "./protocol.ts";

export type { Trimmed } from "./inbox-cap.ts";

/** Feishu re-pushes for about 7.1 h; dedupe marks and stored messages are kept a little longer. */
export const DEDUPE_WINDOW_MS = 8 * 3600 * 1000;

/** INBOX_MAX_PENDING and INBOX_MAX_PENDING_BYTES defaults (config/definition.ts shows the same). */
export const DEFAULT_MAX_PENDING = 100_000;
export const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;

export interface IncomingMessage {
  userId: number;
  eventId: string;
  message: InboundMessage;
}

/** `trimmed`: storing this message pushed its owner over the offline cap, and older ones were dropped. */
export type AcceptResult = { status: "stored"; seq: number; trimmed?: Trimmed } | { status: "duplicate" };

/** A message that cannot be stored however often it is re-pushed (it is refused alone, never its batch). */
export class UnstorableMessage extends HttpError {
  constructor(why: string) {
    super(422, "unstorable_message", `the message cannot be stored: ${why}`);
    this.name = "UnstorableMessage";
  }
}

export interface StoredMessage {
  userId: number;
  seq: number;
  message: InboundMessage;
  /** `message` as stored (JSON): the delivery frame is built from it without serialising again. */
  payload: string;
  receivedAt: number;
}

/**
 * M2-4: what a message refers to (quoted message, forwarded chat, group name, sender name), looked
 * up after the commit and before delivery (relay/context-enricher.ts). `prefill` and `wants` are
 * synchronous and do no I/O: a message that needs nothing is neither held nor read again.
 */
export interface ContextSource {
  /** Fills in what memory already knows (a cached group name) before the message is stored. */
  prefill(message: InboundMessage): void;
  /** Whether a lookup could add anything: such a message is held back until `enrich` settles. */
  wants(message: InboundMessage): boolean;
  /** The message with its context, or undefined for no change. Settles within its own deadline. */
  enrich(message: InboundMessage, userId: number): Promise<InboundMessage | undefined>;
}

interface Pending extends BatchItem {
  resolve: (r: AcceptResult) => void;
  reject: (e: unknown) => void;
}

export interface InboxOptions {
  now?: () => number;
  log: Logger;
  metrics: Registry;
  /** Unacked messages kept per user (default 100,000); beyond it the oldest are dropped. */
  maxPending?: number;
  /** Unacked stored payload bytes kept per user (default 64 MiB); beyond it the oldest are dropped. */
  maxPendingBytes?: number;
  /** Makes the hot commits durable (default: fdatasync of the database's WAL file). */
  walSync?: WalSync;
  /** Called after each group commit (the server starts the checkpoint worker on first use). */
  onCommit?: () => void;
}

export class Inbox {
  readonly #sqlite: Database;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #cap: PendingCap;
  /** Every write attempt of the inbox reports here; `/health` reads it. */
  readonly #writes: WriteHealth;
  readonly #listeners: Array<(stored: StoredMessage[]) => void> = [];
  readonly #releaseListeners: Array<(userId: number) => void> = [];
  #queue: Pending[] = [];
  readonly #pendingAcks = new Map<number, number>();
  #ackFlushScheduled = false;
  #flushScheduled = false;
  readonly #walSync: WalSync;
  readonly #onCommit: (() => void) | undefined;
  /**
   * Per user, the lowest seq of each committed batch whose fsync has not finished, oldest first. Reads
   * for delivery stop below it: a message must not reach a plugin before it is durable, or a power cut
   * could hand its seq to another message that the plugin would then drop as already seen.
   */
  readonly #notDurable = new Map<number, number[]>();
  /** M2-4: messages waiting for their context; delivery stops below each user's first. */
  readonly #awaitingContext = new SeqHolds();
  #context: ContextSource | undefined;
  /** Set by `close()`: a lookup that ends after it no longer writes (the database is closing). */
  #closed = false;
  readonly #batch: BatchWriter;
  readonly #stmt;
  readonly #m;

  constructor(db: Db, opts: InboxOptions) {
    this.#sqlite = db.$client;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
    this.#onCommit = opts.onCommit;
    this.#writes = new WriteHealth(this.#now);
    const q = this.#sqlite;
    this.#cap = new PendingCap(q, {
      maxPending: opts.maxPending ?? DEFAULT_MAX_PENDING,
      maxPendingBytes: opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES,
    });
    this.#walSync = opts.walSync ?? WalSync.forDatabase(q);
    // The connection's own level (FULL in production), restored after each ack commit.
    const synchronous = q.query<{ synchronous: number }, []>("PRAGMA synchronous").get()?.synchronous ?? 2;
    this.#stmt = {
      syncNormal: q.query("PRAGMA synchronous = NORMAL"),
      syncRestore: q.query(`PRAGMA synchronous = ${Number(synchronous)}`),
      markSeen: q.query("INSERT OR IGNORE INTO seen_events (key, seen_at) VALUES (?, ?)"),
      isSeen: q.query<{ one: number }, [string]>("SELECT 1 AS one FROM seen_events WHERE key = ?"),
      pending: q.query<
        { seq: number; payload: string; receivedAt: number },
        [number, number, number, number]
      >(
        `SELECT i.seq, i.payload, i.received_at AS receivedAt FROM inbox i JOIN users u ON u.id = i.user_id
         WHERE i.user_id = ?1 AND i.seq > max(?2, u.acked_seq) AND i.seq < ?4
         ORDER BY i.seq LIMIT ?3`,
      ),
      pendingCount: q.query<{ n: number }, [number]>(
        `SELECT count(*) AS n FROM inbox i JOIN users u ON u.id = i.user_id
         WHERE i.user_id = ? AND i.seq > u.acked_seq`,
      ),
      ackedSeq: q.query<{ acked: number }, [number]>("SELECT acked_seq AS acked FROM users WHERE id = ?"),
      ackUser: q.query<{ acked: number }, [number, number]>(
        `UPDATE users SET acked_seq = min(max(acked_seq, ?2), last_seq) WHERE id = ?1
         RETURNING acked_seq AS acked`,
      ),
      pruneAcked: q.query(
        `DELETE FROM inbox WHERE received_at <= ?
         AND seq <= (SELECT acked_seq FROM users u WHERE u.id = inbox.user_id)`,
      ),
      pruneSeen: q.query("DELETE FROM seen_events WHERE seen_at <= ?"),
      chatAllowed: q.query<{ one: number }, [number, string]>(
        "SELECT 1 AS one FROM chats WHERE user_id = ? AND chat_id = ?",
      ),
      latest: q.query<{ messageId: string }, [number]>(
        "SELECT message_id AS messageId FROM inbox WHERE user_id = ? ORDER BY seq DESC LIMIT 1",
      ),
      rewrite: q.query<unknown, [number, number, string]>(
        "UPDATE inbox SET payload = ?3 WHERE user_id = ?1 AND seq = ?2",
      ),
      messageOwner: q.query<{ chatId: string; threadId: string | null }, [number, string]>(
        `SELECT chat_id AS chatId, json_extract(payload, '$.threadId') AS threadId
         FROM inbox WHERE user_id = ? AND message_id = ?`,
      ),
    };
    this.#m = {
      stored: opts.metrics.counter("inbox_stored_total", "Inbound messages stored for a user."),
      duplicates: opts.metrics.counter("events_deduped_total", "Feishu events dropped as duplicates."),
      commits: opts.metrics.histogram(
        "inbox_commit_batch_size",
        "Messages per group commit.",
        [1, 2, 5, 10, 25, 50, 100, 250, 500],
      ),
      dropped: opts.metrics.counter("inbox_dropped_over_cap_total", "Unacked messages dropped at the cap."),
      acks: opts.metrics.counter("inbox_acks_total", "Ack frames that advanced a user's acked seq."),
    };
    this.#batch = new BatchWriter(q, this.#cap, this.#log, this.#m.duplicates);
  }

  /** Called after each commit with what it stored, in seq order per user. */
  onStored(listener: (stored: StoredMessage[]) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * M2-4: a message stored from now on gets its context before delivery when `source.wants` it.
   * The seq is held until `enrich` settles; messages of the same user after it wait too.
   */
  useContext(source: ContextSource): void {
    this.#context = source;
  }

  /** A user's first held message was released: its connection should read on (hub.ts pumps). */
  onReleased(listener: (userId: number) => void): void {
    this.#releaseListeners.push(listener);
  }

  /** Stores a message unless it was seen before; resolves once it is durable. */
  accept(item: IncomingMessage): Promise<AcceptResult> {
    if (this.#context) prefillContext(this.#context, item.message, this.#log);
    let payload: string;
    try {
      payload = JSON.stringify(item.message);
    } catch (err) {
      // E.g. RangeError on a structure nested too deep: inside the commit it failed everyone's batch.
      this.#log.warn("inbox_message_unstorable", {
        userId: item.userId,
        eventId: item.eventId,
        messageId: item.message.messageId,
        err: err as Error,
      });
      return Promise.reject(new UnstorableMessage((err as Error).message));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, payload, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // setImmediate lets every request that is already being handled join this commit.
        setImmediate(() => this.#flush());
      }
    });
  }

  /**
   * Records an event id without storing a message (other event types, unknown senders), so re-pushes
   * of it are recognised. True when it was new.
   */
  markEventSeen(eventId: string): boolean {
    // A lost mark only means a re-push is looked at again (it stores nothing either way): no fsync.
    return this.#reported(() =>
      this.#relaxed(() => this.#stmt.markSeen.run(`e:${eventId}`, this.#now()).changes > 0),
    );
  }

  isEventSeen(eventId: string): boolean {
    return this.#stmt.isSeen.get(`e:${eventId}`) !== null;
  }

  /** `failing` while the latest write (commit, WAL sync, ack, mark) failed recently: `/health` says so. */
  writeStatus(): WriteStatus {
    return this.#writes.status();
  }

  /** Runs a write outside the batch paths and reports its outcome to the write health. */
  #reported<T>(write: () => T): T {
    try {
      const out = write();
      this.#writes.succeeded();
      return out;
    } catch (err) {
      this.#writes.failed();
      throw err;
    }
  }

  #flush(): void {
    const batch = this.#queue;
    this.#queue = [];
    this.#flushScheduled = false;
    let results: Array<AcceptResult | Error>;
    const stored: StoredMessage[] = [];
    const now = this.#now();
    try {
      // Committed without an fsync; the WAL sync below makes it durable before anyone is answered.
      // IMMEDIATE: the write lock is taken (waiting up to busy_timeout) before the first read. A
      // deferred transaction upgrading from read to write gets SQLITE_BUSY at once, without waiting,
      // whenever the checkpoint worker holds the lock (RESTART): that was `inbox_commit_failed` → 500.
      results = this.#relaxed(() =>
        this.#sqlite.transaction(() => this.#batch.write(batch, now, stored)).immediate(),
      );
    } catch (err) {
      this.#writes.failed();
      this.#cap.forget();
      this.#log.error("inbox_commit_failed", { err: err as Error, batch: batch.length });
      for (const p of batch) p.reject(err);
      return;
    }
    this.#writes.succeeded();
    this.#m.commits.observe(batch.length);
    this.#m.stored.inc({}, stored.length);
    // A message that failed alone stored nothing: its caller is refused now, the others wait for the sync.
    const answered: Array<{ p: Pending; result: AcceptResult }> = [];
    batch.forEach((p, i) => {
      const result = results[i]!;
      if (result instanceof Error) p.reject(result);
      else answered.push({ p, result });
      if (!(result instanceof Error) && result.status === "stored" && result.trimmed) {
        const { dropped, oldestReceivedAt } = result.trimmed;
        this.#m.dropped.inc({}, dropped);
        this.#log.warn("inbox_cap_reached", { userId: p.item.userId, dropped, since: oldestReceivedAt });
      }
    });
    this.#onCommit?.();
    const users = this.#holdBack(stored);
    this.#fetchContext(stored);
    // Duplicates wait too: their original may be in this very batch.
    this.#walSync.sync().then(
      () => {
        this.#release(users);
        for (const { p, result } of answered) p.resolve(result);
        this.#notify(stored);
      },
      (err) => {
        // The rows are committed but their durability is unknown: Feishu is not acknowledged (it will
        // re-push, and dedupe answers 200 then); delivery goes on, at least once.
        this.#writes.failed();
        this.#log.error("inbox_sync_failed", { err: err as Error, batch: batch.length });
        this.#release(users);
        for (const { p } of answered) p.reject(err);
        this.#notify(stored);
      },
    );
  }

  /** A failing listener (a delivery bug) is logged; it must not stop the others or the relay. */
  #notify(committed: StoredMessage[]): void {
    // Messages at or after a held one wait for its release (`#fetchContext`), in order.
    const stored = committed.filter((m) => m.seq < (this.#awaitingContext.first(m.userId) ?? Infinity));
    if (stored.length === 0) return;
    for (const listener of this.#listeners) {
      try {
        listener(stored);
      } catch (err) {
        this.#log.error("inbox_listener_failed", { err: err as Error, messages: stored.length });
      }
    }
  }

  /**
   * Holds the committed messages that want context and starts their lookups (at once: they run
   * while the WAL syncs). Each lookup settles within its deadline, success or not; then the stored
   * payload is rewritten (the StoredMessage too, in case the batch is not yet delivered from memory)
   * and the hold is released.
   */
  #fetchContext(stored: StoredMessage[]): void {
    const source = this.#context;
    if (!source) return;
    for (const m of stored) {
      if (!wantsContext(source, m.message, this.#log)) continue;
      this.#awaitingContext.hold(m.userId, m.seq);
      // Through a promise from the start: a lookup that throws at once is released like any other.
      Promise.resolve()
        .then(() => source.enrich(m.message, m.userId))
        .then((enriched) => {
          if (enriched) this.#rewrite(m, enriched);
        })
        .catch((err) =>
          this.#log.error("inbox_context_failed", { userId: m.userId, seq: m.seq, err: err as Error }),
        )
        .finally(() => {
          if (!this.#awaitingContext.release(m.userId, m.seq)) return;
          for (const listener of this.#releaseListeners) {
            try {
              listener(m.userId);
            } catch (err) {
              this.#log.error("inbox_listener_failed", { err: err as Error, userId: m.userId });
            }
          }
        });
    }
  }

  /** Stores the message with its context (no fsync: a crash only loses the context, not the row). */
  #rewrite(m: StoredMessage, message: InboundMessage): void {
    if (this.#closed) return;
    const payload = JSON.stringify(message);
    this.#reported(() => this.#relaxed(() => this.#stmt.rewrite.run(m.userId, m.seq, payload)));
    // The payload's size changed: the cap sums the user's bytes again on its next commit.
    this.#cap.forget(m.userId);
    m.message = message;
    m.payload = payload;
  }

  /** Marks a committed batch as not yet durable; returns its users for `#release`. */
  #holdBack(stored: StoredMessage[]): number[] {
    const firstSeq = new Map<number, number>();
    for (const m of stored) if (!firstSeq.has(m.userId)) firstSeq.set(m.userId, m.seq);
    for (const [userId, seq] of firstSeq) {
      const list = this.#notDurable.get(userId);
      if (list) list.push(seq);
      else this.#notDurable.set(userId, [seq]);
    }
    return [...firstSeq.keys()];
  }

  /** Syncs finish in commit order, so the batch being released is the oldest entry of each user. */
  #release(users: number[]): void {
    for (const userId of users) {
      const list = this.#notDurable.get(userId);
      list?.shift();
      if (list?.length === 0) this.#notDurable.delete(userId);
    }
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

  /** Waits for the WAL syncs under way (shutdown, before the database closes). */
  close(): Promise<void> {
    this.#closed = true;
    return this.#walSync.close();
  }

  /** Unacked messages after `afterSeq`, oldest first. */
  pending(userId: number, afterSeq = 0, limit = 500): StoredMessage[] {
    this.flushAcks();
    const below = Math.min(
      this.#notDurable.get(userId)?.[0] ?? Number.MAX_SAFE_INTEGER,
      this.#awaitingContext.first(userId) ?? Number.MAX_SAFE_INTEGER,
    );
    return this.#stmt.pending.all(userId, afterSeq, limit, below).map((r) => ({
      userId,
      seq: r.seq,
      message: JSON.parse(r.payload) as InboundMessage,
      payload: r.payload,
      receivedAt: r.receivedAt,
    }));
  }

  pendingCount(userId: number): number {
    this.flushAcks();
    return this.#stmt.pendingCount.get(userId)?.n ?? 0;
  }

  /**
   * Cumulative ack. Acks that arrive in the same event-loop turn share one transaction (an ack per
   * frame, each with its own fsync, capped the relay at ~1k events/s), committed without an fsync of
   * its own: it becomes durable with the next inbox commit, and losing it to a power cut only means a
   * redelivery, which plugins dedupe.
   */
  ack(userId: number, seq: number): void {
    const prev = this.#pendingAcks.get(userId);
    if (prev === undefined || seq > prev) this.#pendingAcks.set(userId, seq);
    if (!this.#ackFlushScheduled) {
      this.#ackFlushScheduled = true;
      setImmediate(() => {
        try {
          this.flushAcks();
        } catch (err) {
          this.#log.error("inbox_ack_flush_failed", { err: err as Error });
        }
      });
    }
  }

  /** Writes the acks collected so far; reads call it first so they never see a stale ack. */
  flushAcks(): void {
    this.#ackFlushScheduled = false;
    if (this.#pendingAcks.size === 0) return;
    const acks = [...this.#pendingAcks];
    this.#pendingAcks.clear();
    let advanced = 0;
    try {
      // WAL with synchronous=NORMAL stays consistent; only this commit's durability is deferred.
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
      this.#writes.failed();
      this.#cap.forget();
      // Kept for the next flush rather than lost: an ack that never lands means a redelivery storm.
      for (const [userId, seq] of acks) {
        const newer = this.#pendingAcks.get(userId);
        if (newer === undefined || seq > newer) this.#pendingAcks.set(userId, seq);
      }
      throw err;
    }
    this.#writes.succeeded();
    if (advanced > 0) this.#m.acks.inc({}, advanced);
  }

  /** The user's persisted cumulative ack. */
  ackedSeq(userId: number): number {
    this.flushAcks();
    return this.#stmt.ackedSeq.get(userId)?.acked ?? 0;
  }

  /** Whether the user's messages came from this chat (they may address it). */
  chatAllowed(userId: number, chatId: string): boolean {
    return this.#stmt.chatAllowed.get(userId, chatId) !== null;
  }

  /** The chat (and thread) of a message delivered to this user, or undefined if it was not theirs. */
  deliveredMessage(userId: number, messageId: string): { chatId: string; threadId?: string } | undefined {
    const row = this.#stmt.messageOwner.get(userId, messageId);
    return row ? { chatId: row.chatId, threadId: row.threadId ?? undefined } : undefined;
  }

  /** The newest message stored for the user (legacy `llm_request` without a messageId answers there). */
  latestMessageId(userId: number): string | undefined {
    return this.#stmt.latest.get(userId)?.messageId;
  }

  /**
   * Drops acked messages received longer ago than the retention, and dedupe marks past the window.
   * A message is kept at least for the dedupe window whatever the retention: it is its own mark.
   */
  prune(retentionMs: number): { messages: number; marks: number } {
    this.flushAcks();
    const now = this.#now();
    return this.#reported(() => ({
      messages: this.#stmt.pruneAcked.run(now - Math.max(retentionMs, DEDUPE_WINDOW_MS)).changes,
      marks: this.#stmt.pruneSeen.run(now - DEDUPE_WINDOW_MS).changes,
    }));
  }
}

/** A failing `wants` (a bug) must not hold the message forever or fail the commit: no context. */
function wantsContext(source: ContextSource, message: InboundMessage, log: Logger): boolean {
  try {
    return source.wants(message);
  } catch (err) {
    log.error("inbox_context_failed", { messageId: message.messageId, err: err as Error });
    return false;
  }
}

/** Memory-only context; a failure (a bug) stores the message without it. */
function prefillContext(source: ContextSource, message: InboundMessage, log: Logger): void {
  try {
    source.prefill(message);
  } catch (err) {
    log.error("inbox_context_failed", { messageId: message.messageId, err: err as Error });
  }
}
