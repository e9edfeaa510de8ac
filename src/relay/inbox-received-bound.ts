/**
 * The SQLite inbox has no index on received_at (db/schema.ts says why). Rows are inserted in rowid
 * order, which is the order they were received, so the last row received by a cut-off is found by a
 * binary search on the rowid: ~log2(rows) point reads, each one a rowid lookup. Pure: the reads come in
 * as a function.
 *
 * A clock that stepped back leaves received_at not quite in rowid order; the bound is then off by the
 * rows around the step. The prune's DELETE still checks each row's own received_at, so no row newer
 * than the cut-off goes; an older one past the bound waits for a later prune.
 */

export interface ReceivedRow {
  id: number;
  receivedAt: number;
}

/**
 * The highest rowid in `[lo, hi]` whose row was received at or before `upTo` (undefined when none
 * was). `firstFrom(id)` answers the row with the smallest rowid ≥ id, or undefined past the last one.
 */
export function lastRowReceivedBy(
  upTo: number,
  range: { lo: number | null; hi: number | null },
  firstFrom: (id: number) => ReceivedRow | undefined | null,
): number | undefined {
  if (range.lo === null || range.hi === null) return undefined;
  const first = firstFrom(range.lo);
  if (!first || first.receivedAt > upTo) return undefined;
  // Invariant: row `best` was received by `upTo`; no row above `hi` was.
  let best = first.id;
  let lo = best + 1;
  let hi = range.hi;
  while (lo <= hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const row = firstFrom(mid);
    if (row && row.receivedAt <= upTo) {
      best = row.id;
      lo = row.id + 1;
    } else {
      // No row in [mid, row.id) exists, and row (if any) came after the cut-off.
      hi = mid - 1;
    }
  }
  return best;
}
