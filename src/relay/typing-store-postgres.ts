/**
 * The typing record's PostgreSQL adapter (cluster mode): the `typing_reactions` table itself, read
 * and written directly, so any node can end a reaction another node added.
 */
import { and, eq, lte } from "drizzle-orm";
import { typingReactions } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import type { TypingRow, TypingStore } from "./typing-store.ts";

const PG_COLS = {
  messageId: typingReactions.messageId,
  userId: typingReactions.userId,
  seq: typingReactions.seq,
  reactionId: typingReactions.reactionId,
  addedAt: typingReactions.addedAt,
};

/**
 * Cluster: every read and write goes to the table, so any node can end a reaction another node
 * added (the reply, the ack or the timeout may happen elsewhere). A failed write is reported and
 * read as "not held": the indicator must never throw into delivery.
 */
export class PostgresTypingStore implements TypingStore {
  #size = 0;

  constructor(
    private readonly db: PgDb,
    private readonly onError: (err: unknown) => void,
  ) {}

  get size(): number {
    return this.#size;
  }

  async loadLeftovers(): Promise<TypingRow[]> {
    // Other nodes' rows are live: nothing is a leftover at start. The timeout sweep (olderThan)
    // removes what a dead node left.
    return [];
  }
  async get(messageId: string) {
    const rows = await this.#read(() =>
      this.db.select(PG_COLS).from(typingReactions).where(eq(typingReactions.messageId, messageId)),
    );
    return rows[0];
  }
  async claim(messageId: string, userId: number, seq: number, now: number) {
    try {
      const rows = await this.db
        .insert(typingReactions)
        .values({ messageId, userId, seq, reactionId: null, addedAt: now })
        .onConflictDoNothing({ target: typingReactions.messageId })
        .returning({ messageId: typingReactions.messageId });
      if (rows.length > 0) this.#size++;
      return rows.length > 0;
    } catch (err) {
      this.onError(err);
      return false;
    }
  }
  async added(messageId: string, reactionId: string) {
    try {
      const rows = await this.db
        .update(typingReactions)
        .set({ reactionId })
        .where(eq(typingReactions.messageId, messageId))
        .returning({ messageId: typingReactions.messageId });
      return rows.length > 0;
    } catch (err) {
      this.onError(err);
      return true;
    }
  }
  async drop(messageId: string) {
    try {
      const rows = await this.db
        .delete(typingReactions)
        .where(eq(typingReactions.messageId, messageId))
        .returning({ messageId: typingReactions.messageId });
      if (rows.length > 0) this.#size = Math.max(0, this.#size - 1);
    } catch (err) {
      this.onError(err);
    }
  }
  ackedBy(userId: number, seq: number) {
    return this.#read(() =>
      this.db
        .select(PG_COLS)
        .from(typingReactions)
        .where(and(eq(typingReactions.userId, userId), lte(typingReactions.seq, seq))),
    );
  }
  olderThan(cutoff: number) {
    return this.#read(() =>
      this.db.select(PG_COLS).from(typingReactions).where(lte(typingReactions.addedAt, cutoff)),
    );
  }
  async durable() {
    // Claims are committed before `claim` resolves.
    return true;
  }
  async flush() {
    return true;
  }

  async #read(query: () => Promise<TypingRow[]>): Promise<TypingRow[]> {
    try {
      return await query();
    } catch (err) {
      this.onError(err);
      return [];
    }
  }
}
