import { describe, expect, test } from "bun:test";
import {
  bodyCost,
  ContentError,
  partUuid,
  type RenderedPart,
  RICH_BODY_BUDGET,
  renderParts,
  splitText,
  TEXT_BODY_BUDGET,
  UUID_MAX,
} from "../../src/feishu/outgoing-content.ts";

const LONG_UUID = "u".repeat(UUID_MAX);
/** The real request body of a send, with the longest uuid: what Feishu's size limit counts. */
const body = (part: RenderedPart) =>
  JSON.stringify({
    receive_id: "oc_0123456789abcdef",
    msg_type: part.msgType,
    content: part.content,
    uuid: LONG_UUID,
  });
const bytes = (s: string) => Buffer.byteLength(s, "utf8");
const bodyBytes = (part: RenderedPart) => bytes(body(part));
const parse = (part: RenderedPart) => JSON.parse(part.content);

describe("rendering", () => {
  test("text is {text}", () => {
    expect(renderParts({ text: 'hi "there"\n<b>x</b>' }, bodyBytes)).toEqual([
      { msgType: "text", content: JSON.stringify({ text: 'hi "there"\n<b>x</b>' }) },
    ]);
  });

  test("markdown goes out as a post with one md node", () => {
    const [part] = renderParts({ msgType: "markdown", text: "**bold** and `code`" }, bodyBytes);
    expect(part!.msgType).toBe("post");
    expect(parse(part!)).toEqual({ zh_cn: { content: [[{ tag: "md", text: "**bold** and `code`" }]] } });
  });

  test("markdown with a code block or a table goes out as a JSON 2.0 card (auto), unless the send says post", () => {
    const text = "Run:\n\n```sh\nbun test\n```";
    const [card] = renderParts({ msgType: "markdown", text }, bodyBytes);
    expect(card!.msgType).toBe("interactive");
    expect(parse(card!)).toEqual({
      schema: "2.0",
      config: { update_multi: true, summary: { content: "Run:" } },
      body: { elements: [{ tag: "markdown", element_id: "content", content: text }] },
    });
    const [post] = renderParts({ msgType: "markdown", text, renderMode: "post" }, bodyBytes);
    expect(parse(post!)).toEqual({ zh_cn: { content: [[{ tag: "md", text }]] } });
    const [forced] = renderParts({ msgType: "markdown", text: "plain", renderMode: "card" }, bodyBytes);
    expect(forced!.msgType).toBe("interactive");
  });

  test("post content without a locale is wrapped in zh_cn; with one it is kept", () => {
    const unwrapped = { title: "T", content: [[{ tag: "text", text: "x" }]] };
    expect(parse(renderParts({ msgType: "post", content: unwrapped }, bodyBytes)[0]!)).toEqual({
      zh_cn: unwrapped,
    });
    const localized = { en_us: unwrapped, zh_cn: unwrapped };
    expect(parse(renderParts({ msgType: "post", content: localized }, bodyBytes)[0]!)).toEqual(localized);
  });

  test("a post given only text becomes one text paragraph per line", () => {
    const [part] = renderParts({ msgType: "post", text: "a\nb" }, bodyBytes);
    expect(parse(part!)).toEqual({
      zh_cn: { content: [[{ tag: "text", text: "a" }], [{ tag: "text", text: "b" }]] },
    });
  });

  test("a card object is sent as its JSON string; a string card as is", () => {
    const card = { header: { title: { tag: "plain_text", content: "Hi" } }, elements: [] };
    expect(renderParts({ msgType: "interactive", content: card }, bodyBytes)).toEqual([
      { msgType: "interactive", content: JSON.stringify(card) },
    ]);
    expect(renderParts({ msgType: "interactive", content: '{"elements":[]}' }, bodyBytes)[0]!.content).toBe(
      '{"elements":[]}',
    );
  });

  test("unusable requests are content errors", () => {
    expect(() => renderParts({ text: "" }, bodyBytes)).toThrow(ContentError);
    expect(() => renderParts({ msgType: "interactive" }, bodyBytes)).toThrow(ContentError);
    const huge = { elements: [{ tag: "markdown", content: "x".repeat(40_000) }] };
    expect(() => renderParts({ msgType: "interactive", content: huge }, bodyBytes)).toThrow(/30 KB/);
  });
});

describe("splitting", () => {
  test("the cost per character is exactly what it adds to the request body", () => {
    const samples = ['"', "\\", "\n", "\t", "\u0001", "a", "é", "中", "😀", "\u2028", "\ud800", "</"];
    for (const ch of samples) {
      const cost = [...ch].reduce((sum, c) => sum + bodyCost(c.codePointAt(0)!), 0);
      const grown = bodyBytes({ msgType: "text", content: JSON.stringify({ text: ch }) });
      const empty = bodyBytes({ msgType: "text", content: JSON.stringify({ text: "" }) });
      expect({ ch, cost }).toEqual({ ch, cost: grown - empty });
    }
  });

  test("long text is split under 150 KB per body, in order, at paragraph breaks", () => {
    const paragraphs = Array.from({ length: 400 }, (_, i) => `段落 ${i}: ${'说"点"什么 '.repeat(60)}`);
    const text = paragraphs.join("\n\n");
    const parts = renderParts({ text }, bodyBytes);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(bodyBytes(p)).toBeLessThanOrEqual(TEXT_BODY_BUDGET);
    const texts = parts.map((p) => parse(p).text as string);
    expect(texts.join("\n\n")).toBe(text);
    for (const t of texts) expect(t.startsWith("段落 ")).toBe(true);
  });

  test("markdown and posts are split under 30 KB", () => {
    const text = Array.from({ length: 3000 }, (_, i) => `- item ${i} with some words`).join("\n");
    const md = renderParts({ msgType: "markdown", text }, bodyBytes);
    expect(md.length).toBeGreaterThan(2);
    for (const p of md) expect(bodyBytes(p)).toBeLessThanOrEqual(RICH_BODY_BUDGET);
    expect(md.map((p) => parse(p).zh_cn.content[0][0].text).join("\n")).toBe(text);

    const paragraphs = Array.from({ length: 2000 }, (_, i) => [
      { tag: "text", text: `line ${i} ${"x".repeat(20)}` },
    ]);
    const posts = renderParts(
      { msgType: "post", content: { title: "Report", content: paragraphs } },
      bodyBytes,
    );
    expect(posts.length).toBeGreaterThan(1);
    for (const p of posts) expect(bodyBytes(p)).toBeLessThanOrEqual(RICH_BODY_BUDGET);
    expect(parse(posts[0]!).zh_cn.title).toBe("Report");
    expect(parse(posts[1]!).zh_cn.title).toBeUndefined();
    expect(posts.flatMap((p) => parse(p).zh_cn.content)).toEqual(paragraphs);
  });

  test("a single huge post paragraph is cut inside its text node", () => {
    const content = { content: [[{ tag: "md", text: "word ".repeat(20_000) }]] };
    const posts = renderParts({ msgType: "post", content }, bodyBytes);
    expect(posts.length).toBeGreaterThan(2);
    for (const p of posts) expect(bodyBytes(p)).toBeLessThanOrEqual(RICH_BODY_BUDGET);
  });

  test("prefers paragraph, then line, then space, then character breaks", () => {
    const unit = () => 1;
    expect(splitText("aaaa\n\nbb\nbbcc", 8, unit)).toEqual(["aaaa", "bb\nbbcc"]);
    expect(splitText("aaaa\nbbbb cc", 8, unit)).toEqual(["aaaa", "bbbb cc"]);
    expect(splitText("aaaa bbbbbbbb", 8, unit)).toEqual(["aaaa", "bbbbbbbb"]);
    // A break that would leave less than half the room used is passed over.
    expect(splitText("a\n\nbcdefghijk", 8, unit)).toEqual(["a\n\nbcdef", "ghijk"]);
    expect(splitText("abcdefghijkl", 5, unit)).toEqual(["abcde", "fghij", "kl"]);
  });

  test("never splits a surrogate pair", () => {
    const text = "😀".repeat(50) + "a😀".repeat(20);
    const pieces = splitText(text, 9, bodyCost);
    expect(pieces.join("")).toBe(text);
    for (const p of pieces) {
      expect(p.isWellFormed()).toBe(true);
      expect([...p].reduce((s, c) => s + bodyCost(c.codePointAt(0)!), 0)).toBeLessThanOrEqual(9);
    }
  });
});

describe("part uuids", () => {
  test("one part keeps the caller's uuid; several get distinct, stable, short ones", () => {
    expect(partUuid("abc", 0, 1)).toBe("abc");
    const ids = Array.from({ length: 12 }, (_, i) => partUuid("abc", i, 12));
    expect(new Set(ids).size).toBe(12);
    expect(ids[3]).toBe("abc-3");
    const long = "x".repeat(50);
    const longIds = Array.from({ length: 12 }, (_, i) => partUuid(long, i, 12));
    expect(new Set(longIds).size).toBe(12);
    for (const id of longIds) expect(id.length).toBeLessThanOrEqual(UUID_MAX);
    expect(partUuid(long, 5, 12)).toBe(longIds[5]!);
    expect(partUuid("y".repeat(80), 0, 1).length).toBeLessThanOrEqual(UUID_MAX);
  });
});
