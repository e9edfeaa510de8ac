/**
 * The `streams` table's port (`StreamStore`): one streaming card per (user, stream id). `sequence` is
 * written before each card call so a restart continues above it; `shown_text` after each call
 * Feishu accepted. Adapters: SQLite (statements prepared once) and PostgreSQL (stream-store-postgres.ts).
 */
import type { Db } from "../db/open.ts";
import type { Storage } from "../storage/storage.ts";

export type StreamStatus = "opening" | "open" | "closed" | "final" | "failed";

export interface StreamRow {
  id: number;
  userId: number;
  streamId: string;
  /** DeliveryTarget as JSON. */
  target: string;
  cardId: string | null;
  messageId: string | null;
  sequence: number;
  shownText: string;
  status: StreamStatus;
  updatedAt: number;
}

export interface StreamStore {
  /** Other processes write this table too (cluster): a stream open here may be another node's. */
  readonly shared: boolean;
  byStream(userId: number, streamId: string): Promise<StreamRow | undefined>;
  /** The new row (`opening`), or undefined when the stream exists already (the unique index decides). */
  insert(userId: number, streamId: string, target: string, now: number): Promise<StreamRow | undefined>;
  opened(id: number, cardId: string, messageId: string, shown: string, now: number): Promise<void>;
  cardCreated(id: number, cardId: string, now: number): Promise<void>;
  sequence(id: number, sequence: number): Promise<void>;
  shown(id: number, text: string, now: number): Promise<void>;
  setStatus(id: number, status: StreamStatus, now: number): Promise<void>;
  /** Streams still `opening` or `open` last updated at or before `before`, oldest first. */
  unfinished(before: number): Promise<StreamRow[]>;
  /** Forgets ended streams last updated at or before `before`; how many. */
  prune(before: number): Promise<number>;
}

export function createStreamStore(storage: Storage): StreamStore {
  return storage.dialect === "sqlite"
    ? new SqliteStreamStore(storage.db)
    : new storage.adapters.PostgresStreamStore(storage.db);
}

export const ENDED: StreamStatus[] = ["closed", "final", "failed"];
export const UNFINISHED: StreamStatus[] = ["opening", "open"];

function statements(db: Db) {
  const c = db.$client;
  const cols = `id, user_id AS userId, stream_id AS streamId, target, card_id AS cardId,
    message_id AS messageId, sequence, shown_text AS shownText, status, updated_at AS updatedAt`;
  return {
    byStream: c.query<StreamRow, [number, string]>(
      `SELECT ${cols} FROM streams WHERE user_id = ? AND stream_id = ?`,
    ),
    insert: c.query<StreamRow, [number, string, string, number]>(
      `INSERT INTO streams (user_id, stream_id, target, status, created_at, updated_at)
       VALUES (?1, ?2, ?3, 'opening', ?4, ?4) ON CONFLICT DO NOTHING RETURNING ${cols}`,
    ),
    opened: c.query<never, [number, string, string, string, number]>(
      `UPDATE streams SET card_id = ?2, message_id = ?3, shown_text = ?4, status = 'open', updated_at = ?5
       WHERE id = ?1`,
    ),
    cardCreated: c.query<never, [number, string, number]>(
      "UPDATE streams SET card_id = ?2, updated_at = ?3 WHERE id = ?1",
    ),
    sequence: c.query<never, [number, number]>("UPDATE streams SET sequence = ?2 WHERE id = ?1"),
    shown: c.query<never, [number, string, number]>(
      "UPDATE streams SET shown_text = ?2, updated_at = ?3 WHERE id = ?1",
    ),
    status: c.query<never, [number, string, number]>(
      "UPDATE streams SET status = ?2, updated_at = ?3 WHERE id = ?1",
    ),
    unfinished: c.query<StreamRow, [number]>(
      `SELECT ${cols} FROM streams WHERE status IN ('opening', 'open') AND updated_at <= ? ORDER BY id`,
    ),
    prune: c.query<never, [number]>(
      "DELETE FROM streams WHERE status IN ('closed', 'final', 'failed') AND updated_at <= ?",
    ),
  };
}

export class SqliteStreamStore implements StreamStore {
  readonly shared = false;
  readonly #q;

  constructor(db: Db) {
    this.#q = statements(db);
  }

  async byStream(userId: number, streamId: string) {
    return this.#q.byStream.get(userId, streamId) ?? undefined;
  }
  async insert(userId: number, streamId: string, target: string, now: number) {
    return this.#q.insert.get(userId, streamId, target, now) ?? undefined;
  }
  async opened(id: number, cardId: string, messageId: string, shown: string, now: number) {
    this.#q.opened.run(id, cardId, messageId, shown, now);
  }
  async cardCreated(id: number, cardId: string, now: number) {
    this.#q.cardCreated.run(id, cardId, now);
  }
  async sequence(id: number, sequence: number) {
    this.#q.sequence.run(id, sequence);
  }
  async shown(id: number, text: string, now: number) {
    this.#q.shown.run(id, text, now);
  }
  async setStatus(id: number, status: StreamStatus, now: number) {
    this.#q.status.run(id, status, now);
  }
  async unfinished(before: number) {
    return this.#q.unfinished.all(before);
  }
  async prune(before: number) {
    return this.#q.prune.run(before).changes;
  }
}
