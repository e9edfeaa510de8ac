/** The `streams` table's port on PostgreSQL (cluster mode). */
import { and, eq, inArray, lte } from "drizzle-orm";
import { streams } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import { ENDED, type StreamRow, type StreamStatus, type StreamStore, UNFINISHED } from "./stream-store.ts";

const COLS = {
  id: streams.id,
  userId: streams.userId,
  streamId: streams.streamId,
  target: streams.target,
  cardId: streams.cardId,
  messageId: streams.messageId,
  sequence: streams.sequence,
  shownText: streams.shownText,
  status: streams.status,
  updatedAt: streams.updatedAt,
};

export class PostgresStreamStore implements StreamStore {
  readonly shared = true;

  constructor(private readonly db: PgDb) {}

  async byStream(userId: number, streamId: string) {
    const [row] = await this.db
      .select(COLS)
      .from(streams)
      .where(and(eq(streams.userId, userId), eq(streams.streamId, streamId)));
    return row as StreamRow | undefined;
  }
  async insert(userId: number, streamId: string, target: string, now: number) {
    const [row] = await this.db
      .insert(streams)
      .values({ userId, streamId, target, status: "opening", createdAt: now, updatedAt: now })
      .onConflictDoNothing({ target: [streams.userId, streams.streamId] })
      .returning(COLS);
    return row as StreamRow | undefined;
  }
  async opened(id: number, cardId: string, messageId: string, shown: string, now: number) {
    await this.#set(id, { cardId, messageId, shownText: shown, status: "open", updatedAt: now });
  }
  async cardCreated(id: number, cardId: string, now: number) {
    await this.#set(id, { cardId, updatedAt: now });
  }
  async sequence(id: number, sequence: number) {
    await this.#set(id, { sequence });
  }
  async shown(id: number, text: string, now: number) {
    await this.#set(id, { shownText: text, updatedAt: now });
  }
  async setStatus(id: number, status: StreamStatus, now: number) {
    await this.#set(id, { status, updatedAt: now });
  }
  async unfinished(before: number) {
    const rows = await this.db
      .select(COLS)
      .from(streams)
      .where(and(inArray(streams.status, UNFINISHED), lte(streams.updatedAt, before)))
      .orderBy(streams.id);
    return rows as StreamRow[];
  }
  async prune(before: number) {
    const rows = await this.db
      .delete(streams)
      .where(and(inArray(streams.status, ENDED), lte(streams.updatedAt, before)))
      .returning({ id: streams.id });
    return rows.length;
  }

  async #set(id: number, set: Partial<typeof streams.$inferInsert>) {
    await this.db.update(streams).set(set).where(eq(streams.id, id));
  }
}
