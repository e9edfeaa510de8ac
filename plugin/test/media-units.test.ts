/** The pure media rules: where the relay's HTTP lives, limits, msgType choice, notes, load options. */
import { describe, expect, test } from "bun:test";
import { limitBody, TooLargeError } from "../src/media-http.ts";
import {
  chooseMsgType,
  DEFAULT_MEDIA_LIMITS,
  downloadable,
  factKind,
  hasTranscript,
  mediaLimits,
  unavailableNote,
  withNotes,
} from "../src/media-rules.ts";
import { isRemoteUrl, loadOptions } from "../src/payload-send.ts";
import { dispositionFileName, fileNameHeader, mediaDownloadUrl, relayHttpBase } from "../src/relay-http.ts";
import { helloFrame } from "./helpers/fake-relay.ts";

const MiB = 1024 * 1024;
const limits = { maxBytes: 30 * MiB, imageMaxBytes: 10 * MiB };

describe("relay HTTP base", () => {
  test("ws→http and wss→https, the trailing /openclaw removed, a base path kept", () => {
    expect(relayHttpBase("ws://127.0.0.1:5178/openclaw")).toBe("http://127.0.0.1:5178");
    expect(relayHttpBase("wss://relay.example.com/openclaw/")).toBe("https://relay.example.com");
    expect(relayHttpBase("wss://example.com/relay/openclaw")).toBe("https://example.com/relay");
    expect(relayHttpBase("wss://example.com")).toBe("https://example.com");
    expect(relayHttpBase("https://example.com/openclaw")).toBe("https://example.com");
  });

  test("never carries a token, credentials or a fragment into the HTTP base", () => {
    expect(relayHttpBase("wss://u:p@example.com:8443/openclaw?token=secret#x")).toBe(
      "https://example.com:8443",
    );
    expect(() => relayHttpBase("ftp://example.com/openclaw")).toThrow();
  });

  test("attachment ids are escaped whole; file names are percent-encoded UTF-8", () => {
    expect(mediaDownloadUrl("http://h", "att_1")).toBe("http://h/api/media/att_1");
    expect(mediaDownloadUrl("http://h", "a/b c?d")).toBe("http://h/api/media/a%2Fb%20c%3Fd");
    expect(fileNameHeader("报告 1.pdf")).toBe("%E6%8A%A5%E5%91%8A%201.pdf");
    expect(decodeURIComponent(fileNameHeader("报告 1.pdf"))).toBe("报告 1.pdf");
  });

  test("Content-Disposition: filename* first, plain filename otherwise, paths stripped", () => {
    expect(dispositionFileName("attachment; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf")).toBe("报告.pdf");
    expect(dispositionFileName('attachment; filename="a.png"')).toBe("a.png");
    expect(dispositionFileName('attachment; filename="../../etc/passwd"')).toBe("passwd");
    expect(dispositionFileName("attachment")).toBeUndefined();
    expect(dispositionFileName(null)).toBeUndefined();
  });
});

describe("features", () => {
  test("media only when hello.features lists it; hello.media or the relay defaults", () => {
    expect(mediaLimits(undefined)).toBeUndefined();
    expect(mediaLimits(helloFrame())).toBeUndefined();
    expect(mediaLimits(helloFrame({ features: ["stream"] }))).toBeUndefined();
    expect(mediaLimits(helloFrame({ features: ["media"] }))).toEqual(DEFAULT_MEDIA_LIMITS);
    expect(
      mediaLimits(helloFrame({ features: ["media"], media: { maxBytes: 5, imageMaxBytes: 3 } })),
    ).toEqual({
      maxBytes: 5,
      imageMaxBytes: 3,
    });
  });
});

describe("msgType choice", () => {
  const pick = (contentType: string | undefined, size = 1000, forceDocument = false) =>
    chooseMsgType({ contentType, size, forceDocument }, limits);

  test("images up to imageMaxBytes go as image, larger ones as file", () => {
    expect(pick("image/png")).toBe("image");
    expect(pick("Image/JPEG; q=1")).toBe("image");
    expect(pick("image/png", 10 * MiB)).toBe("image");
    expect(pick("image/png", 10 * MiB + 1)).toBe("file");
    // Feishu's image API does not take SVG.
    expect(pick("image/svg+xml")).toBe("file");
  });

  test("Ogg/Opus as audio and MP4 as video; other audio and video as file", () => {
    expect(pick("audio/ogg")).toBe("audio");
    expect(pick("audio/opus")).toBe("audio");
    expect(pick("audio/mpeg")).toBe("file");
    expect(pick("video/mp4")).toBe("video");
    expect(pick("video/quicktime")).toBe("file");
  });

  test("documents, unknown types and forceDocument go as file", () => {
    expect(pick("application/pdf")).toBe("file");
    expect(pick(undefined)).toBe("file");
    expect(pick("image/png", 1000, true)).toBe("file");
    expect(pick("video/mp4", 1000, true)).toBe("file");
  });
});

describe("inbound attachment rules", () => {
  test("stickers and url-less attachments are not downloaded", () => {
    expect(downloadable({ id: "a", kind: "image", url: "/api/media/a" })).toBe(true);
    expect(downloadable({ id: "s", kind: "sticker" })).toBe(false);
    expect(downloadable({ id: "s", kind: "sticker", url: "/api/media/s" })).toBe(false);
    expect(downloadable({ id: "f", kind: "file" })).toBe(false);
  });

  test("OpenClaw media kinds: files are documents unless their type says image/audio/video", () => {
    expect(factKind("image", undefined)).toBe("image");
    expect(factKind("audio", "audio/ogg")).toBe("audio");
    expect(factKind("video", "video/mp4")).toBe("video");
    expect(factKind("file", "application/pdf")).toBe("document");
    expect(factKind("file", "image/png")).toBe("image");
    expect(factKind("file", undefined)).toBe("document");
  });

  test("a voice note's text is Feishu's transcript unless it is the [audio] placeholder", () => {
    expect(hasTranscript("audio", "明天下午三点开会")).toBe(true);
    expect(hasTranscript("audio", "[audio]")).toBe(false);
    expect(hasTranscript("audio", " ")).toBe(false);
    expect(hasTranscript("post", "text")).toBe(false);
  });

  test("unavailable notes name the attachment and the reason, after the text", () => {
    const img = { id: "i", kind: "image" as const, url: "u" };
    const pdf = { id: "f", kind: "file" as const, name: "q3.pdf", url: "u" };
    expect(unavailableNote(img, { code: "gone" })).toBe(
      "[image unavailable: Feishu no longer has it (recalled or deleted)]",
    );
    expect(unavailableNote(pdf, { code: "too_large", maxBytes: 30 * MiB })).toBe(
      '[file "q3.pdf" unavailable: larger than the 30 MiB limit]',
    );
    expect(unavailableNote(pdf, { code: "rate_limited" })).toContain("rate-limiting");
    expect(unavailableNote(pdf, { code: "unavailable", status: 502 })).toContain("(HTTP 502)");
    expect(unavailableNote(pdf, { code: "network" })).toContain("network error");
    expect(withNotes("[image] look", ["[image unavailable: x]"])).toBe(
      "[image] look\n\n[image unavailable: x]",
    );
    expect(withNotes("", ["a", "b"])).toBe("a\nb");
    expect(withNotes("hi", [])).toBe("hi");
  });
});

describe("download limit", () => {
  const stream = (sizes: number[]) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const n of sizes) c.enqueue(new Uint8Array(n));
        c.close();
      },
    });

  test("passes a body up to the limit and errors past it", async () => {
    expect((await new Response(limitBody(stream([400, 600]), 1000)).arrayBuffer()).byteLength).toBe(1000);
    const over = new Response(limitBody(stream([400, 601]), 1000)).arrayBuffer();
    await expect(over).rejects.toBeInstanceOf(TooLargeError);
  });
});

describe("outbound load options", () => {
  test("mirror OpenClaw's buildOutboundMediaLoadOptions: roots, readFile only with roots, original images", () => {
    const readFile = async () => Buffer.from("");
    expect(loadOptions(undefined, 10)).toEqual({ maxBytes: 10, optimizeImages: false });
    expect(loadOptions({ mediaLocalRoots: ["/w"] }, 10)).toEqual({
      maxBytes: 10,
      optimizeImages: false,
      localRoots: ["/w"],
    });
    expect(
      loadOptions(
        { mediaAccess: { localRoots: ["/a"], readFile, workspaceDir: "/ws" }, mediaLocalRoots: ["/b"] },
        10,
      ),
    ).toEqual({
      maxBytes: 10,
      optimizeImages: false,
      localRoots: ["/a"],
      readFile,
      hostReadCapability: true,
      workspaceDir: "/ws",
    });
    // A host read without roots would bypass the root check: it is not passed on.
    expect(loadOptions({ mediaReadFile: readFile }, 10)).toEqual({ maxBytes: 10, optimizeImages: false });
    expect(loadOptions({ mediaLocalRoots: [] }, 10)).toEqual({ maxBytes: 10, optimizeImages: false });
  });

  test("remote means http(s); everything else goes through the local-file rules", () => {
    expect(isRemoteUrl("https://x/a.png")).toBe(true);
    expect(isRemoteUrl("HTTP://x")).toBe(true);
    expect(isRemoteUrl("/tmp/a.png")).toBe(false);
    expect(isRemoteUrl("file:///tmp/a.png")).toBe(false);
    expect(isRemoteUrl("media://inbound/a.png")).toBe(false);
  });
});
