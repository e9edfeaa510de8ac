import { describe, expect, test } from "bun:test";
import { ContentError, type RenderedPart } from "../../src/feishu/content-budget.ts";
import {
  CARD_TABLE_LIMIT,
  cardMarkdown,
  markdownCard,
  postMarkdown,
  renderMarkdown,
  summaryOf,
  tableAsCode,
  wantsCard,
} from "../../src/feishu/markdown-render.ts";
import { displayWidth } from "../../src/feishu/text-width.ts";

const bodyBytes = (part: RenderedPart) =>
  Buffer.byteLength(
    JSON.stringify({
      receive_id: "oc_x",
      msg_type: part.msgType,
      content: part.content,
      uuid: "u".repeat(50),
    }),
  );

describe("post markdown", () => {
  test("a single line break shows as one: soft breaks become hard breaks, idempotently", () => {
    const once = postMarkdown("a\nb\n\nc\nd");
    expect(once).toBe("a  \nb\n\nc  \nd");
    expect(postMarkdown(once)).toBe(once);
  });

  test("lines that start a block are not joined to the previous one", () => {
    const text = "# Title\ntext\n- one\n- two\n  more\n> q1\n> q2\n---\nafter\n1. x\n2) y";
    expect(postMarkdown(text)).toBe(
      "# Title\ntext\n- one\n- two  \n  more\n> q1  \n> q2\n---\nafter\n1. x\n2) y",
    );
  });

  test("code fences are left exactly as written", () => {
    const text = "see:\n```js\nconst a = 1\nconst b = 2\n```\nend\nline";
    expect(postMarkdown(text)).toBe("see:\n```js\nconst a = 1\nconst b = 2\n```\nend  \nline");
  });

  test("a table becomes an aligned code block; CJK characters count two columns", () => {
    const text = "| 名称 | n |\n|---|--:|\n| 苹果 | 3 |\n| kiwi | 12 |";
    expect(postMarkdown(text)).toBe(
      ["```", "名称 |  n", "-----|---", "苹果 |  3", "kiwi | 12", "```"].join("\n"),
    );
  });

  test("cells lose inline marks, keep escaped pipes, and a fence never collides with backticks inside", () => {
    expect(
      tableAsCode({
        rows: [
          ["**a**", "`x`"],
          ["b | c", "```"],
        ],
        align: ["left", "center"],
      }),
    ).toBe(["````", "a     |  x", "------|----", "b | c | ```", "````"].join("\n"));
    expect(postMarkdown("| a \\| b | c |\n|---|---|\n| 1 | 2 |")).toContain("a | b | c");
  });

  test("pipes without a delimiter row are prose, not a table", () => {
    expect(postMarkdown("a | b\nc | d")).toBe("a | b  \nc | d");
    expect(wantsCard("a | b\nc | d")).toBe(false);
  });
});

describe("card markdown", () => {
  test("keeps line breaks and tables as written; strips the indent around code fences", () => {
    const text = "a\nb\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n  ```py\n  print(1)\n    indented()\n  ```  ";
    expect(cardMarkdown(text)).toBe(
      "a\nb\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n```py\nprint(1)\n  indented()\n```",
    );
  });

  test(`tables after the ${CARD_TABLE_LIMIT}th become code blocks (Feishu refuses more per card)`, () => {
    const table = (i: number) => `| t${i} |\n|---|\n| ${i} |`;
    const text = Array.from({ length: CARD_TABLE_LIMIT + 2 }, (_, i) => table(i)).join("\n\n");
    const md = cardMarkdown(text);
    expect(md.match(/^\|---\|$/gm)).toHaveLength(CARD_TABLE_LIMIT);
    expect(md.match(/^```$/gm)).toHaveLength(4);
  });

  test("an indented table (inside a list item), which a card would not draw, becomes a code block", () => {
    const text = "1. Prices:\n   | a | b |\n   |---|---|\n   | 1 | 2 |\n\n| top |\n|---|\n| x |";
    expect(cardMarkdown(text)).toBe("1. Prices:\n```\na | b\n--|--\n1 | 2\n```\n\n| top |\n|---|\n| x |");
  });

  test("a card is JSON 2.0 with one markdown element and a preview summary", () => {
    expect(markdownCard("**hi**", "hi")).toEqual({
      schema: "2.0",
      config: { update_multi: true, summary: { content: "hi" } },
      body: { elements: [{ tag: "markdown", element_id: "content", content: "**hi**" }] },
    });
    expect(markdownCard("x").config).toEqual({ update_multi: true });
  });

  test("the summary is the first line of prose without marks, at most 50 characters", () => {
    expect(summaryOf("```\ncode\n```\n## **Result**: see [docs](https://x)")).toBe("Result: see docs");
    expect(summaryOf(`${"长".repeat(60)}`)).toBe("长".repeat(50));
    expect(summaryOf("```\nonly code\n```")).toBeUndefined();
  });
});

describe("renderMarkdown", () => {
  test("auto: a card for fences or tables, a post otherwise; post and card force their shape", () => {
    const kinds = (text: string, mode: "auto" | "post" | "card") =>
      renderMarkdown(text, mode, bodyBytes).map((p) => p.msgType);
    expect(kinds("plain **words**", "auto")).toEqual(["post"]);
    expect(kinds("```\nx\n```", "auto")).toEqual(["interactive"]);
    expect(kinds("| a |\n|---|\n| 1 |", "auto")).toEqual(["interactive"]);
    expect(kinds("```\nx\n```", "post")).toEqual(["post"]);
    expect(kinds("plain", "card")).toEqual(["interactive"]);
  });

  test("a room too small for anything is a content error", () => {
    expect(() => renderMarkdown("x".repeat(100), "post", () => 28_000)).toThrow(ContentError);
  });

  test("display width: CJK and fullwidth take two columns, combining marks none", () => {
    expect(displayWidth("ab")).toBe(2);
    expect(displayWidth("中文，")).toBe(6);
    expect(displayWidth("e\u0301")).toBe(1);
  });
});
