/**
 * The inbox on PostgreSQL (cluster mode): several relay processes commit at once. A group commit is
 * one transaction, durable when COMMIT returns. Dedupe is transactional: the unique index
 * `inbox_message_id` decides with `INSERT … ON CONFLICT DO NOTHING` (a concurrent insert of the same
 * message waits for the other transaction, then conflicts), never a read alone. Seqs are allocated
 * with `UPDATE users SET last_seq = last_seq + n … RETURNING`, which row-locks the user until COMMIT;
 * a message that turns out to be a duplicate is taken out and its user's part redone, so it takes no
 * seq. Users are locked in ascending id order (commits and acks alike) so two nodes never deadlock.
 */
import { and, asc, count, desc, eq, gt, inArray, lt, lte, min, sql } from "drizzle-orm";
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
import type { Trimmed } from "./inbox-cap.ts";
import type { Backlog, CommitOutcome, InboxStore, InboxStoreOptions, PendingRow } from "./inbox-store.ts";

type Tx = Parameters<Parameters<PgDb["transaction"]>[0]>[0];
type Q = PgDb | Tx;

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

/** The unacked payload bytes of a user as of one allocation, valid while nobody else wrote. */
interface CachedBytes {
  acked: number;
  last: number;
  bytes: number;
}

export class PostgresInboxStore implements InboxStore {
  readonly dialect = "postgres" as const;
  readonly #db: PgDb;
  readonly #limits: InboxStoreOptions;
  /**
   * This node's last view of each user's unacked bytes. Used only when the user's last seq and ack are
   * exactly what this node last wrote (no other node stored or acked since); otherwise summed again.
   */
  readonly #bytes = new Map<number, CachedBytes>();

  constructor(db: PgDb, opts: InboxStoreOptions) {
    this.#db = db;
    this.#limits = opts;
  }

  async commit(batch: BatchItem[], now: number): Promise<CommitOutcome> {
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
    for (const [userId, c] of cached) this.#bytes.set(userId, c);
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
    const trimmed = await this.#enforceCap(
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

  /** The offline cap (inbox-cap.ts's rules): drops the oldest unacked messages beyond either limit. */
  async #enforceCap(
    sp: Tx,
    userId: number,
    acked: number,
    last: number,
    taken: number,
    added: number,
    now: number,
    cached: Map<number, CachedBytes>,
  ): Promise<Trimmed | undefined> {
    // Trusted only if nobody stored or acked for this user since this node's last write.
    const mine = cached.get(userId) ?? this.#bytes.get(userId);
    const bytes =
      mine && mine.acked === acked && mine.last === last - taken
        ? mine.bytes + added
        : await this.#sum(sp, userId, acked, last);
    const { maxPending, maxPendingBytes } = this.#limits;
    let upTo = Math.max(acked, last - maxPending);
    if (bytes > maxPendingBytes)
      upTo = Math.max(upTo, await this.#bytesCut(sp, userId, acked, bytes - maxPendingBytes));
    upTo = Math.min(upTo, last - 1);
    if (upTo <= acked) {
      cached.set(userId, { acked, last, bytes });
      return undefined;
    }
    const range = and(eq(inbox.userId, userId), gt(inbox.seq, acked), lte(inbox.seq, upTo));
    const [oldest] = await sp
      .select({ at: inbox.receivedAt })
      .from(inbox)
      .where(and(eq(inbox.userId, userId), gt(inbox.seq, acked)))
      .orderBy(asc(inbox.seq))
      .limit(1);
    const freed = await this.#sum(sp, userId, acked, upTo);
    // The dropped messages keep a dedupe mark so that a re-push does not bring them back.
    await sp
      .insert(seenEvents)
      .select(
        sp
          .select({
            key: sql<string>`'m:' || ${inbox.messageId}`.as("key"),
            seenAt: sql<number>`${now}::bigint`.as("seen_at"),
          })
          .from(inbox)
          .where(range),
      )
      .onConflictDoNothing();
    const dropped = await sp.delete(inbox).where(range).returning({ seq: inbox.seq });
    cached.set(userId, { acked, last, bytes: bytes - freed });
    return dropped.length > 0 ? { dropped: dropped.length, oldestReceivedAt: oldest?.at ?? now } : undefined;
  }

  async #sum(q: Q, userId: number, after: number, upTo: number): Promise<number> {
    const [row] = await q
      .select({ n: sql<number>`coalesce(sum(octet_length(${inbox.payload})), 0)`.mapWith(Number) })
      .from(inbox)
      .where(and(eq(inbox.userId, userId), gt(inbox.seq, after), lte(inbox.seq, upTo)));
    return row?.n ?? 0;
  }

  /** The highest seq that must go so that at least `excess` bytes are freed, oldest first. */
  async #bytesCut(q: Q, userId: number, acked: number, excess: number): Promise<number> {
    const running = q
      .select({
        seq: inbox.seq,
        upTo: sql<number>`sum(octet_length(${inbox.payload})) over (order by ${inbox.seq})`.as("up_to"),
      })
      .from(inbox)
      .where(and(eq(inbox.userId, userId), gt(inbox.seq, acked)))
      .as("running");
    const [row] = await q
      .select({ seq: running.seq })
      .from(running)
      .where(sql`${running.upTo} >= ${excess}`)
      .orderBy(asc(running.seq))
      .limit(1);
    if (row) return row.seq;
    const [lastRow] = await q
      .select({ seq: inbox.seq })
      .from(inbox)
      .where(eq(inbox.userId, userId))
      .orderBy(desc(inbox.seq))
      .limit(1);
    return lastRow?.seq ?? acked;
  }

  async pending(userId: number, afterSeq: number, limit: number, below: number): Promise<PendingRow[]> {
    return this.#db
      .select({ seq: inbox.seq, payload: inbox.payload, receivedAt: inbox.receivedAt })
      .from(inbox)
      .innerJoin(users, eq(users.id, inbox.userId))
      .where(
        and(
          eq(inbox.userId, userId),
          gt(inbox.seq, sql`greatest(${afterSeq}::bigint, ${users.ackedSeq})`),
          lt(inbox.seq, below),
        ),
      )
      .orderBy(asc(inbox.seq))
      .limit(limit);
  }

  async pendingCount(userId: number): Promise<number> {
    const [row] = await this.#db
      .select({ n: count() })
      .from(inbox)
      .innerJoin(users, eq(users.id, inbox.userId))
      .where(and(eq(inbox.userId, userId), gt(inbox.seq, users.ackedSeq)));
    return row?.n ?? 0;
  }

  async ack(acks: ReadonlyArray<readonly [number, number]>): Promise<number> {
    // Ascending user id: the lock order of the inbox commits too.
    const sortedAcks = [...acks].sort((a, b) => a[0] - b[0]);
    return this.#db.transaction(async (tx) => {
      let advanced = 0;
      for (const [userId, seq] of sortedAcks) {
        // Conditional: moves only forward and never past the last seq; a row comes back only if it moved.
        const target = sql`least(${seq}::bigint, ${users.lastSeq})`;
        const rows = await tx
          .update(users)
          .set({ ackedSeq: target })
          .where(and(eq(users.id, userId), lt(users.ackedSeq, target)))
          .returning({ id: users.id });
        advanced += rows.length;
      }
      return advanced;
    });
  }

  async ackedSeq(userId: number): Promise<number> {
    const [row] = await this.#db.select({ acked: users.ackedSeq }).from(users).where(eq(users.id, userId));
    return row?.acked ?? 0;
  }

  async markSeen(key: string, now: number): Promise<boolean> {
    const rows = await this.#db
      .insert(seenEvents)
      .values({ key, seenAt: now })
      .onConflictDoNothing()
      .returning({ key: seenEvents.key });
    return rows.length > 0;
  }

  async isSeen(key: string): Promise<boolean> {
    const rows = await this.#db
      .select({ key: seenEvents.key })
      .from(seenEvents)
      .where(eq(seenEvents.key, key));
    return rows.length > 0;
  }

  async chatAllowed(userId: number, chatId: string): Promise<boolean> {
    const rows = await this.#db
      .select({ chatId: chats.chatId })
      .from(chats)
      .where(and(eq(chats.userId, userId), eq(chats.chatId, chatId)));
    return rows.length > 0;
  }

  async deliveredMessage(userId: number, messageId: string) {
    const [row] = await this.#db
      .select({
        chatId: inbox.chatId,
        threadId: sql<string | null>`(${inbox.payload}::jsonb) ->> 'threadId'`,
      })
      .from(inbox)
      .where(and(eq(inbox.userId, userId), eq(inbox.messageId, messageId)));
    return row ? { chatId: row.chatId, threadId: row.threadId ?? undefined } : undefined;
  }

  async latestMessageId(userId: number): Promise<string | undefined> {
    const [row] = await this.#db
      .select({ messageId: inbox.messageId })
      .from(inbox)
      .where(eq(inbox.userId, userId))
      .orderBy(desc(inbox.seq))
      .limit(1);
    return row?.messageId;
  }

  async rewrite(userId: number, seq: number, payload: string): Promise<void> {
    await this.#db
      .update(inbox)
      .set({ payload })
      .where(and(eq(inbox.userId, userId), eq(inbox.seq, seq)));
    // The payload's size changed: the cap sums the user's bytes again on its next commit.
    this.#bytes.delete(userId);
  }

  async payloadOf(userId: number, messageId: string): Promise<string | undefined> {
    const [row] = await this.#db
      .select({ payload: inbox.payload })
      .from(inbox)
      .where(and(eq(inbox.userId, userId), eq(inbox.messageId, messageId)));
    return row?.payload;
  }

  async quotingPayload(userId: number, messageId: string): Promise<string | undefined> {
    const [row] = await this.#db
      .select({ payload: inbox.payload })
      .from(inbox)
      .where(
        and(
          eq(inbox.userId, userId),
          sql`(${inbox.payload}::jsonb) -> 'quoted' ->> 'messageId' = ${messageId}`,
        ),
      )
      .orderBy(desc(inbox.seq))
      .limit(1);
    return row?.payload;
  }

  async prune(messagesUpTo: number, marksUpTo: number) {
    const acked = sql`(SELECT ${users.ackedSeq} FROM ${users} WHERE ${users.id} = ${inbox.userId})`;
    const messages = await this.#db
      .delete(inbox)
      .where(and(lte(inbox.receivedAt, messagesUpTo), lte(inbox.seq, acked)))
      .returning({ id: inbox.id });
    const marks = await this.#db
      .delete(seenEvents)
      .where(lte(seenEvents.seenAt, marksUpTo))
      .returning({ key: seenEvents.key });
    return { messages: messages.length, marks: marks.length };
  }

  async backlog(): Promise<Backlog> {
    const [row] = await this.#db
      .select({ n: count(), at: min(inbox.receivedAt) })
      .from(inbox)
      .innerJoin(users, eq(users.id, inbox.userId))
      .where(gt(inbox.seq, users.ackedSeq));
    return { pending: row?.n ?? 0, oldestReceivedAt: row?.at ?? null };
  }

  async close(): Promise<void> {}
}
