/**
 * The PostgreSQL adapter's group commit (inbox-store-postgres.ts): one transaction, durable when
 * COMMIT returns, while other relay processes commit too. Dedupe is transactional: one read finds what
 * was stored or marked before, and the unique index `inbox_message_id` decides the rest with
 * `INSERT … ON CONFLICT DO NOTHING` (an insert of a message another transaction is inserting waits for
 * it, then conflicts). Seqs come from `UPDATE users SET last_seq = last_seq + n … RETURNING`, which
 * row-locks the user until COMMIT; a message found stored meanwhile rolls its user's savepoint back
 * and the part is redone without it, so a duplicate never takes a seq. Users are locked in ascending
 * id order (commits and acks alike): two nodes never deadlock.
 */
import { eq, inArray, sql } from "drizzle-orm";
import { chats, inbox, seenEvents, users } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import type { StoredMessage } from "./inbox.ts";
import {
  type BatchItem,
  type DuplicateBy,
  type SortedBatch,
  settleCopies,
  settleStored,
  sortBatch,
} from "./inbox-batch.ts";
import type { CachedBytes, PostgresCap, Tx } from "./inbox-cap-postgres.ts";
import type { CommitOutcome } from "./inbox-store.ts";

/**
 * SQLSTATE classes that concern the whole database, not one row (connection exception, insufficient
 * resources such as a full disk, operator intervention, system/I-O error, internal error), and
 * "current transaction is aborted": they fail the whole commit, as DATABASE_WIDE does for SQLite.
 */
const DATABASE_WIDE_SQLSTATE = /^(08|53|57|58|XX)|^25P02$/;

/** Bun's client errors other than a server's answer (connection closed, refused, timed out…). */
const CLIENT_SIDE = /^ERR_POSTGRES_/;

export function isPostgresDatabaseWide(err: unknown): boolean {
  // Drizzle wraps the driver's error (DrizzleQueryError.cause).
  for (
    let e = err as { code?: unknown; errno?: unknown; cause?: unknown } | null;
    e;
    e = e.cause as typeof e
  ) {
    if (e.code === "ERR_POSTGRES_SERVER_ERROR")
      return typeof e.errno === "string" && DATABASE_WIDE_SQLSTATE.test(e.errno);
    if (typeof e.code === "string" && CLIENT_SIDE.test(e.code)) return true;
  }
  return false;
}

/** Some of a user's messages were committed by another transaction (another node) since they were read. */
class StoredMeanwhile extends Error {
  constructor(readonly messageIds: Set<string>) {
    super("messages stored meanwhile by another transaction");
  }
}

export class PostgresBatchWriter {
  readonly #db: PgDb;
  readonly #cap: PostgresCap;

  constructor(db: PgDb, cap: PostgresCap) {
    this.#db = db;
    this.#cap = cap;
  }

  async commit(batch: BatchItem[], now: number): Promise<Omit<CommitOutcome, "durable">> {
    const cached = new Map<number, CachedBytes>();
    const outcome = await this.#db.transaction(async (tx) => {
      const known = await this.#knownDuplicates(tx, batch);
      const sorted = sortBatch(batch, (eventId, messageId) => known(eventId, messageId));
      const stored: StoredMessage[] = [];
      // Ascending user id: the lock order every transaction of every node follows.
      const users = [...sorted.fresh.keys()].sort((a, b) => a - b);
      for (const userId of users) {
        const indexes = sorted.fresh.get(userId)!;
        try {
          stored.push(...(await this.#userPart(tx, batch, sorted, userId, indexes, now, cached)));
        } catch (err) {
          if (isPostgresDatabaseWide(err)) throw err;
          cached.delete(userId);
          // Something in this user's part is bad: each of their messages is tried alone.
          for (const i of indexes) {
            try {
              stored.push(...(await this.#userPart(tx, batch, sorted, userId, [i], now, cached)));
            } catch (itemErr) {
              if (isPostgresDatabaseWide(itemErr)) throw itemErr;
              cached.delete(userId);
              sorted.results[i] = itemErr instanceof Error ? itemErr : new Error(String(itemErr));
            }
          }
        }
      }
      return { results: settleCopies(sorted), stored, duplicates: sorted.duplicates };
    });
    this.#cap.committed(cached);
    return outcome;
  }

  /**
   * Which messages of the batch are already stored (their event id tells by what) or marked: one read
   * for the whole batch. A message committed by another node after this read still conflicts on the
   * unique index at insert time (`#userPart`).
   */
  async #knownDuplicates(tx: Tx, batch: BatchItem[]) {
    const messageIds = [...new Set(batch.map((b) => b.item.message.messageId))];
    const keys = [
      ...new Set([...batch.map((b) => `e:${b.item.eventId}`), ...messageIds.map((id) => `m:${id}`)]),
    ];
    const [rows, marks] = await Promise.all([
      tx
        .select({ messageId: inbox.messageId, eventId: inbox.eventId })
        .from(inbox)
        .where(inArray(inbox.messageId, messageIds)),
      tx.select({ key: seenEvents.key }).from(seenEvents).where(inArray(seenEvents.key, keys)),
    ]);
    const storedEvent = new Map(rows.map((r) => [r.messageId, r.eventId]));
    const marked = new Set(marks.map((m) => m.key));
    return (eventId: string, messageId: string): DuplicateBy | undefined => {
      const stored = storedEvent.get(messageId);
      if (stored !== undefined) return stored === eventId ? "event_id" : "message_id";
      if (marked.has(`m:${messageId}`)) return "message_id";
      return marked.has(`e:${eventId}`) ? "event_id" : undefined;
    };
  }

  /**
   * One user's new messages in a savepoint: seqs, inserts, chats, cap. A message another node
   * committed meanwhile rolls the savepoint back (its seq is given back) and becomes a duplicate;
   * the rest are stored again.
   */
  async #userPart(
    tx: Tx,
    batch: BatchItem[],
    sorted: SortedBatch,
    userId: number,
    indexes: number[],
    now: number,
    cached: Map<number, CachedBytes>,
  ): Promise<StoredMessage[]> {
    let todo = indexes;
    while (todo.length > 0) {
      try {
        return await tx.transaction((sp) => this.#insertUser(sp, batch, sorted, userId, todo, now, cached));
      } catch (err) {
        if (!(err instanceof StoredMeanwhile)) throw err;
        todo = todo.filter((i) => {
          if (!err.messageIds.has(batch[i]!.item.message.messageId)) return true;
          sorted.results[i] = { status: "duplicate" };
          sorted.duplicates.message_id += 1;
          return false;
        });
      }
    }
    return [];
  }

  async #insertUser(
    sp: Tx,
    batch: BatchItem[],
    sorted: SortedBatch,
    userId: number,
    indexes: number[],
    now: number,
    cached: Map<number, CachedBytes>,
  ): Promise<StoredMessage[]> {
    const [taken] = await sp
      .update(users)
      .set({ lastSeq: sql`${users.lastSeq} + ${indexes.length}` })
      .where(eq(users.id, userId))
      .returning({ last: users.lastSeq, acked: users.ackedSeq });
    if (!taken) throw new Error(`user ${userId} does not exist`);
    let seq = taken.last - indexes.length;
    const stored: StoredMessage[] = [];
    const chatTypes = new Map<string, string>();
    let bytes = 0;
    const rows = indexes.map((i) => {
      const { item, payload } = batch[i]!;
      seq += 1;
      bytes += Buffer.byteLength(payload);
      chatTypes.set(item.message.chatId, item.message.chatType);
      stored.push({ userId, seq, message: item.message, payload, receivedAt: now });
      return {
        userId,
        seq,
        eventId: item.eventId,
        messageId: item.message.messageId,
        chatId: item.message.chatId,
        payload,
        receivedAt: now,
      };
    });
    const inserted = await sp
      .insert(inbox)
      .values(rows)
      .onConflictDoNothing()
      .returning({ messageId: inbox.messageId });
    if (inserted.length < rows.length) {
      const won = new Set(inserted.map((r) => r.messageId));
      throw new StoredMeanwhile(new Set(rows.map((r) => r.messageId).filter((id) => !won.has(id))));
    }
    await sp
      .insert(chats)
      .values([...chatTypes].map(([chatId, chatType]) => ({ userId, chatId, chatType, lastMessageAt: now })))
      .onConflictDoUpdate({ target: [chats.userId, chats.chatId], set: { lastMessageAt: now } });
    const trimmed = await this.#cap.enforce(
      sp,
      userId,
      taken.acked,
      taken.last,
      rows.length,
      bytes,
      now,
      cached,
    );
    settleStored(sorted.results, indexes, stored, trimmed);
    return stored;
  }
}
