import { describe, expect, test } from "bun:test";
import { lastRowReceivedBy, type ReceivedRow } from "../../src/relay/inbox-received-bound.ts";

/** Rows as the inbox holds them (rowid order), with the reads the search made. */
function table(rows: ReceivedRow[]) {
  const reads: number[] = [];
  const range = {
    lo: rows.length ? rows[0]!.id : null,
    hi: rows.length ? rows[rows.length - 1]!.id : null,
  };
  const firstFrom = (id: number) => {
    reads.push(id);
    return rows.find((r) => r.id >= id);
  };
  return { range, firstFrom, reads };
}

describe("lastRowReceivedBy: the prune's cut-off row, by binary search on the rowid", () => {
  const rows = Array.from({ length: 1000 }, (_, i) => ({ id: i + 1, receivedAt: 10_000 + i * 10 }));

  test("every cut-off, against a plain scan", () => {
    for (const upTo of [0, 9_999, 10_000, 10_005, 12_340, 15_000, 19_990, 20_000, 99_999]) {
      const t = table(rows);
      const expected = rows.filter((r) => r.receivedAt <= upTo).at(-1)?.id;
      expect(lastRowReceivedBy(upTo, t.range, t.firstFrom)).toBe(expected);
      // A search, not a walk: ~log2(1000) reads.
      expect(t.reads.length).toBeLessThanOrEqual(12);
    }
  });

  test("gaps in the rowids (pruned or trimmed rows) and rows received in the same millisecond", () => {
    const sparse = [
      { id: 3, receivedAt: 100 },
      { id: 4, receivedAt: 100 },
      { id: 90, receivedAt: 100 },
      { id: 91, receivedAt: 200 },
      { id: 5000, receivedAt: 300 },
      { id: 5001, receivedAt: 300 },
      { id: 9000, receivedAt: 400 },
    ];
    const at = (upTo: number) => {
      const t = table(sparse);
      return lastRowReceivedBy(upTo, t.range, t.firstFrom);
    };
    expect(at(99)).toBeUndefined();
    expect(at(100)).toBe(90);
    expect(at(250)).toBe(91);
    expect(at(300)).toBe(5001);
    expect(at(400)).toBe(9000);
  });

  test("an empty inbox, and one row", () => {
    const empty = table([]);
    expect(lastRowReceivedBy(1e15, empty.range, empty.firstFrom)).toBeUndefined();
    expect(empty.reads).toEqual([]);
    const one = table([{ id: 7, receivedAt: 5 }]);
    expect(lastRowReceivedBy(5, one.range, one.firstFrom)).toBe(7);
    expect(lastRowReceivedBy(4, one.range, one.firstFrom)).toBeUndefined();
  });
});
