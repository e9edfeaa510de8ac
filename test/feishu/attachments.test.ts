import { describe, expect, test } from "bun:test";
import {
  attachmentId,
  mediaRefs,
  parseAttachmentId,
  toAttachments,
  withMediaUrls,
} from "../../src/feishu/attachments.ts";

describe("mediaRefs: what each message type holds", () => {
  test("image, file, audio, video (cover is not an attachment), sticker", () => {
    expect(mediaRefs("image", { image_key: "img_1" })).toEqual([
      { kind: "image", key: "img_1", resourceType: "image" },
    ]);
    expect(mediaRefs("file", { file_key: "f_1", file_name: "a.pdf" })).toEqual([
      { kind: "file", key: "f_1", resourceType: "file", name: "a.pdf" },
    ]);
    expect(mediaRefs("audio", { file_key: "f_2", duration: 2000, speech_to_text: "hi" })).toEqual([
      { kind: "audio", key: "f_2", resourceType: "file", durationMs: 2000 },
    ]);
    expect(
      mediaRefs("media", { file_key: "f_3", image_key: "img_c", file_name: "v.mp4", duration: "15000" }),
    ).toEqual([{ kind: "video", key: "f_3", resourceType: "file", name: "v.mp4", durationMs: 15000 }]);
    expect(mediaRefs("sticker", { file_key: "st_1" })).toEqual([{ kind: "sticker", key: "st_1" }]);
  });

  test("a post's img and media nodes, in reading order; other nodes are skipped", () => {
    const post = {
      title: "t",
      content: [
        [
          { tag: "text", text: "a" },
          { tag: "img", image_key: "img_a" },
        ],
        "not a paragraph",
        [null, { tag: "media", file_key: "f_b", image_key: "img_cover" }, { tag: "img", image_key: "img_c" }],
      ],
    };
    expect(mediaRefs("post", post).map((r) => [r.kind, r.key, r.resourceType])).toEqual([
      ["image", "img_a", "image"],
      ["video", "f_b", "file"],
      ["image", "img_c", "image"],
    ]);
  });

  test("missing or malformed keys give nothing; text and unknown types have no media", () => {
    expect(mediaRefs("image", {})).toEqual([]);
    expect(mediaRefs("file", { file_key: 12 })).toEqual([]);
    expect(mediaRefs("audio", { file_key: "f", duration: -5 })).toEqual([
      { kind: "audio", key: "f", resourceType: "file" },
    ]);
    expect(mediaRefs("post", { content: "x" })).toEqual([]);
    expect(mediaRefs("text", { text: "hi" })).toEqual([]);
    expect(mediaRefs("share_chat", { chat_id: "oc_1" })).toEqual([]);
  });
});

describe("attachment ids", () => {
  test("round-trip, URL-safe, stable", () => {
    const id = attachmentId("om_abc/+?=", 3);
    expect(id).toMatch(/^[A-Za-z0-9_-]+\.3$/);
    expect(attachmentId("om_abc/+?=", 3)).toBe(id);
    expect(parseAttachmentId(id)).toEqual({ messageId: "om_abc/+?=", index: 3 });
  });

  test("anything else is not an id", () => {
    for (const bad of [
      "",
      "v2_sticker",
      "abc",
      "abc.",
      ".1",
      "a b.1",
      "YQ.1.2",
      "YQ.-1",
      "YQ==.0",
      "../x.0",
    ]) {
      expect(parseAttachmentId(bad)).toBeUndefined();
    }
    // A non-canonical spelling of the same message id (a trailing bit set) is refused.
    expect(parseAttachmentId("YR.0")).toBeUndefined();
  });

  test("toAttachments: position ids, the sticker's key as its id; withMediaUrls skips stickers", () => {
    const list = toAttachments("om_1", [
      { kind: "image", key: "img_1", resourceType: "image" },
      { kind: "sticker", key: "st_1" },
    ]);
    expect(list).toEqual([
      { id: attachmentId("om_1", 0), kind: "image" },
      { id: "st_1", kind: "sticker" },
    ]);
    expect(withMediaUrls(list, "https://relay.example.com/")).toEqual([
      {
        id: attachmentId("om_1", 0),
        kind: "image",
        url: `https://relay.example.com/api/media/${attachmentId("om_1", 0)}`,
      },
      { id: "st_1", kind: "sticker" },
    ]);
  });
});
