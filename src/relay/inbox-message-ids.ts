/**
 * The SQLite inbox's message_id → row index, in memory instead of a database index (db/schema.ts says
 * why). It mirrors the inbox table: loaded once at start, added to after each commit, removed from
 * when rows are pruned or dropped at the cap. Exact because one process writes the database (the
 * relay's file lock).
 *
 * It keeps a 32-bit hash of each message id and its row (ops/hash-index.ts: no GC cells, no retained
 * strings), so what a hash finds is only a candidate: `rowOf` asks the caller which message each
 * candidate row holds, and only the row holding this very message answers. A candidate whose row is
 * gone (a user deleted, rows cascading behind the index's back) or now holds a message of another
 * hash (its rowid reused) is stale and dropped on the way; one holding another message of the same
 * hash is a collision and stays. Memory: 12–24 bytes per stored message. Its only I/O is the
 * `messageAt` it is given, which reads a candidate row.
 */
import { fnv1a, HashIndex } from "../ops/hash-index.ts";

/** A stored message and its row, as the prune and the cap report them. */
export interface MessageRow {
  messageId: string;
  id: number;
}

/** Which message a row holds (null: no such row). */
export type MessageAt = (rowid: number) => string | null;

export class MessageIds {
  readonly #index: HashIndex;
  readonly #messageAt: MessageAt;
  readonly #hash: (messageId: string) => number;

  constructor(messageAt: MessageAt, hash: (messageId: string) => number = fnv1a, expected = 0) {
    this.#messageAt = messageAt;
    this.#hash = hash;
    this.#index = new HashIndex(expected);
  }

  /** Fills the index from `(messageId, rowid)` pairs (the whole inbox, at start-up). */
  static from(
    rows: readonly MessageRow[],
    messageAt: MessageAt,
    hash?: (messageId: string) => number,
  ): MessageIds {
    const ids = new MessageIds(messageAt, hash, rows.length);
    for (const r of rows) ids.add(r.messageId, r.id);
    return ids;
  }

  /**
   * The row holding `messageId`, if one was stored (and not removed since). Each candidate row is read
   * (`messageAt`); usually no candidate is found and nothing is read.
   */
  rowOf(messageId: string): number | undefined {
    const hash = this.#hash(messageId);
    return this.#index.find(hash, (rowid) => {
      const held = this.#messageAt(rowid);
      if (held === messageId) return "found";
      return held === null || this.#hash(held) !== hash ? "drop" : "next";
    });
  }

  /** After a commit: this message is stored in this row. */
  add(messageId: string, rowid: number): void {
    this.#index.add(this.#hash(messageId), rowid);
  }

  /** Rows deleted (prune, cap). */
  remove(rows: Iterable<MessageRow>): void {
    for (const r of rows) this.#index.delete(this.#hash(r.messageId), r.id);
  }

  get size(): number {
    return this.#index.size;
  }
}
