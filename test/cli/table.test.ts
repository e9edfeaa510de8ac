import { describe, expect, test } from "bun:test";
import { formatTable } from "../../src/cli/table.ts";
import { displayWidth } from "../../src/feishu/text-width.ts";

/** The display column where each line's `n`th cell starts. */
const columnOf = (line: string, cell: string) => displayWidth(line.slice(0, line.indexOf(cell)));

describe("formatTable", () => {
  test("lines up columns after Chinese, Japanese, Korean and emoji cells by display width", () => {
    const rows = [
      ["NAME", "STATUS", "PENDING"],
      ["张三丰", "connected", "0"],
      ["Bob", "offline", "12"],
      ["たなか🙂", "revoked", "3"],
      ["김민수", "offline", "1"],
    ];
    const lines = formatTable(rows).split("\n");
    const statusColumn = columnOf(lines[0]!, "STATUS");
    const pendingColumn = columnOf(lines[0]!, "PENDING");
    for (const [i, row] of rows.entries()) {
      expect(columnOf(lines[i]!, row[1]!)).toBe(statusColumn);
      expect(columnOf(lines[i]!, row[2]!)).toBe(pendingColumn);
    }
    // Widest name: たなか🙂 is 8 columns, so STATUS starts after 8 + 2.
    expect(statusColumn).toBe(10);
  });

  test("no trailing spaces; missing cells count as empty", () => {
    expect(formatTable([["A", "B"], ["longer"]])).toBe("A       B\nlonger");
  });
});
