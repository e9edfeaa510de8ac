/**
 * The SQLite adapter's group commit writes, inside the inbox's transaction (inbox-store-sqlite.ts):
 * one dedupe lookup per batch, one insert per message, one seq allocation per user. A first pass runs
 * without savepoints (a savepoint journals every page it touches: ~1 µs per message); if a message
 * fails on its own, the transaction is rolled back and the batch written again isolated: one savepoint
 * per user, and if a user's part fails, each of their messages tried alone. Errors that concern the
 * whole database (a full disk) still fail the whole commit.
 */
import type { Database } from "bun:sqlite";
import type { AcceptResult, StoredMessage } from "./inbox.ts";
import {
  type BatchItem,
  type DuplicateBy,
  type SortedBatch,
  settleCopies,
  settleStored,
  sortBatch,
} from "./inbox-batch.ts";
import type { PendingCap } from "./inbox-cap-sqlite.ts";
import type { MessageIds, MessageRow, StoredRow } from "./inbox-message-ids.ts";
import type { SeenMarks } from "./inbox-seen-marks.ts";
import { INBOX_SQL } from "./inbox-sql-sqlite.ts";

/**
 * SQLite errors that concern the whole database (full disk, I/O, locks), not one row: they fail the
 * whole commit and mark the database failing. Any other error fails only the message that caused it.
 */
const DATABASE_WIDE =
  /^SQLITE_(FULL|IOERR|BUSY|LOCKED|READONLY|CORRUPT|NOMEM|CANTOPEN|NOTADB|PROTOCOL|INTERRUPT)/;

function isDatabaseWide(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && DATABASE_WIDE.test(code);
}

/** How stale `chats.last_message_at` may get (see BatchWriter's #chatWrittenAt). */
export const CHAT_TOUCH_MS = 10 * 60 * 1000;

/** Thrown out of a first pass when one message failed alone: roll back, then `write(…, isolated)`. */
export class IsolationNeeded extends Error {
  constructor(cause: unknown) {
    super("a message of the batch failed alone; writing the batch again with savepoints", { cause });
    this.name = "IsolationNeeded";
  }
}

/** The SQLite adapter's writer (inbox-store-sqlite.ts): prepared statements, synchronous. */
export class BatchWriter {
  readonly #sqlite: Database;
  readonly #cap: PendingCap;
  readonly #ids: MessageIds<StoredRow>;
  readonly #marks: SeenMarks;
  /**
   * What memory learns once the transaction under way commits: rows written and dropped (for
   * MessageIds), chats rows written (for #chatWrittenAt). A rolled-back savepoint cuts it back.
   */
  #afterCommit: Array<() => void> = [];
  /**
   * When each (user, chat) row was last written by a committed transaction. The row only has to exist
   * (replies check it) and its last_message_at is read by nobody on the hot path, so it is refreshed
   * every CHAT_TOUCH_MS rather than on every commit: one statement and one WAL page less per commit.
   */
  readonly #chatWrittenAt = new Map<string, number>();
  readonly #stmt;

  constructor(sqlite: Database, cap: PendingCap, ids: MessageIds<StoredRow>, marks: SeenMarks) {
    this.#sqlite = sqlite;
    this.#cap = cap;
    this.#ids = ids;
    this.#marks = marks;
    const q = sqlite;
    this.#stmt = {
      // A stored message is its own dedupe mark: MessageIds finds its row, read once, with the event
      // id a re-push is judged by. Marks: at most one lookup per batch (SeenMarks rules most out).
      marks: q.query<{ key: string }, [string]>(INBOX_SQL.marks),
      takeSeqs: q.query<{ last: number; acked: number }, [number, number]>(INBOX_SQL.takeSeqs),
      insert: q.query(INBOX_SQL.insert),
      upsertChat: q.query(INBOX_SQL.upsertChat),
      // One savepoint per user of a batch: a failing insert rolls back that user's part only.
      savepoint: q.query("SAVEPOINT inbox_user"),
      releaseSavepoint: q.query("RELEASE inbox_user"),
      rollbackSavepoint: q.query("ROLLBACK TO inbox_user"),
    };
  }

  /**
   * Dedupes and stores one group commit's messages: one lookup per batch, one insert per message, one
   * seq allocation per user and one chat upsert per (user, chat) per batch. Not `isolated`, a message
   * that fails alone throws IsolationNeeded (the caller rolls back and calls again, isolated); isolated,
   * it gets its Error as result and nothing stored, and the others are stored all the same.
   */
  write(batch: BatchItem[], now: number, stored: StoredMessage[], isolated: boolean): SortedBatch {
    this.#afterCommit = [];
    const sorted = sortBatch(batch, this.#duplicates(batch));
    const { results } = sorted;
    if (!isolated) {
      for (const [userId, indexes] of sorted.fresh) {
        try {
          stored.push(...this.#insertUser(batch, userId, indexes, now, results));
        } catch (err) {
          throw isDatabaseWide(err) ? err : new IsolationNeeded(err);
        }
      }
      return sorted;
    }
    for (const [userId, indexes] of sorted.fresh) {
      try {
        stored.push(
          ...this.#inSavepoint(userId, () => this.#insertUser(batch, userId, indexes, now, results)),
        );
      } catch (err) {
        if (isDatabaseWide(err)) throw err;
        // Something in this user's part is bad: each of their messages is tried alone.
        for (const i of indexes) {
          try {
            stored.push(
              ...this.#inSavepoint(userId, () => this.#insertUser(batch, userId, [i], now, results)),
            );
          } catch (itemErr) {
            if (isDatabaseWide(itemErr)) throw itemErr;
            results[i] = itemErr instanceof Error ? itemErr : new Error(String(itemErr));
          }
        }
      }
    }
    settleCopies(sorted);
    return sorted;
  }

  /** The transaction that ran `write` committed: memory learns what it wrote. */
  committed(): void {
    for (const learn of this.#afterCommit) learn();
    this.#afterCommit = [];
  }

  /** Runs `fn` inside a savepoint; on a throw the savepoint is rolled back and the error rethrown. */
  #inSavepoint<T>(userId: number, fn: () => T): T {
    const s = this.#stmt;
    const learnt = this.#afterCommit.length;
    s.savepoint.run();
    try {
      const out = fn();
      s.releaseSavepoint.run();
      return out;
    } catch (err) {
      this.#afterCommit.length = learnt;
      this.#cap.forget(userId);
      // SQLite may already have rolled back the whole transaction (SQLITE_FULL, IOERR, BUSY, NOMEM):
      // then there is no savepoint left, and the error fails the whole commit anyway.
      if (isDatabaseWide(err) || !this.#sqlite.inTransaction) throw err;
      s.rollbackSavepoint.run();
      s.releaseSavepoint.run();
      throw err;
    }
  }

  /** Stores one user's new messages of a batch (`indexes` into it); fills in their results. */
  #insertUser(
    batch: BatchItem[],
    userId: number,
    indexes: number[],
    now: number,
    results: Array<AcceptResult | Error>,
  ): StoredMessage[] {
    const s = this.#stmt;
    const taken = s.takeSeqs.get(userId, indexes.length);
    if (!taken) throw new Error(`user ${userId} does not exist`);
    let seq = taken.last - indexes.length;
    let bytes = 0;
    const chats = new Map<string, string>();
    const stored: StoredMessage[] = [];
    for (const i of indexes) {
      const { item, payload } = batch[i]!;
      const { eventId, message } = item;
      seq += 1;
      const rowid = Number(
        s.insert.run(userId, seq, eventId, message.messageId, message.chatId, payload, now).lastInsertRowid,
      );
      this.#afterCommit.push(() => this.#ids.add(message.messageId, rowid));
      bytes += Buffer.byteLength(payload);
      chats.set(message.chatId, message.chatType);
      stored.push({ userId, seq, message, payload, receivedAt: now });
    }
    for (const [chatId, chatType] of chats) {
      const key = `${userId} ${chatId}`;
      const writtenAt = this.#chatWrittenAt.get(key);
      if (writtenAt !== undefined && now - writtenAt < CHAT_TOUCH_MS && now >= writtenAt) continue;
      s.upsertChat.run(userId, chatId, chatType, now);
      this.#afterCommit.push(() => this.#chatWrittenAt.set(key, now));
    }
    const dropped: MessageRow[] = [];
    const trimmed = this.#cap.enforce(userId, taken.acked, taken.last, bytes, now, dropped);
    if (dropped.length > 0) {
      // The cap left a mark per dropped message (so a re-push does not bring it back): known at once,
      // since a mark that rolls back only costs a lookup.
      for (const r of dropped) this.#marks.add(`m:${r.messageId}`);
      this.#afterCommit.push(() => this.#ids.remove(dropped));
    }
    // Set only now: a throw above leaves these messages without a result, for the caller to fill in.
    settleStored(results, indexes, stored, trimmed);
    return stored;
  }

  /**
   * Why each incoming message is a duplicate (the label of the dedupe metric), or undefined if new:
   * a stored message first (by whether its event id is the same), then a message mark, then an event
   * mark. A row read only for a message MessageIds knows; one statement for the keys SeenMarks says
   * may be marked, and none at all when it rules them all out (the usual batch).
   */
  #duplicates(batch: BatchItem[]): (eventId: string, messageId: string) => DuplicateBy | undefined {
    const stored = new Map<string, string>();
    const keys: string[] = [];
    for (const { item } of batch) {
      const messageId = item.message.messageId;
      const byEvent = `e:${item.eventId}`;
      const byMessage = `m:${messageId}`;
      if (this.#marks.mayHave(byEvent)) keys.push(byEvent);
      if (this.#marks.mayHave(byMessage)) keys.push(byMessage);
      const row = this.#ids.stored(messageId);
      if (row) stored.set(messageId, row.eventId);
    }
    const marks =
      keys.length === 0
        ? new Set<string>()
        : new Set(this.#stmt.marks.all(JSON.stringify(keys)).map((r) => r.key));
    return (eventId, messageId) => {
      const storedEvent = stored.get(messageId);
      if (storedEvent !== undefined) return storedEvent === eventId ? "event_id" : "message_id";
      if (marks.size === 0) return undefined;
      if (marks.has(`m:${messageId}`)) return "message_id";
      return marks.has(`e:${eventId}`) ? "event_id" : undefined;
    };
  }
}
