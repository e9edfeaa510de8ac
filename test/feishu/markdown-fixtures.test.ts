/**
 * Real-looking agent answers (test/fixtures/markdown/) through the renderer, checked against the
 * shapes of feishu-reference.md §5.3 (post `zh_cn.content` paragraphs of one `md` node) and §11.5
 * (JSON 2.0 card, one markdown element), with every part's real request body within 30 KB.
 * The small answers are also pinned to reviewed `*.expected.json` files.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type RenderedPart, RICH_BODY_BUDGET } from "../../src/feishu/content-budget.ts";
import { scanLines } from "../../src/feishu/markdown-chunks.ts";
import { postMarkdown, renderMarkdown } from "../../src/feishu/markdown-render.ts";

const DIR = join(import.meta.dir, "../fixtures/markdown");
const read = (name: string) => readFileSync(join(DIR, name), "utf8");
const LONG_UUID = "u".repeat(50);

/** The larger of a create in a chat and a reply: what the sender measures. */
const bodyBytes = (part: RenderedPart) =>
  Math.max(
    Buffer.byteLength(
      JSON.stringify({
        receive_id: "oc_0123456789abcdef0123456789abcdef",
        msg_type: part.msgType,
        content: part.content,
        uuid: LONG_UUID,
      }),
    ),
    Buffer.byteLength(JSON.stringify({ msg_type: part.msgType, content: part.content, uuid: LONG_UUID })),
  );

/** The markdown of a part, after checking the part has exactly the documented shape. */
function markdownOf(part: RenderedPart): string {
  const content = JSON.parse(part.content);
  if (part.msgType === "post") {
    expect(Object.keys(content)).toEqual(["zh_cn"]);
    expect(Object.keys(content.zh_cn)).toEqual(["content"]);
    expect(content.zh_cn.content).toHaveLength(1);
    const [paragraph] = content.zh_cn.content;
    expect(paragraph).toHaveLength(1);
    expect(Object.keys(paragraph[0]).sort()).toEqual(["tag", "text"]);
    expect(paragraph[0].tag).toBe("md");
    return paragraph[0].text;
  }
  expect(part.msgType).toBe("interactive");
  expect(content.schema).toBe("2.0");
  expect(content.config.update_multi).toBe(true);
  expect(content.body.elements).toHaveLength(1);
  const [element] = content.body.elements;
  expect(Object.keys(element).sort()).toEqual(["content", "element_id", "tag"]);
  expect(element).toMatchObject({ tag: "markdown", element_id: "content" });
  return element.content;
}

const balanced = (md: string) => {
  const lines = scanLines(md);
  const last = lines[lines.length - 1]!;
  return last.kind !== "open" && last.kind !== "code";
};

const FIXTURES = ["long-code.md", "long-50k.md", "table-cjk.md", "mixed-zh-en.md"];

describe("markdown fixtures", () => {
  for (const name of FIXTURES) {
    for (const mode of ["auto", "post", "card"] as const) {
      test(`${name} (${mode}): every part has Feishu's shape, fits 30 KB and has balanced fences`, () => {
        const text = read(name);
        const parts = renderMarkdown(text, mode, bodyBytes);
        expect(renderMarkdown(text, mode, bodyBytes)).toEqual(parts);
        for (const part of parts) {
          expect(bodyBytes(part)).toBeLessThanOrEqual(RICH_BODY_BUDGET);
          expect(balanced(markdownOf(part))).toBe(true);
        }
      });
    }
  }

  test("the long code answer goes out as several cards; its 40 KB block reopens as typescript", () => {
    const parts = renderMarkdown(read("long-code.md"), "auto", bodyBytes);
    expect(parts.length).toBeGreaterThan(1);
    const mds = parts.map(markdownOf);
    expect(mds.slice(1).some((md) => md.startsWith("```typescript\n"))).toBe(true);
    expect(mds[mds.length - 1]).toContain("~~~~python");
  });

  test("the 50 KB answer is cut at paragraph breaks, and nothing else changes", () => {
    const whole = postMarkdown(read("long-50k.md"));
    const mds = renderMarkdown(read("long-50k.md"), "post", bodyBytes).map(markdownOf);
    expect(mds.length).toBeGreaterThan(1);
    expect(mds.join("\n\n")).toBe(whole);
  });

  for (const name of ["table-cjk", "mixed-zh-en"]) {
    test(`${name}: auto and post output match the reviewed ${name}.expected.json`, () => {
      const text = read(`${name}.md`);
      const actual = Object.fromEntries(
        (["auto", "post"] as const).map((mode) => [
          mode,
          renderMarkdown(text, mode, bodyBytes).map((p) => ({
            msg_type: p.msgType,
            content: JSON.parse(p.content),
          })),
        ]),
      );
      expect(actual).toEqual(JSON.parse(read(`${name}.expected.json`)));
    });
  }
});
