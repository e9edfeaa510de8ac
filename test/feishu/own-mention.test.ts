import { describe, expect, test } from "bun:test";
import { textWithoutBot } from "../../src/feishu/own-mention.ts";

const tom = { key: "@_user_1", openId: "ou_tom", name: "Tom" };

describe("the bot's own mention (M2-4)", () => {
  const bot = { key: "@_user_2", openId: "ou_bot", name: "Relay Bot" };
  const text = (s: string, mentions = [tom, bot]) =>
    textWithoutBot("text", JSON.stringify({ text: s }), mentions, "ou_bot");

  test("is left out of a text message, other mentions and @all stay", () => {
    expect(text("@_user_2 /reset")).toBe("/reset");
    expect(text("  @_user_2   /reset  ")).toBe("/reset  ");
    expect(text("ask @_user_2 about @_user_1")).toBe("ask about @Tom");
    expect(text("ask @_user_1 @_user_2")).toBe("ask @Tom");
    expect(text("@_all @_user_2 @_user_2 hi")).toBe("@all hi");
    expect(text("line one\n@_user_2 /status\nend @_user_2")).toBe("line one\n/status\nend");
    expect(text("@_user_2")).toBe("");
  });

  test("another bot's open_id leaves every mention in place", () => {
    expect(textWithoutBot("text", JSON.stringify({ text: "@_user_2 hi" }), [bot], "ou_x")).toBe(
      "@Relay Bot hi",
    );
  });

  test("is left out of a post, by key or by a direct open_id", () => {
    const post = {
      title: "",
      content: [
        [
          { tag: "at", user_id: "@_user_2", user_name: "Relay Bot" },
          { tag: "text", text: " /status" },
        ],
        [
          { tag: "text", text: "cc " },
          { tag: "at", user_id: "ou_bot" },
          { tag: "text", text: " and " },
          { tag: "at", user_id: "@_user_1" },
          { tag: "at", user_id: "all" },
        ],
      ],
    };
    expect(textWithoutBot("post", JSON.stringify(post), [tom, bot], "ou_bot")).toBe(
      "/status\ncc and @Tom@all",
    );
  });
});
