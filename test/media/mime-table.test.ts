import { describe, expect, test } from "bun:test";
import {
  feishuFileName,
  feishuFileType,
  IMAGE_MAX_BYTES,
  isKnownMime,
  mediaMismatch,
  normaliseMime,
} from "../../src/media/mime-table.ts";

describe("mime table", () => {
  test("normalises case and parameters; refuses what is not a MIME type", () => {
    expect(normaliseMime("Image/PNG; q=1")).toBe("image/png");
    expect(normaliseMime(" text/plain;charset=utf-8 ")).toBe("text/plain");
    for (const bad of [null, undefined, "", "png", "image/", "/png", "image png", "a/b/c"])
      expect(normaliseMime(bad)).toBeUndefined();
  });

  test("knows Feishu's image formats, audio, video, documents, text, archives and octet-stream", () => {
    const known = [
      "image/jpeg",
      "image/png",
      "image/webp",
      "image/gif",
      "image/bmp",
      "image/x-icon",
      "image/tiff",
      "image/heic",
      "audio/ogg",
      "audio/opus",
      "audio/mpeg",
      "video/mp4",
      "video/quicktime",
      "application/pdf",
      "application/msword",
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      "application/vnd.ms-powerpoint",
      "text/plain",
      "text/csv",
      "application/zip",
      "application/octet-stream",
    ];
    for (const m of known) expect([m, isKnownMime(m)]).toEqual([m, true]);
    for (const m of ["application/x-msdownload", "application/x-sh", "font/woff2", "model/gltf+json", "x/y"])
      expect([m, isKnownMime(m)]).toEqual([m, false]);
  });

  test("a media msgType demands matching bytes: image ≤ 10 MiB, Ogg/Opus audio, MP4 video, any file", () => {
    expect(mediaMismatch("image", { mime: "image/png", size: IMAGE_MAX_BYTES })).toBeUndefined();
    expect(mediaMismatch("image", { mime: "image/png", size: IMAGE_MAX_BYTES + 1 })).toContain("as file");
    expect(mediaMismatch("image", { mime: "application/pdf", size: 10 })).toContain("needs an image");
    expect(mediaMismatch("audio", { mime: "audio/ogg", size: 10 })).toBeUndefined();
    expect(mediaMismatch("audio", { mime: "audio/opus", size: 10 })).toBeUndefined();
    expect(mediaMismatch("audio", { mime: "audio/mpeg", size: 10 })).toContain("Ogg/Opus");
    expect(mediaMismatch("video", { mime: "video/mp4", size: 10 })).toBeUndefined();
    expect(mediaMismatch("video", { mime: "video/quicktime", size: 10 })).toContain("MP4");
    for (const mime of ["image/png", "audio/mpeg", "video/quicktime", "application/zip"])
      expect(mediaMismatch("file", { mime, size: 40 * 1024 * 1024 })).toBeUndefined();
  });

  test("file_type follows the msgType for audio and video, the MIME type for files (never opus/mp4)", () => {
    expect(feishuFileType("audio", "audio/ogg")).toBe("opus");
    expect(feishuFileType("video", "video/mp4")).toBe("mp4");
    expect(feishuFileType("file", "application/pdf")).toBe("pdf");
    expect(feishuFileType("file", "application/msword")).toBe("doc");
    expect(
      feishuFileType("file", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ).toBe("doc");
    expect(feishuFileType("file", "application/vnd.ms-excel")).toBe("xls");
    expect(
      feishuFileType("file", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ).toBe("ppt");
    // An Ogg or MP4 sent as a plain file must not be typed opus/mp4: Feishu would answer 230055.
    expect(feishuFileType("file", "audio/ogg")).toBe("stream");
    expect(feishuFileType("file", "video/mp4")).toBe("stream");
    expect(feishuFileType("file", "text/plain")).toBe("stream");
  });

  test("Feishu gets a file name with an extension", () => {
    expect(feishuFileName(null, "video/mp4")).toBe("file.mp4");
    expect(feishuFileName(null, "application/x-whatever")).toBe("file.bin");
    expect(feishuFileName("report", "application/pdf")).toBe("report.pdf");
    expect(feishuFileName("季度报告.PDF", "application/pdf")).toBe("季度报告.PDF");
    expect(feishuFileName("notes", "application/x-whatever")).toBe("notes");
  });
});
