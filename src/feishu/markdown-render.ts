/**
 * Agent Markdown as Feishu shows it well (PARITY.md §2.6). A post's `md` node (feishu-reference.md
 * §5.3) joins single line breaks and draws tables as pipes, so for posts soft breaks become hard
 * breaks and tables become aligned code blocks; a JSON 2.0 card's markdown element keeps line
 * breaks and draws tables itself (at most five per card). Long text is cut with chunkMarkdown so
 * that no part shows a broken code fence. Pure and deterministic: a retried send renders the same.
 *
 * No Markdown library: the only structure we act on is line-level (fences, GFM table rows, lines
 * that start a block), which a line scanner shared with the import-free chunker reads exactly.
 */
import type { RenderMode } from "../relay/protocol.ts";
import { bodyCost, ContentError, type RenderedPart, RICH_BODY_BUDGET } from "./content-budget.ts";
import { chunkMarkdown, type ScannedLine, scanLines } from "./markdown-chunks.ts";
import { displayWidth } from "./text-width.ts";

/** Feishu refuses a card with more than five tables (the official plugin's FEISHU_CARD_TABLE_LIMIT). */
export const CARD_TABLE_LIMIT = 5;
/** The chat-list preview of a card: the first line of the answer, this many characters at most. */
const SUMMARY_CHARS = 50;

/** Auto mode: a card when the text has a fenced code block or a table, which a post shows badly. */
export function wantsCard(text: string): boolean {
  const lines = scanLines(text);
  return lines.some((l) => l.kind === "open") || findTables(text, lines).length > 0;
}

/** Text for a JSON 2.0 card's markdown element. */
export function cardMarkdown(text: string): string {
  const lines = scanLines(text);
  // The card draws at most five tables, and none that is indented (inside a list item): those
  // would vanish, so they become code blocks like in a post.
  const all = findTables(text, lines);
  const drawn = all.filter((t) => !t.indented).slice(0, CARD_TABLE_LIMIT);
  const tables = all.filter((t) => !drawn.includes(t));
  // Line breaks are kept as they are: the card element shows a single `\n` as a line break.
  return rewrite(text, lines, tables, (l, line) => {
    // CardKit asks for code fences without surrounding spaces (feishu-reference.md §11.5).
    if (l.kind === "open" || l.kind === "close") return line.trim();
    if (l.kind === "code") return line.replace(new RegExp(`^ {0,${l.fence!.indent}}`), "");
    return line;
  });
}

/** Text for a post's `md` node: soft breaks made hard, tables drawn as aligned code blocks. */
export function postMarkdown(text: string): string {
  const lines = scanLines(text);
  const tables = findTables(text, lines);
  const out = rewrite(text, lines, tables, (_l, line) => line);
  const outLines = scanLines(out);
  const parts: string[] = [];
  for (const [i, l] of outLines.entries()) {
    const line = out.slice(l.start, l.end);
    const next = outLines[i + 1];
    const soft =
      l.kind === "text" && next?.kind === "text" && isSoftBreak(line, out.slice(next.start, next.end));
    parts.push(soft ? `${line}  ` : line);
  }
  return parts.join("\n");
}

/** A JSON 2.0 card with one markdown element (`element_id` "content", as streaming cards use). */
export function markdownCard(markdown: string, summary?: string): Record<string, unknown> {
  return {
    schema: "2.0",
    config: { update_multi: true, ...(summary ? { summary: { content: summary } } : {}) },
    body: { elements: [{ tag: "markdown", element_id: "content", content: markdown }] },
  };
}

/** A post whose only paragraph is one `md` node (an `md` node must have its paragraph to itself). */
export function markdownPost(markdown: string): RenderedPart {
  return {
    msgType: "post",
    content: JSON.stringify({ zh_cn: { content: [[{ tag: "md", text: markdown }]] } }),
  };
}

/**
 * `text` as posts or cards (`auto`: cards when wantsCard), cut so that each part's request body, as
 * measured by `bodyBytes` with the longest uuid, stays within Feishu's 30 KB.
 */
export function renderMarkdown(
  text: string,
  mode: RenderMode,
  bodyBytes: (part: RenderedPart) => number,
): RenderedPart[] {
  const card = mode === "card" || (mode === "auto" && wantsCard(text));
  const summary = card ? summaryOf(text) : undefined;
  const wrap = card
    ? (md: string): RenderedPart => ({
        msgType: "interactive",
        content: JSON.stringify(markdownCard(md, summary)),
      })
    : markdownPost;
  const body = card ? cardMarkdown(text) : postMarkdown(text);
  // The markdown is a string inside `content`, itself a string in the body: bodyCost per character.
  const room = RICH_BODY_BUDGET - bodyBytes(wrap(""));
  try {
    return chunkMarkdown(body, room, bodyCost).map(wrap);
  } catch (err) {
    if (err instanceof RangeError) throw new ContentError("the size limit leaves no room for text");
    throw err;
  }
}

/** The first line of prose, without Markdown marks, for a card's chat-list preview. */
export function summaryOf(text: string): string | undefined {
  const lines = scanLines(text);
  for (const l of lines) {
    if (l.kind !== "text") continue;
    const plain = text
      .slice(l.start, l.end)
      .replace(/^\s*(#{1,6}\s+|>\s*|[-*+]\s+|\d{1,9}[.)]\s+)*/, "")
      .replace(/[*_~`]+/g, "")
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/\s+/g, " ")
      .trim();
    if (plain && !/^[|:\- ]+$/.test(plain)) return Array.from(plain).slice(0, SUMMARY_CHARS).join("");
  }
  return undefined;
}

// ---------------------------------------------------------------- line rewriting

/** `text` line by line through `each`, with `tables` replaced by their code blocks. */
function rewrite(
  text: string,
  lines: ScannedLine[],
  tables: Table[],
  each: (l: ScannedLine, line: string) => string,
): string {
  const out: string[] = [];
  let t = 0;
  for (let i = 0; i < lines.length; i++) {
    const table = tables[t];
    if (table && i === table.first) {
      out.push(tableAsCode(table));
      i = table.last;
      t++;
      continue;
    }
    const l = lines[i]!;
    out.push(each(l, text.slice(l.start, l.end)));
  }
  return out.join("\n");
}

const ATX_HEADING = /^ {0,3}#{1,6}(\s|$)/;
const THEMATIC_OR_SETEXT = /^ {0,3}(([-*_])( *\2){2,}|=+|-+) *$/;
const LIST_ITEM = /^\s*([-*+]|\d{1,9}[.)])(\s|$)/;
const QUOTE = /^ {0,3}>/;
const HTML_OR_DEFINITION = /^ {0,3}(<|\[[^\]]+\]:)/;

/**
 * Whether the line break between two prose lines is a CommonMark soft break (the second line
 * continues the first's paragraph), which a post would otherwise join into one line.
 */
function isSoftBreak(line: string, next: string): boolean {
  if (line.trim() === "" || next.trim() === "") return false;
  if (/( {2}|\\)$/.test(line)) return false; // already a hard break
  if (ATX_HEADING.test(line) || THEMATIC_OR_SETEXT.test(line) || HTML_OR_DEFINITION.test(line)) return false;
  if (ATX_HEADING.test(next) || THEMATIC_OR_SETEXT.test(next) || HTML_OR_DEFINITION.test(next)) return false;
  if (LIST_ITEM.test(next)) return false;
  // `> a` then `> b` continue one quote; a quote after prose starts a new block.
  return !QUOTE.test(next) || QUOTE.test(line);
}

// ---------------------------------------------------------------- tables

interface Table {
  /** Line indexes of the header and of the last row. */
  first: number;
  last: number;
  rows: string[][];
  align: Array<"left" | "right" | "center">;
  /** The header starts with spaces (e.g. inside a list item). */
  indented: boolean;
}

const DELIMITER_ROW = /^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

/** GFM tables outside code: a header row, a delimiter row with as many cells, then rows with a pipe. */
function findTables(text: string, lines: ScannedLine[]): Table[] {
  const tables: Table[] = [];
  const at = (i: number) => text.slice(lines[i]!.start, lines[i]!.end);
  for (let i = 0; i + 1 < lines.length; i++) {
    if (lines[i]!.kind !== "text" || lines[i + 1]!.kind !== "text") continue;
    const header = at(i);
    const delimiter = at(i + 1);
    if (!header.includes("|") || /^ {4}/.test(header) || !DELIMITER_ROW.test(delimiter)) continue;
    if (!delimiter.includes("|") && !header.trim().startsWith("|")) continue;
    const head = splitRow(header);
    const marks = splitRow(delimiter);
    if (head.length !== marks.length) continue;
    const rows = [head];
    let last = i + 1;
    while (last + 1 < lines.length && lines[last + 1]!.kind === "text") {
      const row = at(last + 1);
      if (row.trim() === "" || !row.includes("|")) break;
      rows.push(splitRow(row));
      last++;
    }
    const align = marks.map((m) =>
      m.startsWith(":") && m.endsWith(":") ? "center" : m.endsWith(":") ? "right" : "left",
    );
    tables.push({ first: i, last, rows, align, indented: /^\s/.test(header) });
    i = last;
  }
  return tables;
}

/** Cells of a row: outer pipes dropped, split on unescaped pipes, `\|` unescaped. */
function splitRow(row: string): string[] {
  let s = row.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
}

/** Inline marks mean nothing inside a code block: keep their text. */
function plainCell(cell: string): string {
  return cell
    .replace(/<br\s*\/?>/gi, " ")
    .replace(/(\*\*|__)(.+?)\1/g, "$2")
    .replace(/`([^`]+)`/g, "$1");
}

/** A table as a code block whose columns line up, CJK characters counting two columns. */
export function tableAsCode(table: Pick<Table, "rows" | "align">): string {
  const columns = Math.max(...table.rows.map((r) => r.length));
  const rows = table.rows.map((r) => Array.from({ length: columns }, (_, c) => plainCell(r[c] ?? "")));
  const widths = Array.from({ length: columns }, (_, c) =>
    Math.max(1, ...rows.map((r) => displayWidth(r[c]!))),
  );
  const pad = (cell: string, c: number) => {
    const gap = widths[c]! - displayWidth(cell);
    const align = table.align[c] ?? "left";
    if (align === "right") return " ".repeat(gap) + cell;
    if (align === "center") return " ".repeat(gap >> 1) + cell + " ".repeat(gap - (gap >> 1));
    return cell + " ".repeat(gap);
  };
  const line = (r: string[]) => r.map(pad).join(" | ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("-|-");
  const body = [line(rows[0]!), rule, ...rows.slice(1).map(line)].join("\n");
  const longestTicks = Math.max(0, ...(body.match(/`+/g) ?? []).map((m) => m.length));
  const fence = "`".repeat(Math.max(3, longestTicks + 1));
  return `${fence}\n${body}\n${fence}`;
}
