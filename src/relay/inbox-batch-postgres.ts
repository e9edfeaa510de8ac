/**
 * The PostgreSQL adapter's group commit (inbox-store-postgres.ts): one transaction, durable when
 * COMMIT returns, while other relay processes commit too. Dedupe is transactional: one read finds what
 * was stored or marked before, and the unique index `inbox_message_id` decides the rest with
 * `INSERT … ON CONFLICT DO NOTHING` (an insert of a message another transaction is inserting waits for
 * it, then conflicts). The batch's users are row-locked (`SELECT … FOR NO KEY UPDATE`, which
 * foreign-key checks of other inserts — sessions, outbox — do not wait for; ascending id: the
 * order commits and acks of every node follow, so two nodes never deadlock) before their seqs are
 * taken, and stay locked until COMMIT; a message found stored meanwhile rolls the savepoint back and
 * the part is redone without it, so a duplicate never takes a seq. The whole batch is written with a
 * few set-based statements; if that fails, each user's part, then each message, is tried alone.
 */
import { asc, inArray, sql } from "drizzle-orm";
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
import type { CachedBytes, CapPart, PostgresCap, Tx } from "./inbox-cap-postgres.ts";
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

/** Per user (ascending id), the indexes of their new messages in the batch. */
type Parts = Map<number, number[]>;

export class PostgresBatchWriter {
  readonly #db: PgDb;
  readonly #cap: PostgresCap;

  constructor(db: PgDb, cap: PostgresCap) {
    this.#db = db;
    this.#cap = cap;
  }

  async commit(batch: BatchItem[], now: number): Promise<Omit<CommitOutcome, "durable">> {
    const views = new Map<number, CachedBytes>();
    const outcome = await this.#db.transaction(async (tx) => {
      const known = await this.#knownDuplicates(tx, batch);
      const sorted = sortBatch(batch, (eventId, messageId) => known(eventId, messageId));
      const stored: StoredMessage[] = [];
      const all: Parts = new Map([...sorted.fresh].sort((a, b) => a[0] - b[0]));
      try {
        stored.push(...(await this.#inSavepoint(tx, batch, sorted, all, now, views)));
      } catch (err) {
        if (isPostgresDatabaseWide(err)) throw err;
        views.clear();
        // Something in the batch is bad: each user's part is tried alone, then each message.
        for (const [userId, indexes] of all) {
          try {
            stored.push(
              ...(await this.#inSavepoint(tx, batch, sorted, new Map([[userId, indexes]]), now, views)),
            );
          } catch (userErr) {
            if (isPostgresDatabaseWide(userErr)) throw userErr;
            views.delete(userId);
            for (const i of indexes) {
              try {
                stored.push(
                  ...(await this.#inSavepoint(tx, batch, sorted, new Map([[userId, [i]]]), now, views)),
                );
              } catch (itemErr) {
                if (isPostgresDatabaseWide(itemErr)) throw itemErr;
                views.delete(userId);
                sorted.results[i] = itemErr instanceof Error ? itemErr : new Error(String(itemErr));
              }
            }
          }
        }
      }
      return { results: settleCopies(sorted), stored, duplicates: sorted.duplicates };
    });
    this.#cap.committed(views);
    return outcome;
  }

  /**
   * Which messages of the batch are already stored (their event id tells by what) or marked: one read
   * for the whole batch. A message committed by another node after this read still conflicts on the
   * unique index at insert time (`#insert`).
   */
  async #knownDuplicates(tx: Tx, batch: BatchItem[]) {
    const messageIds = [...new Set(batch.map((b) => b.item.message.messageId))];
    const keys = [
      ...new Set([...batch.map((b) => `e:${b.item.eventId}`), ...messageIds.map((id) => `m:${id}`)]),
    ];
    // One connection runs the two reads in this order: a cap trim on another node (marks, then
    // deletes, one transaction) that commits between them leaves its row to the first or its mark to
    // the second, so a trimmed message never looks new.
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
   * The parts' messages in a savepoint. A message another node committed meanwhile rolls it back (the
   * seqs are given back) and becomes a duplicate; the rest are written again.
   */
  async #inSavepoint(
    tx: Tx,
    batch: BatchItem[],
    sorted: SortedBatch,
    parts: Parts,
    now: number,
    views: Map<number, CachedBytes>,
  ): Promise<StoredMessage[]> {
    let todo = parts;
    while (todo.size > 0) {
      try {
        return await tx.transaction((sp) => this.#insert(sp, batch, sorted, todo, now, views));
      } catch (err) {
        if (!(err instanceof StoredMeanwhile)) throw err;
        const left: Parts = new Map();
        for (const [userId, indexes] of todo) {
          const rest = indexes.filter((i) => {
            if (!err.messageIds.has(batch[i]!.item.message.messageId)) return true;
            sorted.results[i] = { status: "duplicate" };
            sorted.duplicates.message_id += 1;
            return false;
          });
          if (rest.length > 0) left.set(userId, rest);
        }
        todo = left;
      }
    }
    return [];
  }

  /** Locks the users, takes their seqs, inserts, notes the chats, applies the cap; sets the results. */
  async #insert(
    sp: Tx,
    batch: BatchItem[],
    sorted: SortedBatch,
    parts: Parts,
    now: number,
    views: Map<number, CachedBytes>,
  ): Promise<StoredMessage[]> {
    const ids = [...parts.keys()];
    const locked = await sp
      .select({ id: users.id, last: users.lastSeq, acked: users.ackedSeq })
      .from(users)
      .where(inArray(users.id, ids))
      .orderBy(asc(users.id))
      .for("no key update");
    const found = new Map(locked.map((u) => [u.id, u]));
    const missing = ids.find((id) => !found.has(id));
    if (missing !== undefined) throw new Error(`user ${missing} does not exist`);
    const stored: StoredMessage[] = [];
    const rows: Array<typeof inbox.$inferInsert> = [];
    const chatRows = new Map<string, typeof chats.$inferInsert>();
    const capParts: CapPart[] = [];
    for (const [userId, indexes] of parts) {
      const { last, acked } = found.get(userId)!;
      let added = 0;
      indexes.forEach((i, k) => {
        const { item, payload } = batch[i]!;
        const seq = last + k + 1;
        added += Buffer.byteLength(payload);
        const { messageId, chatId, chatType } = item.message;
        chatRows.set(`${userId}\u0000${chatId}`, { userId, chatId, chatType, lastMessageAt: now });
        stored.push({ userId, seq, message: item.message, payload, receivedAt: now });
        rows.push({ userId, seq, eventId: item.eventId, messageId, chatId, payload, receivedAt: now });
      });
      capParts.push({ userId, acked, last: last + indexes.length, taken: indexes.length, added });
    }
    const inserted = await sp
      .insert(inbox)
      .values(rows)
      .onConflictDoNothing()
      .returning({ messageId: inbox.messageId });
    if (inserted.length < rows.length) {
      const won = new Set(inserted.map((r) => r.messageId));
      throw new StoredMeanwhile(new Set(rows.map((r) => r.messageId).filter((id) => !won.has(id))));
    }
    // The rows are locked: the new last seqs are set outright, one statement for all users.
    const newLast = sql.join(
      capParts.map((p) => sql`WHEN ${p.userId}::int THEN ${p.last}::bigint`),
      sql` `,
    );
    await sp
      .update(users)
      .set({ lastSeq: sql`CASE ${users.id} ${newLast} END` })
      .where(inArray(users.id, ids));
    await sp
      .insert(chats)
      .values([...chatRows.values()])
      .onConflictDoUpdate({ target: [chats.userId, chats.chatId], set: { lastMessageAt: now } });
    const trimmed = await this.#cap.enforce(sp, capParts, now, views);
    // Set only now: a throw above leaves these messages without a result, for the caller to fill in.
    let at = 0;
    for (const [userId, indexes] of parts) {
      settleStored(sorted.results, indexes, stored.slice(at, at + indexes.length), trimmed.get(userId));
      at += indexes.length;
    }
    return stored;
  }
}
