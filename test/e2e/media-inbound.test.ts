/**
 * Inbound media end to end (issue 11): the real relay process, the fake Feishu and a real WebSocket
 * client. An image, file, voice note, video and a post's embedded media are pushed to the webhook; the
 * plugin's `message` frame carries `attachments`; `GET` on each `url` with the plugin's token returns
 * Feishu's exact bytes (sha256) and headers. Feishu is never called before the webhook is answered.
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Attachment } from "../../src/relay/protocol.ts";
import { type ResourceInput, startFakeFeishu } from "../fakes/feishu.ts";
import { mediaContent } from "../fakes/feishu-resources.ts";
import { tempDir } from "../helpers.ts";
import { connect, isType, type TestClient } from "../relay/ws-client.ts";
import { createUser, startRelayProcess } from "./relay-process.ts";

const ADMIN = "media-test-admin-token-0123";
const MAX_BYTES = 2 * 1024 * 1024;
const fake = await startFakeFeishu();
const tmp = tempDir();
const port = freePort();
const relay = await startRelayProcess({
  DATABASE_PATH: join(tmp.dir, "media.db"),
  ADMIN_TOKEN: ADMIN,
  FEISHU_APP_ID: fake.appId,
  FEISHU_APP_SECRET: fake.appSecret,
  FEISHU_DOMAIN: fake.url,
  PORT: String(port),
  PUBLIC_URL: `http://127.0.0.1:${port}`,
  MEDIA_MAX_BYTES: String(MAX_BYTES),
});
const webhook = `${relay.base}/api/feishu/webhook`;
beforeEach(() => fake.reset());
afterAll(async () => {
  await relay.stop();
  await fake.stop();
  tmp.cleanup();
});

const users = new Map<string, { token: string; client: TestClient }>();
let counter = 0;

/** A signed-up user with a connected plugin socket (made once per open id). */
async function plugin(openId: string) {
  const known = users.get(openId);
  if (known) return known;
  const token = await createUser(relay.base, ADMIN, openId);
  const client = connect(relay.ws, { token });
  const hello = await client.next(isType("hello"));
  const entry = { token, client, hello };
  users.set(openId, entry);
  return entry;
}

interface Pushed {
  messageId: string;
  frame: Record<string, unknown>;
  attachments: Attachment[];
}

/**
 * Registers the resources at the fake, pushes the message and waits for its frame. Asserts that the
 * webhook was answered before anything asked Feishu for a resource.
 */
async function push(
  openId: string,
  msgType: string,
  content: Record<string, unknown>,
  resources: Array<Omit<ResourceInput, "messageId">> = [],
  ack = true,
): Promise<Pushed> {
  const { client } = await plugin(openId);
  const messageId = `om_media_${++counter}_${randomBytes(4).toString("hex")}`;
  for (const r of resources) fake.addResource({ ...r, messageId });
  const callsBefore = fake.resourceCalls.length;
  const result = await fake.pushEvent(
    webhook,
    fake.messageEvent({ senderOpenId: openId, messageId, msgType, content }),
  );
  expect(result.status).toBe(200);
  expect(fake.resourceCalls.length).toBe(callsBefore);
  const frame = await client.next((f) => f.type === "message" && f.messageId === messageId);
  if (ack) client.send({ type: "ack", seq: frame.seq });
  return { messageId, frame, attachments: (frame.attachments ?? []) as Attachment[] };
}

const sha256 = (bytes: Uint8Array | ArrayBuffer) =>
  createHash("sha256")
    .update(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes)
    .digest("hex");

function get(url: string, token: string | undefined) {
  return fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
}

async function errorOf(res: Response) {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

describe("hello", () => {
  test("announces the media feature and its limits", async () => {
    const { hello } = (await plugin("ou_media_hello")) as unknown as { hello: Record<string, unknown> };
    // M2-3: `stream` too, since FEISHU_STREAMING is on by default and Feishu is configured.
    expect(hello.features).toEqual(["media", "stream"]);
    expect(hello.media).toEqual({ maxBytes: MAX_BYTES, imageMaxBytes: 10 * 1024 * 1024 });
  });
});

describe("attachments reach the plugin and download with the exact bytes", () => {
  test("image: kind, url on PUBLIC_URL, bytes, Content-Type/Length/Disposition", async () => {
    const bytes = randomBytes(200_000);
    const { token } = await plugin("ou_media_a");
    const p = await push("ou_media_a", "image", mediaContent.image("img_v2_one"), [
      { fileKey: "img_v2_one", type: "image", bytes, mime: "image/png" },
    ]);
    expect(p.frame.text).toBe("[image]");
    expect(p.attachments).toHaveLength(1);
    const [a] = p.attachments;
    expect(a).toMatchObject({ kind: "image" });
    expect(a!.url).toBe(`${relay.base}/api/media/${a!.id}`);
    const res = await get(a!.url!, token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("content-length")).toBe(String(bytes.length));
    expect(res.headers.get("content-disposition")).toBe("attachment; filename*=UTF-8''image.png");
    expect(sha256(await res.arrayBuffer())).toBe(sha256(bytes));
    expect(fake.resourceCalls).toEqual([
      { messageId: p.messageId, fileKey: "img_v2_one", type: "image", status: 200 },
    ]);
  });

  test("file: the CJK name Feishu sends as raw UTF-8 comes out percent-encoded", async () => {
    const bytes = randomBytes(50_000);
    const { token } = await plugin("ou_media_a");
    const p = await push("ou_media_a", "file", mediaContent.file("file_v2_pdf", "季度报告.pdf"), [
      {
        fileKey: "file_v2_pdf",
        type: "file",
        bytes,
        mime: "application/pdf",
        fileName: "季度报告.pdf",
        dispositionStyle: "raw",
      },
    ]);
    expect(p.frame.text).toBe("[file: 季度报告.pdf]");
    expect(p.attachments[0]).toMatchObject({ kind: "file", name: "季度报告.pdf" });
    const res = await get(p.attachments[0]!.url!, token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe(
      `attachment; filename*=UTF-8''${encodeURIComponent("季度报告.pdf")}`,
    );
    expect(sha256(await res.arrayBuffer())).toBe(sha256(bytes));
  });

  test("audio: Feishu's speech_to_text is the text; duration in ms", async () => {
    const bytes = randomBytes(30_000);
    const { token } = await plugin("ou_media_a");
    const p = await push("ou_media_a", "audio", mediaContent.audio("file_v2_voice", 3400, "明天十点开会"), [
      { fileKey: "file_v2_voice", type: "file", bytes, mime: "audio/ogg" },
    ]);
    expect(p.frame.text).toBe("明天十点开会");
    expect(p.attachments[0]).toMatchObject({ kind: "audio", durationMs: 3400 });
    const res = await get(p.attachments[0]!.url!, token);
    expect(res.status).toBe(200);
    expect(sha256(await res.arrayBuffer())).toBe(sha256(bytes));
    expect(fake.resourceCalls.map((c) => c.type)).toEqual(["file"]);
  });

  test("video that Feishu answers 502 under type=file is fetched as type=media", async () => {
    const bytes = randomBytes(300_000);
    const { token } = await plugin("ou_media_a");
    const p = await push("ou_media_a", "media", mediaContent.media("file_v2_clip", "clip.mp4", 61_000), [
      {
        fileKey: "file_v2_clip",
        type: "file",
        bytes,
        mime: "video/mp4",
        fileName: "clip.mp4",
        mediaOnly: true,
      },
    ]);
    expect(p.frame.text).toBe("[media: clip.mp4]");
    expect(p.attachments).toEqual([
      expect.objectContaining({ kind: "video", name: "clip.mp4", durationMs: 61_000 }),
    ]);
    const res = await get(p.attachments[0]!.url!, token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect(sha256(await res.arrayBuffer())).toBe(sha256(bytes));
    expect(fake.resourceCalls.map((c) => [c.type, c.status])).toEqual([
      ["file", 502],
      ["media", 200],
    ]);
  });

  test("post: the embedded image and video are attachments, in order; text keeps [image]", async () => {
    const image = randomBytes(40_000);
    const video = randomBytes(80_000);
    const { token } = await plugin("ou_media_a");
    const p = await push(
      "ou_media_a",
      "post",
      mediaContent.post("看这个", [{ imageKey: "img_v2_in_post" }, { fileKey: "file_v2_in_post" }]),
      [
        { fileKey: "img_v2_in_post", type: "image", bytes: image, mime: "image/jpeg" },
        { fileKey: "file_v2_in_post", type: "file", bytes: video, mime: "video/mp4" },
      ],
    );
    expect(p.frame.text).toBe("看这个\n[image]\n[media]");
    expect(p.attachments.map((a) => a.kind)).toEqual(["image", "video"]);
    const [img, vid] = await Promise.all(p.attachments.map((a) => get(a.url!, token)));
    expect(sha256(await img!.arrayBuffer())).toBe(sha256(image));
    expect(sha256(await vid!.arrayBuffer())).toBe(sha256(video));
    expect(fake.resourceCalls.map((c) => c.type).sort()).toEqual(["file", "image"]);
  });

  test("a file sent without Content-Length streams through, without one", async () => {
    const bytes = randomBytes(700_000);
    const { token } = await plugin("ou_media_a");
    const p = await push("ou_media_a", "file", mediaContent.file("file_v2_chunked", "big.bin"), [
      { fileKey: "file_v2_chunked", type: "file", bytes, fileName: "big.bin", noContentLength: true },
    ]);
    const res = await get(p.attachments[0]!.url!, token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBeNull();
    expect(sha256(await res.arrayBuffer())).toBe(sha256(bytes));
  });

  test("a file over 1 MiB streams (chunked: Bun's server drops a streamed body's length)", async () => {
    const bytes = randomBytes(1_500_000);
    const { token } = await plugin("ou_media_a");
    const p = await push("ou_media_a", "file", mediaContent.file("file_v2_large", "large.bin"), [
      { fileKey: "file_v2_large", type: "file", bytes, fileName: "large.bin" },
    ]);
    const res = await get(p.attachments[0]!.url!, token);
    expect(res.status).toBe(200);
    expect(sha256(await res.arrayBuffer())).toBe(sha256(bytes));
  });

  test("a replayed message carries the same attachment ids", async () => {
    const { token } = await plugin("ou_media_replay");
    const p = await push(
      "ou_media_replay",
      "image",
      mediaContent.image("img_v2_replay"),
      [{ fileKey: "img_v2_replay", type: "image", bytes: "x", mime: "image/png" }],
      false,
    );
    // Not acked: a new connection (replacing the old one) gets the message again.
    const again = connect(relay.ws, { token });
    const replayed = await again.next((f) => f.type === "message" && f.messageId === p.messageId);
    expect(replayed.attachments).toEqual(p.attachments);
    expect((await get(p.attachments[0]!.url!, token)).status).toBe(200);
    again.close();
  });
});

describe("who may download what", () => {
  test("a sticker has no url, and its key is no download id", async () => {
    const { token } = await plugin("ou_media_a");
    const p = await push("ou_media_a", "sticker", mediaContent.sticker("v2_sticker_key"));
    expect(p.attachments).toEqual([{ id: "v2_sticker_key", kind: "sticker" }]);
    const res = await get(`${relay.base}/api/media/v2_sticker_key`, token);
    expect(res.status).toBe(404);
  });

  test("another user's token gets 404 (never 403); unknown ids 404; no token 401", async () => {
    const { token: other } = await plugin("ou_media_b");
    const p = await push("ou_media_a", "image", mediaContent.image("img_v2_private"), [
      { fileKey: "img_v2_private", type: "image", bytes: "secret", mime: "image/png" },
    ]);
    const url = p.attachments[0]!.url!;
    const res = await get(url, other);
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toBe("not_found");
    expect((await get(`${relay.base}/api/media/bm9wZQ.0`, other)).status).toBe(404);
    expect((await get(`${relay.base}/api/media/..%2F..%2Fetc`, other)).status).toBe(404);
    expect((await get(url, undefined)).status).toBe(401);
    expect(fake.resourceCalls).toHaveLength(0);
  });
});

describe("limits and Feishu's failures", () => {
  async function image(bytes: Uint8Array | string, extra: Partial<ResourceInput> = {}) {
    const key = `img_v2_${randomBytes(4).toString("hex")}`;
    const { token } = await plugin("ou_media_a");
    const p = await push("ou_media_a", "image", mediaContent.image(key), [
      { fileKey: key, type: "image", bytes, mime: "image/png", ...extra },
    ]);
    return { url: p.attachments[0]!.url!, token, messageId: p.messageId };
  }

  test("over MEDIA_MAX_BYTES with a Content-Length → 413 media_too_large", async () => {
    const { url, token } = await image(randomBytes(MAX_BYTES + 1));
    const res = await get(url, token);
    expect(res.status).toBe(413);
    expect(await errorOf(res)).toBe("media_too_large");
  });

  test("over MEDIA_MAX_BYTES without a Content-Length → the body is cut short", async () => {
    const bytes = randomBytes(MAX_BYTES + 200_000);
    const { url, token } = await image(bytes, { noContentLength: true });
    const res = await get(url, token);
    expect(res.status).toBe(200);
    let received = 0;
    let failed = false;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        received += chunk.byteLength;
    } catch {
      failed = true;
    }
    expect(received).toBeLessThanOrEqual(MAX_BYTES);
    expect(failed || received < bytes.length).toBe(true);
  });

  test("Feishu 429 → 429 rate_limited with Retry-After", async () => {
    const { url, token } = await image("x");
    fake.failResourcesNext(1, { kind: "rate_limit", resetSec: 7 });
    const res = await get(url, token);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(await errorOf(res)).toBe("rate_limited");
  });

  test("Feishu 5xx → 502 feishu_unavailable; the next try works", async () => {
    const { url, token } = await image("ok");
    fake.failResourcesNext(1, { kind: "server_error", status: 503 });
    const res = await get(url, token);
    expect(res.status).toBe(502);
    expect(await errorOf(res)).toBe("feishu_unavailable");
    expect(await (await get(url, token)).text()).toBe("ok");
  });

  test("a deleted message → 410 media_gone; a key not in the message → 410", async () => {
    const { url, token, messageId } = await image("x");
    fake.resources.deleted.add(messageId);
    const res = await get(url, token);
    expect(res.status).toBe(410);
    expect(await errorOf(res)).toBe("media_gone");
    fake.failResourcesNext(1, { kind: "code", code: 234003 });
    expect((await get(url, token)).status).toBe(410);
  });

  test("other Feishu refusals → 502 feishu_<code>; 234037 → 413", async () => {
    const { url, token } = await image("x");
    fake.failResourcesNext(1, { kind: "code", code: 234004, msg: "App not in chat" });
    const res = await get(url, token);
    expect(res.status).toBe(502);
    expect(await errorOf(res)).toBe("feishu_234004");
    fake.failResourcesNext(1, { kind: "code", code: 234037 });
    expect((await get(url, token)).status).toBe(413);
  });

  test("an expired tenant token is refreshed and the download still works", async () => {
    const { url, token } = await image("fresh");
    fake.expireAllTokens();
    const res = await get(url, token);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("fresh");
  });
});

function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port ?? 0;
  probe.stop(true);
  return port;
}
