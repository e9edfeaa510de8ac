/**
 * Cuts Markdown into pieces that each fit a size budget and each stay valid Markdown: a cut that
 * has to fall inside a code fence closes the fence at the end of its piece and reopens it (same
 * marker, same info string) at the start of the next, so no piece shows a stray or missing fence.
 *
 * Pure and import-free on purpose: the plugin bundles this file to cut its `send` frames, and the
 * relay uses it to cut posts and cards; both must agree on what a fence is.
 */

/** An open code fence (CommonMark: ``` or ~~~, at least 3, indented 0–3 spaces). */
export interface Fence {
  /** The opening line as written (indent, marker, info string), reused to reopen the fence. */
  opener: string;
  /** The line that closes it: the opener's indent and marker. */
  closer: string;
  indent: number;
  char: "`" | "~";
  length: number;
}

/** What a line is: outside any fence, a fence's opening or closing line, or inside a fence. */
export type LineKind = "text" | "open" | "close" | "code";

export interface ScannedLine {
  /** Offset of the line's first character; the line ends before the next `\n` (or the text's end). */
  start: number;
  end: number;
  kind: LineKind;
  /** The fence this line opens, closes or sits in. */
  fence?: Fence;
}

const OPENER = /^( {0,3})(`{3,}|~{3,})(.*)$/;

function openFence(line: string): Fence | undefined {
  const m = OPENER.exec(line);
  if (!m) return undefined;
  const marker = m[2]!;
  const char = marker[0] as "`" | "~";
  // A backtick fence's info string may not contain a backtick (that is inline code instead).
  if (char === "`" && m[3]!.includes("`")) return undefined;
  const indent = m[1]!.length;
  return { opener: line.trimEnd(), closer: m[1]! + marker, indent, char, length: marker.length };
}

function closesFence(line: string, fence: Fence): boolean {
  const m = /^( {0,3})(`{3,}|~{3,})[ \t]*$/.exec(line);
  return !!m && m[2]![0] === fence.char && m[2]!.length >= fence.length;
}

/** Every line of `text` with its fence role. An unclosed fence runs to the end (as in CommonMark). */
export function scanLines(text: string): ScannedLine[] {
  const lines: ScannedLine[] = [];
  let open: Fence | undefined;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    if (open) {
      if (closesFence(line, open)) {
        lines.push({ start, end, kind: "close", fence: open });
        open = undefined;
      } else lines.push({ start, end, kind: "code", fence: open });
    } else {
      open = openFence(line);
      lines.push(open ? { start, end, kind: "open", fence: open } : { start, end, kind: "text" });
    }
    start = end + 1;
  }
  return lines;
}

/** UTF-8 bytes of a code point: the default cost. */
const utf8Cost = (cp: number) => (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);

function costOf(s: string, cost: (cp: number) => number): number {
  let total = 0;
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    total += cost(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  return total;
}

/** `sums[i]`: the cost of `text.slice(0, i)` (inside a surrogate pair: the cost before the pair). */
function prefixSums(text: string, cost: (cp: number) => number): Float64Array {
  const sums = new Float64Array(text.length + 1);
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const next = i + (cp > 0xffff ? 2 : 1);
    if (next > i + 1) sums[i + 1] = sums[i]!;
    sums[next] = sums[i]! + cost(cp);
    i = next;
  }
  return sums;
}

interface Cut {
  /** The piece ends here (exclusive)... */
  end: number;
  /** ...and the next one starts here: the break characters between are dropped. */
  next: number;
}

interface Scan {
  text: string;
  lines: ScannedLine[];
  sums: Float64Array;
  lineAt: (pos: number) => number;
}

/**
 * Cuts `text` so that each piece's summed `cost` (per code point; default UTF-8 bytes) is at most
 * `room`, counting the close/reopen lines added around a cut inside a fence. Breaks at the last
 * blank line that keeps the piece at least half full, else the last line break, else the last
 * space, else between two code points (never inside a surrogate pair). The break characters are
 * dropped, and so are newlines around a cut outside fences. Same input, same pieces.
 * Throws a RangeError when `room` cannot hold a reopened fence and one character.
 */
export function chunkMarkdown(text: string, room: number, cost: (cp: number) => number = utf8Cost): string[] {
  if (text === "") return [];
  const sums = prefixSums(text, cost);
  if (sums[text.length]! <= room) return [text];
  const lines = scanLines(text);
  const scan: Scan = { text, lines, sums, lineAt: lineFinder(lines) };
  const nl = cost(10);
  const pieces: string[] = [];
  let start = 0;
  let reopen: Fence | undefined;
  // Bounded: every round consumes at least one code point of the text.
  while (start < text.length) {
    const prefix = reopen ? `${reopen.opener}\n` : "";
    const prefixCost = costOf(prefix, cost);
    if (prefixCost + sums[text.length]! - sums[start]! <= room) {
      pieces.push(prefix + text.slice(start));
      break;
    }
    const limit = fitEnd(text, sums, start, room - prefixCost);
    const fits = (end: number) => {
      const open = openAt(scan, end);
      const extra = open ? nl + costOf(open.closer, cost) : 0;
      return prefixCost + sums[end]! - sums[start]! + extra <= room;
    };
    const cut = findCut(scan, start, limit, fits);
    if (!cut) throw new RangeError("chunkMarkdown: the room is too small for a reopened fence");
    const open = openAt(scan, cut.end);
    const raw = text.slice(start, cut.end);
    const body = open ? raw : raw.replace(/\n+$/, "");
    const close = open ? `${raw.endsWith("\n") ? "" : "\n"}${open.closer}` : "";
    if (body.trim() !== "") pieces.push(prefix + body + close);
    start = cut.next;
    reopen = reentered(scan, start);
    if (!reopen) start = skipNewlines(text, start);
  }
  return pieces;
}

/** The furthest end (exclusive) from `start` whose text costs at most `room`, on a code point boundary. */
function fitEnd(text: string, sums: Float64Array, start: number, room: number): number {
  let lo = start;
  let hi = sums.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (sums[mid]! - sums[start]! <= room) lo = mid;
    else hi = mid - 1;
  }
  return isLowSurrogateAt(text, lo) ? lo - 1 : lo;
}

/** Index of the line holding offset `pos` (binary search over line starts). */
function lineFinder(lines: ScannedLine[]): (pos: number) => number {
  return (pos) => {
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lines[mid]!.start <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
}

/** The fence a piece ending at `end` leaves open (it must then close it), by its last character's line. */
function openAt(scan: Scan, end: number): Fence | undefined {
  const line = scan.lines[scan.lineAt(end - 1)]!;
  if (line.kind === "open" || line.kind === "code") return line.fence;
  // Part of a closing line does not close the fence yet.
  return line.kind === "close" && end < line.end ? line.fence : undefined;
}

/** The fence a piece starting at `start` is inside of (it must then reopen it). */
function reentered(scan: Scan, start: number): Fence | undefined {
  if (start >= scan.text.length) return undefined;
  const line = scan.lines[scan.lineAt(start)]!;
  return line.kind === "code" || line.kind === "close" ? line.fence : undefined;
}

/**
 * The best cut in (start, limit]: a blank line, a line break, a space outside code, each keeping the
 * piece at least half full; then any line break, any space, any code point; each only if it `fits` with the fence
 * it must close. Cuts that split a fence's opening or closing line, or that leave an empty block
 * on either side, are used only when nothing else fits.
 */
function findCut(scan: Scan, start: number, limit: number, fits: (end: number) => boolean): Cut | undefined {
  const { text, lines, lineAt } = scan;
  const min = start + Math.floor((limit - start) / 2);
  const awkward = (c: Cut) => {
    const before = lines[lineAt(c.end - 1)]!;
    const after = c.next < text.length ? lines[lineAt(c.next)] : undefined;
    const splits = (l: ScannedLine | undefined, pos: number) =>
      !!l && (l.kind === "open" || l.kind === "close") && pos > l.start && pos < l.end;
    if (splits(before, c.end) || splits(after, c.next)) return true;
    const endsOnOpener = before.kind === "open";
    const startsOnCloser = after?.kind === "close" && c.next === after.start;
    return endsOnOpener || startsOnCloser;
  };
  function* candidates(): Generator<Cut> {
    for (
      let p = text.lastIndexOf("\n\n", limit - 1);
      p > start && p >= min;
      p = text.lastIndexOf("\n\n", p - 1)
    )
      yield { end: p, next: skipNewlines(text, p) };
    for (let p = text.lastIndexOf("\n", limit); p > start && p >= min; p = text.lastIndexOf("\n", p - 1))
      yield { end: p, next: p + 1 };
    for (let p = text.lastIndexOf(" ", limit); p > start && p >= min; p = text.lastIndexOf(" ", p - 1))
      if (isWordGap(p) && lines[lineAt(p)]!.kind !== "code") yield { end: p, next: p + 1 };
    // Below half full, a short piece still beats a line cut in the middle (a code line above all).
    for (let p = text.lastIndexOf("\n", min - 1); p > start; p = text.lastIndexOf("\n", p - 1))
      yield { end: p, next: p + 1 };
    for (let p = text.lastIndexOf(" ", limit); p > start; p = text.lastIndexOf(" ", p - 1))
      if (isWordGap(p)) yield { end: p, next: p + 1 };
    for (let p = limit; p > start; p--) if (!isLowSurrogateAt(text, p)) yield { end: p, next: p };
  }
  /** A space after a word, not indentation. */
  const isWordGap = (p: number) => text[p - 1] !== " " && text[p - 1] !== "\n";
  let fallback: Cut | undefined;
  for (const c of candidates()) {
    if (c.end > limit || !fits(c.end)) continue;
    if (!awkward(c)) return c;
    fallback ??= c;
  }
  return fallback;
}

function skipNewlines(text: string, p: number): number {
  while (text[p] === "\n") p++;
  return p;
}

function isLowSurrogateAt(text: string, p: number): boolean {
  const c = text.charCodeAt(p);
  const prev = text.charCodeAt(p - 1);
  return c >= 0xdc00 && c <= 0xdfff && prev >= 0xd800 && prev <= 0xdbff;
}
