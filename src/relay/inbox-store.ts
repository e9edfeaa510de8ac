/**
 * The `InboxStore` port: everything the inbox reads and writes in the database (DESIGN §7). The Inbox
 * service (inbox.ts) keeps the queue, the group-commit scheduling, holds, listeners and metrics; the
 * adapters keep the SQL. SQLite (inbox-store-sqlite.ts): one process, prepared statements, WAL
 * fdatasync after the commit. PostgreSQL (inbox-store-postgres.ts): several relay processes write at
 * once; dedupe and seq allocation are transactional, a commit is durable when COMMIT returns.
 */
import type { WalSync } from "../db/wal-sync.ts";
import type { Awaitable, Storage } from "../storage/storage.ts";
import type { AcceptResult, StoredMessage } from "./inbox.ts";
import type { BatchItem } from "./inbox-batch.ts";
import { SqliteInboxStore } from "./inbox-store-sqlite.ts";

/** One group commit's outcome, `results` in batch order (an Error: that message failed alone). */
export interface CommitOutcome {
  results: Array<AcceptResult | Error>;
  /** What was stored, in seq order per user. */
  stored: StoredMessage[];
  /** Messages found to be duplicates, by what matched (the dedupe metric's label). */
  duplicates: DuplicateCounts;
  /**
   * SQLite: resolves once the commit is on disk (WAL fdatasync); nobody is answered and nothing is
   * delivered before. Undefined when the commit was durable on return (PostgreSQL).
   */
  durable?: Promise<void>;
}

export type DuplicateCounts = Record<"event_id" | "message_id", number>;

export interface PendingRow {
  seq: number;
  payload: string;
  receivedAt: number;
}

export interface Backlog {
  /** Stored messages not yet acked, all users. */
  pending: number;
  /** When the oldest of them was received (ms), or null when none waits. */
  oldestReceivedAt: number | null;
}

/**
 * Methods return promises (PostgreSQL is async); `commit`, `pending` and `ack` return Awaitable:
 * they are the measured hot path (webhook → commit → frame → ack) and stay synchronous on SQLite.
 */
export interface InboxStore {
  readonly dialect: Storage["dialect"];
  /** At most this many messages per `commit` (PostgreSQL: a statement takes at most 65,535 parameters). */
  readonly maxBatch: number;
  /**
   * Dedupes and stores one group commit's messages in one transaction: seqs gap-free per user (a
   * duplicate takes none), the chats noted, the offline cap applied. Throws only for errors that
   * concern the whole database; a bad message gets its Error in `results`, alone.
   */
  commit(batch: BatchItem[], now: number): Awaitable<CommitOutcome>;
  /**
   * SQLite: a batch of `size` that should rather be committed once the WAL sync under way is done
   * (a saturated loop's, to go inline: relay/inline-commit.ts); the promise settles then. Undefined:
   * commit now.
   */
  commitAfter?(size: number, now: number): Promise<void> | undefined;
  /** Stored messages with `afterSeq < seq < below` and above the user's ack, oldest first. */
  pending(userId: number, afterSeq: number, limit: number, below: number): Awaitable<PendingRow[]>;
  pendingCount(userId: number): Promise<number>;
  /** Cumulative acks, each capped at the user's last seq and never moving back; how many advanced. */
  ack(acks: ReadonlyArray<readonly [userId: number, seq: number]>): Awaitable<number>;
  ackedSeq(userId: number): Promise<number>;
  /** Records a dedupe mark (`e:<event id>`); true when it was new. */
  markSeen(key: string, now: number): Promise<boolean>;
  isSeen(key: string): Promise<boolean>;
  chatAllowed(userId: number, chatId: string): Promise<boolean>;
  /** The chat (and thread) of a message stored for this user, or undefined. */
  deliveredMessage(
    userId: number,
    messageId: string,
  ): Promise<{ chatId: string; threadId?: string } | undefined>;
  latestMessageId(userId: number): Promise<string | undefined>;
  /** Replaces a stored message's payload (M2-4: the message with its context). */
  rewrite(userId: number, seq: number, payload: string): Promise<void>;
  /** The stored payload of the user's message `messageId`. */
  payloadOf(userId: number, messageId: string): Promise<string | undefined>;
  /** The payload of the user's newest message that quotes `messageId` (M2-4 quoted media). */
  quotingPayload(userId: number, messageId: string): Promise<string | undefined>;
  /** Deletes acked messages received at or before `messagesUpTo` and marks seen at or before `marksUpTo`. */
  prune(messagesUpTo: number, marksUpTo: number): Promise<{ messages: number; marks: number }>;
  /** For /metrics. */
  backlog(): Awaitable<Backlog>;
  /** Waits for the durability work under way (shutdown, before the database closes). */
  close(): Promise<void>;
}

export interface InboxStoreOptions {
  /** Unacked messages kept per user; beyond it the oldest are dropped. */
  maxPending: number;
  /** Unacked stored payload bytes kept per user; beyond it the oldest are dropped. */
  maxPendingBytes: number;
  /** SQLite: makes the hot commits durable (default: fdatasync of the database's WAL file). */
  walSync?: WalSync;
  /**
   * SQLite: batches of at most this many messages may be committed with the connection's own fsync
   * at COMMIT, under light load (relay/inline-commit.ts; default INLINE_COMMIT_MAX, 0 never).
   */
  inlineCommitMax?: number;
  /** SQLite: monotonic ms, to time inline commits (default `performance.now`). */
  monotonicMs?: () => number;
}

export function createInboxStore(storage: Storage, opts: InboxStoreOptions): InboxStore {
  return storage.dialect === "sqlite"
    ? new SqliteInboxStore(storage.db, opts)
    : new storage.adapters.PostgresInboxStore(storage.db, opts);
}
