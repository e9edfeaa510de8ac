/**
 * Which dedupe marks (`seen_events` keys) may be in the SQLite table, in memory, so that a group commit
 * asks the table only about keys that might be there — usually none, since a mark is rare next to the
 * messages a batch stores. That lookup was one `json_each` query per commit, ~60 µs, a tenth of a
 * commit's cost.
 *
 * "Not there" is exact; "may be there" is checked against the table. Every write of a mark passes
 * through the store in this process (the relay's file lock: one writer), which calls `add` — before
 * its commit is fine: a mark that then rolls back only costs a query — and `remove` only once the
 * rows are gone. Kept as a count per 32-bit hash, not the keys themselves: ~30 bytes a mark (8 hours
 * of them), and two keys sharing a hash never hide each other when one is pruned. Pure: no I/O.
 */
export class SeenMarks {
  readonly #counts = new Map<number, number>();
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
    return this.#counts.has(this.#hash(key));
  }

  /** A mark with this key was inserted (or is about to be, inside a transaction). */
  add(key: string): void {
    const h = this.#hash(key);
    this.#counts.set(h, (this.#counts.get(h) ?? 0) + 1);
  }

  /** Marks deleted from the table (committed): each key once per row deleted. */
  remove(keys: Iterable<string>): void {
    for (const key of keys) {
      const h = this.#hash(key);
      const n = this.#counts.get(h);
      if (n === undefined) continue;
      if (n <= 1) this.#counts.delete(h);
      else this.#counts.set(h, n - 1);
    }
  }

  /** Distinct hashes held (a test and gauge figure). */
  get size(): number {
    return this.#counts.size;
  }
}

/** FNV-1a over UTF-16 code units: marks are short ASCII keys (`e:<event_id>`, `m:<message_id>`). */
export function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
