import { describe, expect, test } from "bun:test";
import { ContentError, partUuid, renderParts } from "../../src/feishu/outgoing-content.ts";

const size = (p: { content: string }) => p.content.length + 200;

describe("media messages", () => {
  test("image, file, audio and video (Feishu's media) carry the upload's key", () => {
    expect(renderParts({ msgType: "image", mediaKey: "img_1" }, size)).toEqual([
      { msgType: "image", content: '{"image_key":"img_1"}' },
    ]);
    expect(renderParts({ msgType: "file", mediaKey: "file_1" }, size)).toEqual([
      { msgType: "file", content: '{"file_key":"file_1"}' },
    ]);
    expect(renderParts({ msgType: "audio", mediaKey: "file_2" }, size)[0]).toEqual({
      msgType: "audio",
      content: '{"file_key":"file_2"}',
    });
    expect(renderParts({ msgType: "video", mediaKey: "file_3" }, size)[0]).toEqual({
      msgType: "media",
      content: '{"file_key":"file_3"}',
    });
  });

  test("a caption follows as text; each part gets its own stable uuid", () => {
    const parts = renderParts({ msgType: "image", mediaKey: "img_1", text: "look at this" }, size);
    expect(parts).toEqual([
      { msgType: "image", content: '{"image_key":"img_1"}' },
      { msgType: "text", content: '{"text":"look at this"}' },
    ]);
    expect(parts.map((_, i) => partUuid("u1", i, parts.length))).toEqual(["u1-0", "u1-1"]);
  });

  test("a media message without its key is a content error, never sent", () => {
    expect(() => renderParts({ msgType: "file" }, size)).toThrow(ContentError);
  });
});
