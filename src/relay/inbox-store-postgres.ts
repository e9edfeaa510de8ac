/**
 * The inbox on PostgreSQL (cluster mode): several relay processes read and write at once. The group
 * commit is inbox-batch-postgres.ts's; acks are conditional updates (forward only, never past the last
 * seq) taking the users' row locks in ascending id order, like the commits.
 */
import { and, asc, count, desc, eq, gt, inArray, lt, lte, min, sql } from "drizzle-orm";
import { chats, inbox, seenEvents, users } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import type { BatchItem } from "./inbox-batch.ts";
import { PostgresBatchWriter } from "./inbox-batch-postgres.ts";
import { PostgresCap } from "./inbox-cap-postgres.ts";
import type { Backlog, CommitOutcome, InboxStore, InboxStoreOptions, PendingRow } from "./inbox-store.ts";

export { isPostgresDatabaseWide } from "./inbox-batch-postgres.ts";

export class PostgresInboxStore implements InboxStore {
  readonly dialect = "postgres" as const;
  /** 7 parameters per inserted row: 2,000 rows stay far below PostgreSQL's 65,535 per statement. */
  readonly maxBatch = 2000;
  readonly #db: PgDb;
  readonly #cap: PostgresCap;
  readonly #batch: PostgresBatchWriter;

  constructor(db: PgDb, opts: InboxStoreOptions) {
    this.#db = db;
    this.#cap = new PostgresCap(opts);
    this.#batch = new PostgresBatchWriter(db, this.#cap);
  }

  /** Durable on return: no `durable` promise. */
  commit(batch: BatchItem[], now: number): Promise<CommitOutcome> {
    return this.#batch.commit(batch, now);
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
    const ids = acks.map(([userId]) => userId);
    // Each user's acked seq from this flush, as one expression (one UPDATE for all users).
    const wanted = sql`CASE ${users.id} ${sql.join(
      acks.map(([userId, seq]) => sql`WHEN ${userId}::int THEN ${seq}::bigint`),
      sql` `,
    )} END`;
    const target = sql`least(${wanted}, ${users.lastSeq})`;
    return this.#db.transaction(async (tx) => {
      // Ascending id, the lock order of the inbox commits: an ack flush never deadlocks with them.
      await tx
        .select({ id: users.id })
        .from(users)
        .where(inArray(users.id, ids))
        .orderBy(asc(users.id))
        .for("no key update");
      // Conditional: moves only forward and never past the last seq; a row comes back only if it moved.
      const moved = await tx
        .update(users)
        .set({ ackedSeq: target })
        .where(and(inArray(users.id, ids), lt(users.ackedSeq, target)))
        .returning({ id: users.id });
      return moved.length;
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
    this.#cap.forget(userId);
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
