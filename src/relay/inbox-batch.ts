/**
 * One group commit's writes (DESIGN §7), inside the inbox's transaction: dedupe each message, take
 * seqs per user, insert, note the chats, and apply the offline cap. One user's part runs in a
 * savepoint; if it fails, each of their messages is tried alone, so one bad message fails alone and
 * never the other messages of its batch. Errors that concern the whole database (a full disk) still
 * fail the whole commit.
 */
import type { Database } from "bun:sqlite";
import type { Logger } from "../ops/logger.ts";
import type { Counter } from "../ops/metrics.ts";
import type { AcceptResult, IncomingMessage, StoredMessage } from "./inbox.ts";
import type { PendingCap } from "./inbox-cap.ts";

export interface BatchItem {
  item: IncomingMessage;
  /** `item.message` serialised before it joined the batch. */
  payload: string;
}

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

export class BatchWriter {
  readonly #sqlite: Database;
  readonly #cap: PendingCap;
  readonly #log: Logger;
  readonly #duplicates: Counter;
  readonly #stmt;

  constructor(sqlite: Database, cap: PendingCap, log: Logger, duplicates: Counter) {
    this.#sqlite = sqlite;
    this.#cap = cap;
    this.#log = log;
    this.#duplicates = duplicates;
    const q = sqlite;
    this.#stmt = {
      // A stored message is its own dedupe mark (unique index); reads cost no fsync'd page writes.
      // One lookup per incoming message: the stored row's event_id (a stored message is its own
      // mark), else which kind of mark exists ('stored' sorts first, then 'm', then 'e').
      duplicate: q.query<{ kind: string; eventId: string | null }, [string, string]>(
        `SELECT 'stored' AS kind, event_id AS eventId FROM inbox WHERE message_id = ?1
         UNION ALL SELECT substr(key, 1, 1), NULL FROM seen_events WHERE key IN ('e:' || ?2, 'm:' || ?1)
         ORDER BY 1 DESC LIMIT 1`,
      ),
      // Seqs for all of a user's messages in a batch at once.
      takeSeqs: q.query<{ last: number; acked: number }, [number, number]>(
        "UPDATE users SET last_seq = last_seq + ?2 WHERE id = ?1 RETURNING last_seq AS last, acked_seq AS acked",
      ),
      insert: q.query(
        `INSERT INTO inbox (user_id, seq, event_id, message_id, chat_id, payload, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      upsertChat: q.query(
        `INSERT INTO chats (user_id, chat_id, chat_type, last_message_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(user_id, chat_id) DO UPDATE SET last_message_at = ?4`,
      ),
      // One savepoint per user of a batch: a failing insert rolls back that user's part only.
      savepoint: q.query("SAVEPOINT inbox_user"),
      releaseSavepoint: q.query("RELEASE inbox_user"),
      rollbackSavepoint: q.query("ROLLBACK TO inbox_user"),
    };
  }

  /**
   * Dedupes and stores one group commit's messages: one lookup and one insert per message, one seq
   * allocation per user and one chat upsert per (user, chat) per batch. A message whose insert fails
   * gets its Error as result and nothing stored; the others are stored all the same.
   */
  write(batch: BatchItem[], now: number, stored: StoredMessage[]): Array<AcceptResult | Error> {
    const results: Array<AcceptResult | Error> = new Array(batch.length);
    // Messages of this batch by id → event id and index, so that copies inside one batch are caught too.
    const inBatch = new Map<string, { eventId: string; index: number }>();
    const eventsInBatch = new Map<string, number>();
    /** A copy's index → its original's index: a copy of a message that failed fails with it. */
    const copyOf = new Map<number, number>();
    const fresh = new Map<number, number[]>();
    batch.forEach(({ item }, i) => {
      const { eventId, message } = item;
      const earlier = inBatch.get(message.messageId);
      const sameEvent = eventsInBatch.get(eventId);
      const by =
        earlier !== undefined
          ? earlier.eventId === eventId
            ? "event_id"
            : "message_id"
          : sameEvent !== undefined
            ? "event_id"
            : this.#duplicateBy(eventId, message.messageId);
      if (by) {
        this.#duplicates.inc({ by });
        results[i] = { status: "duplicate" };
        const original = earlier?.index ?? sameEvent;
        if (original !== undefined) copyOf.set(i, original);
        return;
      }
      inBatch.set(message.messageId, { eventId, index: i });
      eventsInBatch.set(eventId, i);
      const list = fresh.get(item.userId);
      if (list) list.push(i);
      else fresh.set(item.userId, [i]);
    });
    for (const [userId, indexes] of fresh) {
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
            const { eventId, message } = batch[i]!.item;
            this.#log.error("inbox_message_failed", {
              userId,
              eventId,
              messageId: message.messageId,
              err: itemErr as Error,
            });
            results[i] = itemErr instanceof Error ? itemErr : new Error(String(itemErr));
          }
        }
      }
    }
    for (const [copy, original] of copyOf) {
      if (results[original] instanceof Error) results[copy] = results[original]!;
    }
    return results;
  }

  /** Runs `fn` inside a savepoint; on a throw the savepoint is rolled back and the error rethrown. */
  #inSavepoint<T>(userId: number, fn: () => T): T {
    const s = this.#stmt;
    s.savepoint.run();
    try {
      const out = fn();
      s.releaseSavepoint.run();
      return out;
    } catch (err) {
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
      s.insert.run(userId, seq, eventId, message.messageId, message.chatId, payload, now);
      bytes += Buffer.byteLength(payload);
      chats.set(message.chatId, message.chatType);
      stored.push({ userId, seq, message, payload, receivedAt: now });
    }
    for (const [chatId, chatType] of chats) s.upsertChat.run(userId, chatId, chatType, now);
    const trimmed = this.#cap.enforce(userId, taken.acked, taken.last, bytes, now);
    // Set only now: a throw above leaves these messages without a result, for the caller to fill in.
    stored.forEach((m, k) => {
      const last = k === stored.length - 1;
      results[indexes[k]!] = { status: "stored", seq: m.seq, ...(last && trimmed ? { trimmed } : {}) };
    });
    return stored;
  }

  /** Why an incoming message is a duplicate (the label of the dedupe metric), or undefined if new. */
  #duplicateBy(eventId: string, messageId: string): "event_id" | "message_id" | undefined {
    const hit = this.#stmt.duplicate.get(messageId, eventId);
    if (!hit) return undefined;
    if (hit.kind === "stored") return hit.eventId === eventId ? "event_id" : "message_id";
    return hit.kind === "e" ? "event_id" : "message_id";
  }
}
