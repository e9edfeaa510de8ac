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
 * `rowAt` it is given, which reads a candidate row; the row found is handed back (`stored`), so a
 * caller that needs more of it (the batch writer: its event id) does not read it again.
 */
import { fnv1a, HashIndex } from "../ops/hash-index.ts";

/** A stored message and its row, as the prune and the cap report them. */
export interface MessageRow {
  messageId: string;
  id: number;
}

/** A stored message's row as the dedupe reads it (`INBOX_SQL.storedRow`). */
export interface StoredRow {
  eventId: string;
  messageId: string;
}

/** What a row holds: at least its message id (null: no such row). */
export type RowAt<R extends { messageId: string }> = (rowid: number) => R | null;

export class MessageIds<R extends { messageId: string } = { messageId: string }> {
  readonly #index: HashIndex;
  readonly #rowAt: RowAt<R>;
  readonly #hash: (messageId: string) => number;

  constructor(rowAt: RowAt<R>, hash: (messageId: string) => number = fnv1a, expected = 0) {
    this.#rowAt = rowAt;
    this.#hash = hash;
    this.#index = new HashIndex(expected);
  }

  /** Fills the index from `(messageId, rowid)` pairs (the whole inbox, at start-up). */
  static from<R extends { messageId: string }>(
    rows: readonly MessageRow[],
    rowAt: RowAt<R>,
    hash?: (messageId: string) => number,
  ): MessageIds<R> {
    const ids = new MessageIds(rowAt, hash, rows.length);
    for (const r of rows) ids.add(r.messageId, r.id);
    return ids;
  }

  /**
   * The rowid of the row holding `messageId`, if one was stored (and not removed since). Each
   * candidate row is read (`rowAt`); usually no candidate is found and nothing is read.
   */
  rowOf(messageId: string): number | undefined {
    return this.#lookup(messageId)?.rowid;
  }

  /** The row holding `messageId` as `rowAt` read it, if one was stored (`rowOf`, with the row). */
  stored(messageId: string): R | undefined {
    return this.#lookup(messageId)?.row;
  }

  #lookup(messageId: string): { rowid: number; row: R } | undefined {
    const hash = this.#hash(messageId);
    let found: R | undefined;
    const rowid = this.#index.find(hash, (candidate) => {
      const row = this.#rowAt(candidate);
      if (row?.messageId === messageId) {
        found = row;
        return "found";
      }
      return row === null || this.#hash(row.messageId) !== hash ? "drop" : "next";
    });
    return rowid === undefined || found === undefined ? undefined : { rowid, row: found };
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
