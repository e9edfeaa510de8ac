import { describe, expect, test } from "bun:test";
import { chunkMarkdown, scanLines } from "../../src/feishu/markdown-chunks.ts";

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");
const ascii1cjk3 = (cp: number) => (cp < 0x80 ? 1 : 3);
const costOf = (s: string, cost: (cp: number) => number) =>
  [...s].reduce((n, ch) => n + cost(ch.codePointAt(0)!), 0);

/** Balanced as CommonMark reads it: no fence left open, except one the text itself leaves open at its end. */
const endsOpen = (s: string) => {
  const lines = scanLines(s);
  const last = lines[lines.length - 1]!;
  return last.kind === "open" || last.kind === "code";
};

/** The text without fence lines and whitespace: what cutting must preserve. */
const essence = (s: string) =>
  scanLines(s)
    .filter((l) => l.kind === "text" || l.kind === "code")
    .map((l) => s.slice(l.start, l.end))
    .join("")
    .replace(/\s+/g, "");

describe("chunkMarkdown", () => {
  test("text that fits is one chunk, as is; empty text is none", () => {
    expect(chunkMarkdown("a\n\nb", 100)).toEqual(["a\n\nb"]);
    expect(chunkMarkdown("", 100)).toEqual([]);
  });

  test("prefers a paragraph break, then a line break, then a space", () => {
    expect(chunkMarkdown("aaaa bbbb\ncccc\n\ndddd", 16)).toEqual(["aaaa bbbb\ncccc", "dddd"]);
    expect(chunkMarkdown("aaaa bbbb\ncccc dddd", 16)).toEqual(["aaaa bbbb", "cccc dddd"]);
    expect(chunkMarkdown("aaaa bbbb cccc dddd", 16)).toEqual(["aaaa bbbb cccc", "dddd"]);
    expect(chunkMarkdown("abcdefghij", 4)).toEqual(["abcd", "efgh", "ij"]);
  });

  test("a cut inside a fence closes it and reopens it with the same marker and language", () => {
    const text = "Intro.\n\n```ts\nconst a = 1;\nconst b = 2;\nconst c = 3;\n```\n\nDone.";
    expect(chunkMarkdown(text, 50)).toEqual([
      "Intro.\n\n```ts\nconst a = 1;\nconst b = 2;\n```",
      "```ts\nconst c = 3;\n```\n\nDone.",
    ]);
  });

  test("tilde fences, longer markers and indented fences are reopened as written", () => {
    const tilde = "~~~~ python\nx = 1\ny = 2\nz = 3\n~~~~";
    const chunks = chunkMarkdown(tilde, 30);
    expect(chunks[0]!.startsWith("~~~~ python\n")).toBe(true);
    expect(chunks.slice(1).every((c) => c.startsWith("~~~~ python\n"))).toBe(true);
    expect(chunks.every((c) => c.endsWith("~~~~"))).toBe(true);

    const indented = "  ```js\n  a();\n  b();\n  c();\n  ```";
    expect(chunkMarkdown(indented, 27)).toEqual(["  ```js\n  a();\n  b();\n  ```", "  ```js\n  c();\n  ```"]);
    // Smaller pieces rather than a code line cut in two.
    expect(chunkMarkdown(indented, 22)).toEqual([
      "  ```js\n  a();\n  ```",
      "  ```js\n  b();\n  ```",
      "  ```js\n  c();\n  ```",
    ]);
  });

  test("a shorter inner fence does not close an outer one", () => {
    const text = "````md\n```js\nx\n```\nmore text here\n````";
    const chunks = chunkMarkdown(text, 28);
    for (const c of chunks) expect(endsOpen(c)).toBe(false);
    expect(chunks.every((c) => c.startsWith("````md"))).toBe(true);
  });

  test("an unclosed fence at the end stays open in the last chunk only", () => {
    const text = "Look:\n\n```sh\necho one\necho two\necho three";
    const chunks = chunkMarkdown(text, 32);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks.slice(0, -1)) expect(endsOpen(c)).toBe(false);
    expect(endsOpen(chunks[chunks.length - 1]!)).toBe(true);
  });

  test("does not cut right after an opening line or right before a closing one", () => {
    const text = `${"p".repeat(20)}\n\`\`\`\ncode line\n\`\`\`\ntail`;
    const chunks = chunkMarkdown(text, 30);
    for (const c of chunks) expect(c).not.toContain("```\n```");
    expect(chunks).toEqual(["p".repeat(20), "```\ncode line\n```\ntail"]);
  });

  test("a cut right after a closing fence adds no fence lines", () => {
    const text = "```js\nconst a = 1;\n```\n\nSome words after the fence here.";
    expect(chunkMarkdown(text, 40)).toEqual(["```js\nconst a = 1;\n```", "Some words after the fence here."]);
    const tight = "```js\nconst a = 1;\n```\nSome words after the fence here.";
    expect(chunkMarkdown(tight, 40)).toEqual([
      "```js\nconst a = 1;\n```",
      "Some words after the fence here.",
    ]);
  });

  test("never splits a surrogate pair, with the cost of the caller", () => {
    expect(chunkMarkdown("😀".repeat(6), 5)).toEqual(["😀", "😀", "😀", "😀", "😀", "😀"]);
    expect(chunkMarkdown("😀😀😀", 8, () => 2)).toEqual(["😀😀😀"]);
    expect(chunkMarkdown("中文中文中文", 9, ascii1cjk3)).toEqual(["中文中", "文中文"]);
  });

  test("a room too small for a reopened fence is a RangeError, not a loop", () => {
    expect(() => chunkMarkdown("```typescript\nxxxxxxxx\nyyyyyyyy\n```", 10)).toThrow(RangeError);
  });

  test("same input, same chunks", () => {
    const text = randomMarkdown(mulberry32(7));
    expect(chunkMarkdown(text, 200)).toEqual(chunkMarkdown(text, 200));
  });

  test("property: random prose and fences — every chunk fits, is balanced, and nothing is lost", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = mulberry32(seed);
      const text = randomMarkdown(rand);
      const room = 60 + Math.floor(rand() * 400);
      const cost = rand() < 0.5 ? undefined : ascii1cjk3;
      const chunks = chunkMarkdown(text, room, cost);
      const where = `seed ${seed}, room ${room}`;
      expect(chunks.length, where).toBeGreaterThan(0);
      for (const [i, c] of chunks.entries()) {
        expect(cost ? costOf(c, cost) : utf8(c), where).toBeLessThanOrEqual(room);
        expect(c.trim(), where).not.toBe("");
        const last = i === chunks.length - 1;
        expect(endsOpen(c), `${where}, chunk ${i}`).toBe(last && endsOpen(text));
      }
      expect(essence(chunks.join("\n")), where).toBe(essence(text));
    }
  });
});

// ---------------------------------------------------------------- generators

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  "the",
  "relay",
  "飞书",
  "消息",
  "agent",
  "reply",
  "😀",
  "fence",
  "code",
  "表格",
  "x",
  "long-word-here",
];

function randomMarkdown(rand: () => number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const words = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(" ");
  const blocks: string[] = [];
  const count = 2 + Math.floor(rand() * 10);
  for (let b = 0; b < count; b++) {
    if (rand() < 0.45) {
      const char = rand() < 0.7 ? "`" : "~";
      const marker = char.repeat(3 + Math.floor(rand() * 3));
      const indent = " ".repeat(Math.floor(rand() * 4));
      const info = pick(["", "ts", "python", " bash", "json {x}"]);
      const body = Array.from({ length: 1 + Math.floor(rand() * 12) }, () =>
        rand() < 0.1
          ? ""
          : `${indent}${"  ".repeat(Math.floor(rand() * 3))}${words(1 + Math.floor(rand() * 8))}`,
      );
      if (rand() < 0.15) body.push(`${indent}${"```".slice(0, 3)}`.replace(/`/g, char === "`" ? "~" : "`"));
      const unclosed = b === count - 1 && rand() < 0.3;
      blocks.push(
        [`${indent}${marker}${info}`, ...body, ...(unclosed ? [] : [`${indent}${marker}`])].join("\n"),
      );
      if (unclosed) break;
    } else {
      const lines = Array.from({ length: 1 + Math.floor(rand() * 4) }, () =>
        words(1 + Math.floor(rand() * 20)),
      );
      blocks.push(lines.join("\n"));
    }
  }
  return blocks.join(rand() < 0.8 ? "\n\n" : "\n");
}
