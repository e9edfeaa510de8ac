/**
 * The SQLite inbox's message_id → row map, in memory instead of an index (db/schema.ts says why). It
 * mirrors the inbox table: loaded once at start, added to after each commit, removed from when rows
 * are pruned or dropped at the cap. Exact because one process writes the database (the relay's file
 * lock). A row deleted behind its back (a user deleted by the CLI, rows cascading) leaves an entry
 * whose row is gone: `rowOf` callers read the row by id and treat a missing one as absent.
 *
 * Memory: ~100 bytes per stored message (7 days of 5,000 messages a day: ~3.5 MB). Pure: no I/O.
 */
export class MessageIds {
  readonly #rows = new Map<string, number>();

  /** Fills the map from `(messageId, rowid)` pairs (the whole inbox, at start-up). */
  static from(rows: Iterable<{ messageId: string; id: number }>): MessageIds {
    const ids = new MessageIds();
    for (const r of rows) ids.#rows.set(r.messageId, r.id);
    return ids;
  }

  /** The inbox row id holding this message, if one was stored (and not removed since). */
  rowOf(messageId: string): number | undefined {
    return this.#rows.get(messageId);
  }

  /** After a commit: these messages are stored in these rows. */
  add(messageId: string, rowid: number): void {
    this.#rows.set(messageId, rowid);
  }

  /** Rows deleted (prune, cap, or found gone). */
  remove(messageIds: Iterable<string>): void {
    for (const id of messageIds) this.#rows.delete(id);
  }

  get size(): number {
    return this.#rows.size;
  }
}
