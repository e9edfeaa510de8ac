/**
 * Which dedupe marks (`seen_events` keys) may be in the SQLite table, in memory, so that a group commit
 * asks the table only about keys that might be there — usually none, since a mark is rare next to the
 * messages a batch stores. That lookup was one `json_each` query per commit, ~60 µs, a tenth of a
 * commit's cost.
 *
 * "Not there" is exact; "may be there" is checked against the table. Every write of a mark passes
 * through the store in this process (the relay's file lock: one writer), which calls `add` — before
 * its commit is fine: a mark that then rolls back only costs a query — and `remove` only once the
 * rows are gone. Kept as an entry per mark under its key's 32-bit hash, not the keys themselves
 * (ops/hash-index.ts: 12–24 bytes a mark, 8 hours of them, nothing for the GC to scan); two keys
 * sharing a hash are two entries, so pruning one never hides the other. Pure: no I/O.
 */
import { fnv1a, HashIndex } from "../ops/hash-index.ts";

export class SeenMarks {
  /** One entry (value 1) per mark, under its key's hash: a typed-array index the GC never scans. */
  readonly #entries = new HashIndex();
  readonly #hash: (key: string) => number;

  constructor(hash: (key: string) => number = fnv1a) {
    this.#hash = hash;
  }

  /** Fills the filter from the table's keys (at start-up). */
  static from(keys: Iterable<{ key: string }>, hash?: (key: string) => number): SeenMarks {
    const marks = new SeenMarks(hash);
    for (const { key } of keys) marks.add(key);
    return marks;
  }

  /** False only when no mark with this key was written (and not since removed). */
  mayHave(key: string): boolean {
    return this.#entries.has(this.#hash(key));
  }

  /** A mark with this key was inserted (or is about to be, inside a transaction). */
  add(key: string): void {
    this.#entries.add(this.#hash(key), 1);
  }

  /** Marks deleted from the table (committed): each key once per row deleted. */
  remove(keys: Iterable<string>): void {
    for (const key of keys) this.#entries.delete(this.#hash(key), 1);
  }

  /** Marks held (a test and gauge figure). */
  get size(): number {
    return this.#entries.size;
  }
}
