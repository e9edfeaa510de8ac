/**
 * Outbound media (M2-2) end to end: `PUT /api/media` over real HTTP, a `send` over a real WebSocket
 * or `POST /api/messages`, the durable outbox, and the fake Feishu's upload and send endpoints.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { tempDir } from "../helpers.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";
import { connect, isType } from "../relay/ws-client.ts";
import { createUser, type RelayProcess, startRelayProcess } from "./relay-process.ts";

const fake = await useFakeFeishu();
let clockOffset = 0;
const r = await gatewayRelay(
  {
    FEISHU_APP_ID: fake.appId,
    FEISHU_APP_SECRET: fake.appSecret,
    FEISHU_DOMAIN: fake.url,
    MEDIA_MAX_BYTES: "2MiB",
    MEDIA_QUOTA_BYTES: "3MiB",
  },
  { now: () => Date.now() + clockOffset },
);
const tmp = tempDir();
afterAll(async () => {
  await r.close();
  tmp.cleanup();
});

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const bytes = (n: number, head: number[] = []) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  b.set(head);
  return b;
};
const PNG = bytes(4096, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PDF = bytes(9000, [...Buffer.from("%PDF-1.7\n")]);
const OGG = bytes(3000, [...Buffer.from("OggS")]);
const MP4 = bytes(5000, [0, 0, 0, 0x18, ...Buffer.from("ftypmp42")]);

function put(token: string, body: BodyInit | null, headers: Record<string, string> = {}) {
  return fetch(`${r.http}/api/media`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, ...headers },
    body,
  });
}

async function upload(token: string, body: Uint8Array<ArrayBuffer>, mime: string, name?: string) {
  const res = await put(token, body, {
    "content-type": mime,
    ...(name ? { "x-file-name": encodeURIComponent(name) } : {}),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as {
    mediaId: string;
    size: number;
    mime: string;
    name?: string;
    expiresAt: number;
  };
}

const postMessage = (token: string, body: unknown) =>
  fetch(`${r.http}/api/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
const mediaFiles = () => readdirSync(join(r.dir, "media"));

describe("outbound media", () => {
  test("an image sent by a WS send frame is uploaded once, sent as image with its key, caption after", async () => {
    const { token } = await r.user("ou_media_img");
    const up = await upload(token, PNG, "image/png", "截图 1.png");
    expect(up).toMatchObject({ size: PNG.byteLength, mime: "image/png", name: "截图 1.png" });
    expect(up.mediaId).toMatch(/^med_[A-Za-z0-9_-]+$/);
    expect(mediaFiles()).toContain(up.mediaId);

    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "img1", msgType: "image", mediaId: up.mediaId, text: "the screenshot" });
    const sent = await c.next((f) => f.id === "img1");
    expect(sent.type).toBe("sent");
    expect(sent.messageIds).toHaveLength(2);

    expect(fake.uploads).toHaveLength(1);
    const [u] = fake.uploads;
    expect(u).toMatchObject({ kind: "image", size: PNG.byteLength, sha256: sha256(PNG) });
    const [media, caption] = fake.sent;
    expect(media).toMatchObject({
      msgType: "image",
      content: { image_key: u!.key },
      receiveId: "ou_media_img",
    });
    expect(caption).toMatchObject({ msgType: "text", text: "the screenshot" });
    expect([media!.messageId, caption!.messageId]).toEqual(sent.messageIds as string[]);
    // Sent: the bytes are gone.
    expect(mediaFiles()).not.toContain(up.mediaId);
    c.close();
  });

  test("a PDF via POST /api/messages goes to im/v1/files as pdf with its UTF-8 name, then as a file message", async () => {
    const { token } = await r.user("ou_media_pdf");
    const up = await upload(token, PDF, "application/pdf", "季度报告.pdf");
    const res = await postMessage(token, { msgType: "file", mediaId: up.mediaId });
    expect(res.status).toBe(200);
    const { messageIds } = (await res.json()) as { messageIds: string[] };
    expect(messageIds).toHaveLength(1);
    expect(fake.uploads).toEqual([
      expect.objectContaining({
        kind: "file",
        fileType: "pdf",
        fileName: "季度报告.pdf",
        sha256: sha256(PDF),
      }),
    ]);
    expect(fake.sent).toEqual([
      expect.objectContaining({ msgType: "file", content: { file_key: fake.uploads[0]!.key } }),
    ]);
  });

  test("Ogg/Opus audio goes as opus with its duration; MP4 video as mp4 and Feishu's media message", async () => {
    const { token } = await r.user("ou_media_av");
    const voice = await upload(token, OGG, "audio/ogg", "voice.ogg");
    const clip = await upload(token, MP4, "video/mp4");
    const a = await postMessage(token, { msgType: "audio", mediaId: voice.mediaId, durationMs: 3200 });
    expect(a.status).toBe(200);
    const v = await postMessage(token, { msgType: "video", mediaId: clip.mediaId, durationMs: 10_000 });
    expect(v.status).toBe(200);
    expect(fake.uploads.map((u) => [u.fileType, u.fileName, u.duration])).toEqual([
      ["opus", "voice.ogg", 3200],
      ["mp4", "file.mp4", 10_000],
    ]);
    expect(fake.sent.map((m) => [m.msgType, m.content.file_key])).toEqual([
      ["audio", fake.uploads[0]!.key],
      ["media", fake.uploads[1]!.key],
    ]);
  });

  test("a Feishu 5xx on the send is retried by the outbox without a second upload", async () => {
    const { token } = await r.user("ou_media_retry");
    const up = await upload(token, PNG, "image/png");
    fake.failNext(1, { kind: "server_error", status: 502 });
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "r1", msgType: "image", mediaId: up.mediaId, uuid: "media-retry-1" });
    expect(await c.next((f) => f.id === "r1")).toMatchObject({ type: "queued" });
    const sent = await c.next((f) => f.id === "r1" && f.type === "sent", 8000);
    expect(fake.uploads).toHaveLength(1);
    expect(fake.sent).toEqual([expect.objectContaining({ msgType: "image", messageId: sent.messageId })]);
    c.close();
  });

  test("a Feishu 5xx on the upload is retried; the send then goes once", async () => {
    const { token } = await r.user("ou_media_upfail");
    const up = await upload(token, PDF, "application/pdf", "a.pdf");
    fake.failNextUploads(1, { kind: "server_error" });
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "u1", msgType: "file", mediaId: up.mediaId });
    expect(await c.next((f) => f.id === "u1")).toMatchObject({ type: "queued" });
    await c.next((f) => f.id === "u1" && f.type === "sent", 8000);
    expect(fake.uploads).toHaveLength(1);
    expect(fake.sent).toHaveLength(1);
    c.close();
  });

  test("a permanent upload refusal (234011, not an image) is a final feishu_234011 error", async () => {
    const { token } = await r.user("ou_media_notimg");
    // Declared PNG, but not PNG bytes: the relay trusts the MIME type, Feishu does not.
    const up = await upload(token, PDF, "image/png");
    const res = await postMessage(token, { msgType: "image", mediaId: up.mediaId });
    expect(res.status).toBe(502);
    expect(await errorCode(res)).toBe("feishu_234011");
    expect(fake.sent).toHaveLength(0);
  });

  test("bad uploads get clear errors and store nothing", async () => {
    const { token } = await r.user("ou_media_bad");
    const before = mediaFiles().length;
    const empty = await put(token, new Uint8Array(0), { "content-type": "image/png" });
    expect([empty.status, await errorCode(empty)]).toEqual([400, "empty_media"]);
    const big = await put(token, bytes(2 * 1024 * 1024 + 1), { "content-type": "application/pdf" });
    expect([big.status, await errorCode(big)]).toEqual([413, "media_too_large"]);
    // No Content-Length (chunked): counted while streaming.
    const chunks = [bytes(1024 * 1024), bytes(1024 * 1024), bytes(10)];
    const stream = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        const next = chunks.shift();
        if (next) ctrl.enqueue(next);
        else ctrl.close();
      },
    });
    const chunked = await put(token, stream, { "content-type": "application/pdf" });
    expect([chunked.status, await errorCode(chunked)]).toEqual([413, "media_too_large"]);
    const exe = await put(token, PNG, { "content-type": "application/x-msdownload" });
    expect([exe.status, await errorCode(exe)]).toEqual([415, "unsupported_media_type"]);
    const noType = await fetch(`${r.http}/api/media`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "" },
      body: PNG,
    });
    expect([noType.status, await errorCode(noType)]).toEqual([400, "bad_request"]);
    const badName = await put(token, PNG, { "content-type": "image/png", "x-file-name": "%E0%A4%A" });
    expect([badName.status, await errorCode(badName)]).toEqual([400, "bad_request"]);
    const anon = await fetch(`${r.http}/api/media`, {
      method: "PUT",
      body: PNG,
      headers: { "content-type": "image/png" },
    });
    expect(anon.status).toBe(401);
    expect(mediaFiles()).toHaveLength(before);
    expect(fake.calls.filter((c) => c.path.startsWith("/open-apis/im/"))).toHaveLength(0);
  });

  test("a user's stored media are capped by MEDIA_QUOTA_BYTES", async () => {
    const { token } = await r.user("ou_media_quota");
    await upload(token, bytes(1536 * 1024), "application/pdf");
    await upload(token, bytes(1024 * 1024), "application/pdf");
    const over = await put(token, bytes(1024 * 1024), { "content-type": "application/pdf" });
    expect([over.status, await errorCode(over)]).toEqual([413, "media_quota_exceeded"]);
    // Another user has their own quota.
    const other = await r.user("ou_media_quota_2");
    await upload(other.token, bytes(1024 * 1024), "application/pdf");
  });

  test("another user's, an unknown, an expired or a mismatched mediaId is refused before Feishu", async () => {
    const alice = await r.user("ou_media_alice");
    const bob = await r.user("ou_media_bob");
    const alicePng = await upload(alice.token, PNG, "image/png");
    const alicePdf = await upload(alice.token, PDF, "application/pdf");
    const c = connect(r.url, { token: bob.token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "x1", msgType: "image", mediaId: alicePng.mediaId });
    expect(await c.next((f) => f.id === "x1")).toMatchObject({
      type: "error",
      code: "media_not_found",
      retryable: false,
    });
    c.close();
    const unknown = await postMessage(bob.token, { msgType: "file", mediaId: "med_nope" });
    expect([unknown.status, await errorCode(unknown)]).toEqual([400, "media_not_found"]);

    const asImage = await postMessage(alice.token, { msgType: "image", mediaId: alicePdf.mediaId });
    expect([asImage.status, await errorCode(asImage)]).toEqual([400, "media_type_mismatch"]);
    const asAudio = await postMessage(alice.token, { msgType: "audio", mediaId: alicePng.mediaId });
    expect([asAudio.status, await errorCode(asAudio)]).toEqual([400, "media_type_mismatch"]);
    const asVideo = await postMessage(alice.token, { msgType: "video", mediaId: alicePdf.mediaId });
    expect([asVideo.status, await errorCode(asVideo)]).toEqual([400, "media_type_mismatch"]);

    clockOffset += 24 * 3600 * 1000 + 1;
    try {
      const expired = await postMessage(alice.token, { msgType: "file", mediaId: alicePdf.mediaId });
      expect([expired.status, await errorCode(expired)]).toEqual([400, "media_not_found"]);
    } finally {
      clockOffset = 0;
    }
    expect(fake.uploads).toHaveLength(0);
    expect(fake.sent).toHaveLength(0);
  });

  test("sends without media are unaffected; mediaId on a text send is a bad_frame", async () => {
    const { token } = await r.user("ou_media_old");
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "t1", text: "plain as before" });
    expect(await c.next((f) => f.id === "t1")).toMatchObject({ type: "sent" });
    c.send({ type: "send", id: "t2", text: "x", mediaId: "med_x" });
    expect(await c.next((f) => f.id === "t2")).toMatchObject({ type: "error", code: "bad_frame" });
    c.send({ type: "send", id: "t3", msgType: "image" });
    expect(await c.next((f) => f.id === "t3")).toMatchObject({ type: "error", code: "bad_frame" });
    expect(fake.sent.map((m) => m.text)).toEqual(["plain as before"]);
    expect(fake.uploads).toHaveLength(0);
    c.close();
  });

  test("every other route keeps its 1 MiB body cap: /api/messages refuses 2 MiB", async () => {
    const { token } = await r.user("ou_media_cap");
    const big = JSON.stringify({ text: "x".repeat(2 * 1024 * 1024) });
    const declared = await postMessage(token, JSON.parse(big));
    expect([declared.status, await errorCode(declared)]).toEqual([413, "body_too_large"]);
    const chunks = [new TextEncoder().encode(big)];
    const chunked = await fetch(`${r.http}/api/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: new ReadableStream<Uint8Array>({
        pull(ctrl) {
          const next = chunks.shift();
          if (next) ctrl.enqueue(next);
          else ctrl.close();
        },
      }),
    });
    expect([chunked.status, await errorCode(chunked)]).toEqual([413, "body_too_large"]);
  });
});

describe("outbound media across kill -9", () => {
  const ADMIN = "media-crash-admin-token-0123";
  const env = (name: string) => ({
    DATABASE_PATH: join(tmp.dir, `${name}.db`),
    ADMIN_TOKEN: ADMIN,
    FEISHU_APP_ID: fake.appId,
    FEISHU_APP_SECRET: fake.appSecret,
    FEISHU_DOMAIN: fake.url,
  });
  const userOn = (relay: RelayProcess, openId: string) => createUser(relay.base, ADMIN, openId);
  const putOn = (relay: RelayProcess, token: string, body: Uint8Array<ArrayBuffer>, mime: string) =>
    fetch(`${relay.base}/api/media`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": mime, "x-file-name": "kept.pdf" },
      body,
    });

  test("media answered by PUT survive kill -9: after a restart the send goes out once", async () => {
    const first = await startRelayProcess(env("put-crash"));
    const token = await userOn(first, "ou_media_crash_put");
    const res = await putOn(first, token, PDF, "application/pdf");
    expect(res.status).toBe(201);
    const { mediaId } = (await res.json()) as { mediaId: string };
    expect(await first.stop("SIGKILL")).not.toBe(0);

    const second = await startRelayProcess(env("put-crash"));
    try {
      const c = connect(second.ws, { token });
      await c.next(isType("hello"));
      c.send({ type: "send", id: "k1", msgType: "file", mediaId, uuid: "after-crash" });
      expect(await c.next((f) => f.id === "k1", 5000)).toMatchObject({ type: "sent" });
      expect(fake.uploads).toEqual([expect.objectContaining({ fileName: "kept.pdf", sha256: sha256(PDF) })]);
      expect(fake.sent).toHaveLength(1);
      c.close();
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 30_000);

  test("kill -9 after the upload but before the send succeeded: the restart sends without uploading again", async () => {
    const first = await startRelayProcess(env("send-crash"));
    const token = await userOn(first, "ou_media_crash_send");
    const res = await putOn(first, token, PNG, "image/png");
    const { mediaId } = (await res.json()) as { mediaId: string };
    fake.failNext(100, { kind: "server_error", status: 503 });
    const c = connect(first.ws, { token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "k2", msgType: "image", mediaId, text: "caption", uuid: "crash-mid-send" });
    expect(await c.next((f) => f.id === "k2", 5000)).toMatchObject({ type: "queued" });
    expect(fake.uploads).toHaveLength(1);
    expect(await first.stop("SIGKILL")).not.toBe(0);
    fake.switches.clear();

    const second = await startRelayProcess(env("send-crash"));
    try {
      const [media, caption] = await fake.waitForSentCount(2, 8000);
      expect(media).toMatchObject({ msgType: "image", content: { image_key: fake.uploads[0]!.key } });
      expect(caption).toMatchObject({ msgType: "text", text: "caption" });
      expect(fake.uploads).toHaveLength(1);
      // The plugin asks again with the same uuid after reconnecting: the outcome, not a new send.
      const again = connect(second.ws, { token });
      await again.next(isType("hello"));
      again.send({
        type: "send",
        id: "k3",
        msgType: "image",
        mediaId,
        text: "caption",
        uuid: "crash-mid-send",
      });
      expect(await again.next((f) => f.id === "k3")).toMatchObject({
        type: "sent",
        messageIds: [media!.messageId, caption!.messageId],
      });
      expect(fake.sent).toHaveLength(2);
      again.close();
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 30_000);
});
