import { describe, expect, test } from "bun:test";
import { MAX_CONTENT_DEPTH, renderContent, resolvePlaceholders } from "../../src/feishu/message-content.ts";
import { jsonDepth } from "../../src/ops/json-depth.ts";

const tom = { key: "@_user_1", openId: "ou_tom", name: "Tom" };
const ten = { key: "@_user_10", openId: "ou_ten", name: "Ten" };

describe("text", () => {
  test("placeholders resolve to names, longest key first, unknown keys stay", () => {
    expect(resolvePlaceholders("@_user_1 @_user_10 @_user_3 @_all", [tom, ten])).toBe(
      "@Tom @Ten @_user_3 @all",
    );
    expect(resolvePlaceholders("no mentions", [])).toBe("no mentions");
  });

  test("content that is not {text} is shown raw instead of dropped", () => {
    expect(renderContent("text", "not json", [])).toMatchObject({
      text: "not json",
      content: { text: "not json" },
    });
    expect(renderContent("text", '{"other":1}', []).text).toBe('{"other":1}');
  });
});

describe("post", () => {
  test("renders every node kind to plain text and keeps the structure", () => {
    const post = {
      title: "T",
      content: [
        [
          { tag: "text", text: "hi " },
          { tag: "at", user_id: "@_user_1", user_name: "" },
          { tag: "a", href: "https://x.test", text: "" },
        ],
        [{ tag: "unknown_future_tag", text: "kept" }, { tag: "unknown_without_text" }],
        "not a paragraph",
      ],
    };
    const out = renderContent("post", JSON.stringify(post), [tom]);
    expect(out.text).toBe("T\nhi @Tom[https://x.test](https://x.test)\nkept");
    expect(out.content).toEqual(post);
  });

  test("a locale-wrapped post is unwrapped, whichever locale it uses", () => {
    const inner = { title: "Hello", content: [[{ tag: "text", text: "world" }]] };
    expect(renderContent("post", JSON.stringify({ en_us: inner }), [])).toMatchObject({
      text: "Hello\nworld",
      content: inner,
    });
    expect(renderContent("post", JSON.stringify({ fr_fr: inner }), []).text).toBe("Hello\nworld");
  });

  test("an at node carrying a real open_id is reported, names from mentions win", () => {
    const post = {
      content: [
        [
          { tag: "at", user_id: "ou_tom" },
          { tag: "at", user_id: "ou_x", user_name: "X" },
        ],
      ],
    };
    const out = renderContent("post", JSON.stringify(post), [tom]);
    expect(out.text).toBe("@Tom@X");
    expect(out.atOpenIds).toEqual(["ou_x"]);
  });

  test("an unreadable post becomes empty text and keeps what was parsed", () => {
    expect(renderContent("post", "[1,2]", [])).toEqual({ text: "", content: {}, atOpenIds: [] });
    expect(renderContent("post", '{"weird":true}', [])).toMatchObject({ text: "", content: { weird: true } });
  });
});

describe("media and others", () => {
  test("placeholders with the keys kept in content", () => {
    expect(renderContent("image", '{"image_key":"img_1"}', [])).toMatchObject({
      text: "[image]",
      content: { image_key: "img_1" },
    });
    expect(renderContent("file", '{"file_key":"f","file_name":"a.pdf"}', []).text).toBe("[file: a.pdf]");
    expect(renderContent("file", '{"file_key":"f"}', []).text).toBe("[file]");
    expect(renderContent("audio", '{"file_key":"f","duration":1}', []).text).toBe("[audio]");
    expect(renderContent("sticker", '{"file_key":"s"}', []).text).toBe("[sticker]");
    expect(renderContent("vote", "garbage", [])).toEqual({ text: "[vote]", content: {}, atOpenIds: [] });
  });
});

describe("content nested too deeply", () => {
  const deep = (n: number) => `{"text":"hi","x":${"[".repeat(n)}${"]".repeat(n)}}`;

  test("is kept as a message with a placeholder text and no parsed structure", () => {
    // 60,000 deep parses fine but cannot be serialised again (RangeError): it never reaches the inbox.
    expect(renderContent("text", deep(60_000), [])).toEqual({
      text: "[unreadable text message: content nested too deeply]",
      content: {},
      atOpenIds: [],
    });
    expect(renderContent("post", deep(MAX_CONTENT_DEPTH), []).content).toEqual({});
  });

  test("real content up to the limit is rendered as usual; brackets inside strings do not count", () => {
    expect(renderContent("text", deep(MAX_CONTENT_DEPTH - 1), []).text).toBe("hi");
    const bracketsInText = JSON.stringify({ text: `${"[".repeat(500)}\\"{` });
    expect(jsonDepth(bracketsInText)).toBe(1);
    expect(renderContent("text", bracketsInText, []).text).toBe(`${"[".repeat(500)}\\"{`);
  });
});
