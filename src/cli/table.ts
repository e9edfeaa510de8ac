/**
 * Plain-text tables for the CLI: a header row, then one row per item, columns padded to line up in a
 * terminal. Widths are display columns, not string length: a Chinese name takes two columns per
 * character, and padding by `.length` pushed every column after it out of line.
 */
import { displayWidth } from "../feishu/text-width.ts";

const pad = (cell: string, width: number) => cell + " ".repeat(Math.max(0, width - displayWidth(cell)));

export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => displayWidth(row[i] ?? ""))));
  return rows
    .map((row) =>
      row
        .map((cell, i) => pad(cell, widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
