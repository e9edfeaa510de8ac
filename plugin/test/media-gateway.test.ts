/**
 * Media through the plugin's gateway side (feature `media`), against the in-test relay: its real
 * WebSocket plus its two HTTP media endpoints on the same port, a stub OpenClaw runtime whose media
 * store writes real temp files, and a stub of OpenClaw's loader that reads real files.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { HelloFrame, MessageFrame } from "../../src/relay/protocol.ts";
import { createFeishuRelayPlugin } from "../src/channel.ts";
import { resolveAccount } from "../src/config.ts";
import type { LoadedMedia, LoadMedia } from "../src/payload-send.ts";
import {
  answerSent,
  errorResponse,
  FakeRelay,
  type FakeRelayOptions,
  helloFrame,
  messageFrame,
} from "./helpers/fake-relay.ts";
import { FAST_CLIENT, runAccount, stopsAfterEach } from "./helpers/gateway-cleanup.ts";
import { gatewayContext, type StubFlavor, stubRuntime } from "./helpers/stub-runtime.ts";

const TOKEN = "tok.media-secret-jwt";
const mediaHello = (media?: HelloFrame["media"]) =>
  helloFrame({ features: ["media"], ...(media ? { media } : {}) });

let relay: FakeRelay | undefined;
const stops = stopsAfterEach(() => {
  relay?.stop();
  relay = undefined;
});

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * seed + 7) % 251);

/** A loader like OpenClaw's loadWebMedia over real files; records what it was asked. */
function fileLoader(types: Record<string, string> = {}) {
  const calls: Array<{ url: string; options: Record<string, unknown> }> = [];
  const load: LoadMedia = async (url, options) => {
    calls.push({ url, options });
    if (/^https?:/.test(url)) throw new Error("remote fetch blocked in test");
    const buffer = readFileSync(url);
    const ext = url.slice(url.lastIndexOf("."));
    return { buffer, contentType: types[ext], fileName: basename(url) } satisfies LoadedMedia;
  };
  return { load, calls };
}

interface StartOptions {
  relay?: FakeRelayOptions;
  hello?: HelloFrame;
  frames?: MessageFrame[];
  loadMedia?: LoadMedia;
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
  flavor?: StubFlavor;
}

function start(o: StartOptions = {}) {
  relay = new FakeRelay({
    onOpen: (c) => {
      c.send(o.hello ?? mediaHello());
      for (const f of o.frames ?? []) c.send(f);
    },
    ...o.relay,
  });
  const cfg = { channels: { "feishu-relay": { relayUrl: relay.url, token: TOKEN } } };
  const plugin = createFeishuRelayPlugin({
    client: { ...FAST_CLIENT, ...(o.fetch ? { fetch: o.fetch } : {}) },
    loadMedia: o.loadMedia,
  });
  const stub = stubRuntime(o.flavor);
  const gw = gatewayContext(cfg, resolveAccount(cfg), stub.rt);
  runAccount(plugin, gw, stops);
  const connected = () => relay!.waitFor(() => gw.status().connected === true, 2000, "connected");
  return { relay, plugin, stub, gw, cfg, connected };
}

const withAttachments = (
  seq: number,
  attachments: MessageFrame["attachments"],
  over: Partial<MessageFrame> = {},
) => messageFrame(seq, { msgType: "image", text: "[image]", content: {}, attachments, ...over });

describe("inbound attachments", () => {
  test("with the current runtime, media facts go to buildContext and the plugin sets no legacy fields", async () => {
    const png = bytes(500);
    const t = start({
      flavor: "current",
      frames: [withAttachments(1, [{ id: "img_1", kind: "image", url: "/api/media/img_1" }])],
      relay: { mediaToken: TOKEN, mediaFiles: { img_1: { bytes: png, mime: "image/png" } } },
    });
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 3000, "ack");
    const ctx = t.stub.dispatched[0]!.ctx;
    expect(ctx.built).toBe(true);
    expect(ctx.media).toMatchObject([{ contentType: "image/png", kind: "image", messageId: "om_msg1" }]);
    // The host projects the old fields from `media` itself.
    expect(ctx.MediaPath).toBeUndefined();
  });

  test("are downloaded with the token, saved under inbound, and reach the agent as ordered media facts", async () => {
    const png = bytes(1234);
    const pdf = bytes(3000, 3);
    const msg = withAttachments(
      1,
      [
        { id: "img/1 ?", kind: "image", url: "/api/media/img%2F1%20%3F" },
        { id: "stk_1", kind: "sticker" },
        { id: "file_1", kind: "file", name: "报告.pdf", size: 3000, url: "/api/media/file_1" },
      ],
      { msgType: "post", text: "see [image] [sticker] [file: 报告.pdf]" },
    );
    const t = start({
      frames: [msg],
      relay: {
        mediaToken: TOKEN,
        mediaFiles: {
          "img/1 ?": { bytes: png, mime: "image/png" },
          file_1: { bytes: pdf, mime: "application/pdf", name: "报告.pdf" },
        },
      },
    });
    const ack = await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 3000, "ack");
    expect(ack.seq).toBe(1);
    // Same origin as the WebSocket, the id escaped whole, the token as a Bearer header; no sticker.
    expect(t.relay.mediaRequests.map((r) => [r.method, r.path, r.authorization])).toEqual(
      expect.arrayContaining([
        ["GET", "/api/media/img%2F1%20%3F", `Bearer ${TOKEN}`],
        ["GET", "/api/media/file_1", `Bearer ${TOKEN}`],
      ]),
    );
    expect(t.relay.mediaRequests.length).toBe(2);
    const ctx = t.stub.dispatched[0]!.ctx;
    const media = ctx.media as Array<Record<string, unknown>>;
    expect(media).toEqual([
      {
        path: expect.any(String),
        contentType: "image/png",
        kind: "image",
        fileName: undefined,
        messageId: "om_msg1",
        sizeBytes: 1234,
      },
      {
        path: expect.stringContaining("报告.pdf"),
        contentType: "application/pdf",
        kind: "document",
        fileName: "报告.pdf",
        messageId: "om_msg1",
        sizeBytes: 3000,
      },
    ]);
    expect(new Uint8Array(readFileSync(media[0]!.path as string))).toEqual(png);
    expect(new Uint8Array(readFileSync(media[1]!.path as string))).toEqual(pdf);
    for (const s of t.stub.saved) expect(s).toMatchObject({ subdir: "inbound", maxBytes: 30 * 1024 * 1024 });
    // The classic runtime (no buildContext) also gets the older fields, as OpenClaw projects them:
    // OpenClaw 2026.3.x reads only those (real e2e: "got no image" without them).
    expect(ctx).toMatchObject({
      MediaPath: media[0]!.path,
      MediaType: "image/png",
      MediaPaths: [media[0]!.path, media[1]!.path],
      MediaTypes: ["image/png", "application/pdf"],
    });
    expect(ctx.BodyForAgent).toBe("see [image] [sticker] [file: 报告.pdf]");
    // Handled (replied) before the ack.
    const types = t.relay.conns[0]!.frames.map((f) => f.type).filter((x) => x !== "ping");
    expect(types).toEqual(["send", "ack"]);
  });

  test("a voice note with Feishu's transcript is marked transcribed; duration is kept", async () => {
    const msg = withAttachments(
      1,
      [{ id: "aud_1", kind: "audio", durationMs: 2500, url: "/api/media/aud_1" }],
      {
        msgType: "audio",
        text: "明天下午三点开会",
      },
    );
    const t = start({
      frames: [msg],
      relay: { mediaFiles: { aud_1: { bytes: bytes(500), mime: "audio/ogg" } } },
    });
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 3000, "ack");
    expect(t.stub.dispatched[0]!.ctx.media).toEqual([
      expect.objectContaining({
        kind: "audio",
        contentType: "audio/ogg",
        durationMs: 2500,
        transcribed: true,
      }),
    ]);
  });

  test("the download is capped: a larger Content-Length is refused, an unannounced body is cut off", async () => {
    const msg = withAttachments(1, [
      { id: "big_announced", kind: "image", url: "/api/media/big_announced" },
      { id: "big_stream", kind: "file", name: "dump.bin", url: "/api/media/big_stream" },
      { id: "fits", kind: "image", url: "/api/media/fits" },
    ]);
    const t = start({
      hello: mediaHello({ maxBytes: 1000, imageMaxBytes: 1000 }),
      frames: [msg],
      relay: {
        mediaFiles: {
          big_announced: { bytes: bytes(1001), mime: "image/png" },
          big_stream: { bytes: bytes(5000), mime: "application/octet-stream", unannounced: true },
          fits: { bytes: bytes(1000), mime: "image/png" },
        },
      },
    });
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 3000, "ack");
    const ctx = t.stub.dispatched[0]!.ctx;
    expect((ctx.media as unknown[]).length).toBe(1);
    expect(t.stub.saved.map((s) => s.size)).toEqual([1000]);
    expect(ctx.BodyForAgent).toBe(
      [
        "[image]",
        "",
        "[image unavailable: larger than the 1000 bytes limit]",
        '[file "dump.bin" unavailable: larger than the 1000 bytes limit]',
      ].join("\n"),
    );
  });

  test("failed downloads (404, 410, 413, 429, 5xx, network) never block: text plus a note, handled and acked", async () => {
    const ids = ["n404", "n410", "n413", "n429", "n502", "net"];
    const msg = withAttachments(
      1,
      ids.map((id) => ({ id, kind: "file" as const, name: `${id}.bin`, url: `/api/media/${id}` })),
      { msgType: "post", text: "files attached" },
    );
    const t = start({
      frames: [msg],
      relay: {
        mediaAnswer: (_req, path) => {
          const id = path.slice("/api/media/".length);
          if (id === "n410") return errorResponse(410, "media_gone");
          if (id === "n413") return errorResponse(413, "media_too_large");
          if (id === "n429") return errorResponse(429, "rate_limited", { "retry-after": "3" });
          if (id === "n502") return errorResponse(502, "feishu_unavailable");
          return undefined; // n404: unknown id
        },
      },
      fetch: (input, init) =>
        input.endsWith("/net") ? Promise.reject(new TypeError("fetch failed")) : fetch(input, init),
    });
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 3000, "ack");
    const ctx = t.stub.dispatched[0]!.ctx;
    expect(ctx.media).toBeUndefined();
    expect(ctx.BodyForAgent).toBe(
      [
        "files attached",
        "",
        '[file "n404.bin" unavailable: the relay does not have it]',
        '[file "n410.bin" unavailable: Feishu no longer has it (recalled or deleted)]',
        '[file "n413.bin" unavailable: larger than the 30 MiB limit]',
        '[file "n429.bin" unavailable: Feishu is rate-limiting downloads, try again later]',
        '[file "n502.bin" unavailable: Feishu or the relay is unavailable (HTTP 502)]',
        '[file "net.bin" unavailable: network error while downloading]',
      ].join("\n"),
    );
    expect(t.relay.framesOf("send")[0]).toMatchObject({ replyTo: "om_msg1" });
    expect(t.gw.logs.some((l) => l.includes("inbound_media_unavailable") && l.includes("reason=gone"))).toBe(
      true,
    );
    expect(t.gw.logs.join("\n")).not.toContain(TOKEN);
  });

  test("an older relay (no media feature): attachments are left alone, the text placeholder is what the agent gets", async () => {
    const msg = withAttachments(1, [{ id: "img_1", kind: "image", url: "/api/media/img_1" }]);
    const t = start({ hello: helloFrame(), frames: [msg], relay: { mediaFiles: {} } });
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 3000, "ack");
    expect(t.relay.mediaRequests.length).toBe(0);
    expect(t.stub.dispatched[0]!.ctx.media).toBeUndefined();
    expect(t.stub.dispatched[0]!.ctx.BodyForAgent).toBe("[image]");
  });
});

describe("outbound media", () => {
  const dir = mkdtempSync(join(tmpdir(), "plugin-media-"));
  const pdfPath = join(dir, "季度 报告.pdf");
  const pngPath = join(dir, "chart.png");
  const bigPngPath = join(dir, "huge.png");
  writeFileSync(pdfPath, bytes(2048, 5));
  writeFileSync(pngPath, bytes(600, 2));
  writeFileSync(bigPngPath, bytes(1500, 2));
  const types = { ".pdf": "application/pdf", ".png": "image/png" };

  test("sendMedia: loads through OpenClaw's loader with the context's roots, PUTs the bytes, sends file + caption", async () => {
    const loader = fileLoader(types);
    const t = start({ loadMedia: loader.load });
    await t.connected();
    const result = await t.plugin.outbound!.sendMedia!({
      cfg: t.cfg,
      to: "user:ou_owner",
      text: "the report",
      mediaUrl: pdfPath,
      mediaLocalRoots: [dir],
      deliveryQueueId: "dq-9",
    } as never);
    expect(loader.calls).toEqual([
      { url: pdfPath, options: { maxBytes: 30 * 1024 * 1024, optimizeImages: false, localRoots: [dir] } },
    ]);
    const [up] = t.relay.uploads;
    expect(up!.contentType).toBe("application/pdf");
    expect(up!.fileName).toBe(encodeURIComponent("季度 报告.pdf"));
    expect(up!.bytes).toEqual(bytes(2048, 5));
    expect(t.relay.mediaRequests[0]).toMatchObject({ method: "PUT", authorization: `Bearer ${TOKEN}` });
    const [send] = t.relay.framesOf("send");
    expect(send).toMatchObject({
      to: "user:ou_owner",
      msgType: "file",
      mediaId: up!.mediaId,
      text: "the report",
      uuid: "q:dq-9:0:m0",
    });
    expect(result.messageId).toStartWith("om_sent");
  });

  test("images within imageMaxBytes go as image, larger ones as file; forceDocument sends a file", async () => {
    const loader = fileLoader(types);
    const t = start({ hello: mediaHello({ maxBytes: 10_000, imageMaxBytes: 1000 }), loadMedia: loader.load });
    await t.connected();
    const send = (mediaUrl: string, extra = {}) =>
      t.plugin.outbound!.sendMedia!({ cfg: t.cfg, to: "chat:oc_x", text: "", mediaUrl, ...extra } as never);
    await send(pngPath);
    await send(bigPngPath);
    await send(pngPath, { forceDocument: true });
    const sends = t.relay.framesOf("send");
    expect(sends.map((s) => s.msgType)).toEqual(["image", "file", "file"]);
    expect(sends.every((s) => s.text === undefined && s.mediaId)).toBe(true);
  });

  test("an agent reply with a file: uploaded, then sent as a reply with its caption, before the ack", async () => {
    const loader = fileLoader(types);
    const t = start({ frames: [messageFrame(1)], loadMedia: loader.load });
    t.stub.reply = () => [{ text: "here you go", mediaUrls: [pngPath, pdfPath] }];
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 3000, "ack");
    const sends = t.relay.framesOf("send");
    expect(sends.map((s) => [s.replyTo, s.msgType, s.mediaId, s.text, s.uuid])).toEqual([
      ["om_msg1", "image", "med_1", "here you go", "om_msg1:0:m0"],
      ["om_msg1", "file", "med_2", undefined, "om_msg1:0:m1"],
    ]);
    expect(t.stub.dispatched[0]!.errors).toEqual([]);
    const types2 = t.relay.conns[0]!.frames.map((f) => f.type).filter((x) => x !== "ping");
    expect(types2).toEqual(["send", "send", "ack"]);
  });

  test("a MIME type the relay does not know (415) is uploaded again as a plain file", async () => {
    const loader = fileLoader({ ".pdf": "application/x-weird" });
    const t = start({
      loadMedia: loader.load,
      relay: {
        mediaAnswer: (req) =>
          req.headers.get("content-type") === "application/x-weird"
            ? errorResponse(415, "unsupported_media_type")
            : undefined,
      },
    });
    await t.connected();
    await t.plugin.outbound!.sendMedia!({
      cfg: t.cfg,
      to: "user:ou_owner",
      text: "",
      mediaUrl: pdfPath,
    } as never);
    expect(t.relay.uploads.map((u) => u.contentType)).toEqual(["application/octet-stream"]);
    expect(t.relay.framesOf("send")[0]).toMatchObject({ msgType: "file", mediaId: "med_1" });
  });

  test("a remote URL the loader cannot fetch still goes out as a link", async () => {
    const loader = fileLoader(types);
    const t = start({ loadMedia: loader.load });
    await t.connected();
    await t.plugin.outbound!.sendMedia!({
      cfg: t.cfg,
      to: "user:ou_owner",
      text: "look",
      mediaUrl: "https://example.com/a.png",
    } as never);
    expect(t.relay.uploads.length).toBe(0);
    expect(t.relay.framesOf("send")[0]).toMatchObject({
      msgType: "markdown",
      text: "look\n\nhttps://example.com/a.png",
    });
  });
});

describe("outbound media fails visibly", () => {
  const dir = mkdtempSync(join(tmpdir(), "plugin-media-fail-"));
  const pdfPath = join(dir, "r.pdf");
  writeFileSync(pdfPath, bytes(100));
  const types = { ".pdf": "application/pdf" };

  test("older relay: remote URLs as links, a local file throws after the text went out", async () => {
    const loader = fileLoader(types);
    const t = start({ hello: helloFrame(), loadMedia: loader.load });
    await t.connected();
    await t.plugin.outbound!.sendMedia!({
      cfg: t.cfg,
      to: "user:ou_owner",
      text: "see",
      mediaUrl: "https://example.com/x.png",
    } as never);
    expect(t.relay.framesOf("send")[0]).toMatchObject({
      msgType: "markdown",
      text: "see\n\nhttps://example.com/x.png",
    });
    await expect(
      t.plugin.outbound!.sendMedia!({
        cfg: t.cfg,
        to: "user:ou_owner",
        text: "file:",
        mediaUrl: pdfPath,
      } as never),
    ).rejects.toThrow(/could not send r\.pdf: the relay does not support media/);
    expect(t.relay.framesOf("send")[1]).toMatchObject({ msgType: "markdown", text: "file:" });
    expect(t.relay.mediaRequests.length).toBe(0);
    expect(loader.calls.length).toBe(0);
  });

  test("older relay: a reply with a local file fails the delivery inside OpenClaw; the message is still acked", async () => {
    const t = start({ hello: helloFrame(), frames: [messageFrame(1)], loadMedia: fileLoader(types).load });
    t.stub.reply = () => [{ text: "", mediaUrl: pdfPath }];
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 3000, "ack");
    expect(t.relay.framesOf("send").length).toBe(0);
    expect(String(t.stub.dispatched[0]!.errors[0])).toMatch(/could not send r\.pdf/);
  });

  test("a refused upload, a refused send and an unreadable local file each reject sendMedia", async () => {
    const loader = fileLoader(types);
    let refuseUpload = true;
    const t = start({
      loadMedia: loader.load,
      relay: {
        mediaAnswer: () => (refuseUpload ? errorResponse(413, "media_quota_exceeded") : undefined),
        answerSend: (f) =>
          f.mediaId
            ? { type: "error", id: f.id, code: "media_type_mismatch", message: "no", retryable: false }
            : answerSent(f),
      },
    });
    await t.connected();
    const send = (mediaUrl: string) =>
      t.plugin.outbound!.sendMedia!({ cfg: t.cfg, to: "user:ou_owner", text: "", mediaUrl } as never);
    await expect(send(pdfPath)).rejects.toThrow(/could not upload r\.pdf: .*413 media_quota_exceeded/);
    expect(t.relay.framesOf("send").length).toBe(0);
    refuseUpload = false;
    await expect(send(pdfPath)).rejects.toThrow(/no/);
    expect(t.relay.framesOf("send")[0]).toMatchObject({ msgType: "file" });
    await expect(send(join(dir, "missing.pdf"))).rejects.toThrow(/could not read missing\.pdf/);
    expect(t.relay.framesOf("send").length).toBe(1);
  });

  test("no media loader on the host: a local file fails visibly", async () => {
    const t = start({});
    await t.connected();
    await expect(
      t.plugin.outbound!.sendMedia!({
        cfg: t.cfg,
        to: "user:ou_owner",
        text: "",
        mediaUrl: pdfPath,
      } as never),
    ).rejects.toThrow(/no media loader/);
  });
});
