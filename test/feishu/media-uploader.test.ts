/** The uploader against the fake's im/v1/images and im/v1/files (reference §11.2), over real HTTP. */
import { describe, expect, test } from "bun:test";
import { MediaUploader, type UploadRequest } from "../../src/feishu/media-uploader.ts";
import { looksLikeImage, msgTypeForUpload } from "../fakes/feishu-uploads.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { clientStack, failure } from "./client-stack.ts";

const fake = await useFakeFeishu();
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const image = (bytes: Uint8Array<ArrayBuffer>): UploadRequest => ({
  kind: "image",
  file: new Blob([bytes]),
  fileName: "a.png",
});

function uploader() {
  const stack = clientStack(fake);
  return { ...stack, uploader: new MediaUploader(stack.client, stack.limiter) };
}

describe("media uploader", () => {
  test("uploads an image and a file with the tenant token; answers the keys the fake issued", async () => {
    const { uploader: up } = uploader();
    const imageKey = await up.upload(image(PNG), { owner: "user:1" });
    const fileKey = await up.upload({
      kind: "file",
      file: new Blob(["OggS voice"]),
      fileName: "语音.ogg",
      fileType: "opus",
      durationMs: 2500,
    });
    expect(imageKey).toMatch(/^img_v3_/);
    expect(fileKey).toMatch(/^file_v3_/);
    expect(fake.uploads).toEqual([
      expect.objectContaining({ key: imageKey, kind: "image", size: PNG.byteLength }),
      expect.objectContaining({
        key: fileKey,
        kind: "file",
        fileType: "opus",
        fileName: "语音.ogg",
        duration: 2500,
      }),
    ]);
  });

  test("Feishu's refusals are permanent with its code; 5xx and 429 are transient", async () => {
    const { uploader: up, limiter } = uploader();
    const notImage = await failure(up.upload(image(new Uint8Array([1, 2, 3, 4]))));
    expect([notImage.code, notImage.retryable]).toEqual([234011, false]);
    const empty = await failure(
      up.upload({ kind: "file", file: new Blob([]), fileName: "e.txt", fileType: "stream" }),
    );
    expect([empty.code, empty.retryable]).toEqual([234010, false]);
    const big = await failure(up.upload(image(new Uint8Array(10 * 1024 * 1024 + 1).fill(0xff))));
    expect([big.code, big.retryable]).toEqual([234006, false]);

    fake.failNextUploads(1, { kind: "code", code: 232096, msg: "meta writing stopped, retry later" });
    const busy = await failure(up.upload(image(PNG)));
    expect([busy.code, busy.retryable]).toEqual([232096, true]);
    fake.failNextUploads(1, { kind: "server_error", status: 503 });
    const down = await failure(up.upload(image(PNG)));
    expect([down.status, down.retryable]).toEqual([503, true]);
    fake.failNextUploads(1, { kind: "rate_limit", resetSec: 2 });
    const throttled = await failure(up.upload(image(PNG)));
    expect([throttled.code, throttled.retryable, throttled.retryAfterMs]).toEqual([99991400, true, 2000]);
    // A throttled upload pauses uploads (Feishu limits each API on its own); sends still go.
    let uploadAcquired = false;
    void limiter.acquire("upload:u", { kind: "upload" }).then(() => {
      uploadAcquired = true;
    });
    await limiter.acquire("chat:oc_x");
    await Bun.sleep(50);
    expect(uploadAcquired).toBe(false);
    expect(fake.uploads).toHaveLength(0);
  });

  test("a refused tenant token is renewed and the upload repeated", async () => {
    const { uploader: up, tokens } = uploader();
    await tokens.get();
    fake.expireAllTokens();
    expect(await up.upload(image(PNG))).toMatch(/^img_v3_/);
    expect(fake.uploads).toHaveLength(1);
  });
});

describe("fake upload checks", () => {
  test("recognises image formats by their first bytes", () => {
    const ascii = (s: string) => [...Buffer.from(s, "latin1")];
    for (const head of [
      [0xff, 0xd8, 0xff, 0xe0],
      [0x89, ...ascii("PNG")],
      ascii("GIF89a"),
      [...ascii("RIFF"), 0, 0, 0, 0, ...ascii("WEBP")],
      ascii("BM"),
      [0, 0, 1, 0],
      ascii("II*\0"),
      [0, 0, 0, 0x18, ...ascii("ftypheic")],
    ])
      expect(looksLikeImage(new Uint8Array([...head, 0, 0, 0, 0, 0, 0, 0, 0]))).toBe(true);
    expect(looksLikeImage(new Uint8Array(Buffer.from("%PDF-1.7 ...")))).toBe(false);
  });

  test("an upload may only be sent as its own msg_type", () => {
    expect(msgTypeForUpload({ kind: "image" })).toBe("image");
    expect(msgTypeForUpload({ kind: "file", fileType: "opus" })).toBe("audio");
    expect(msgTypeForUpload({ kind: "file", fileType: "mp4" })).toBe("media");
    expect(msgTypeForUpload({ kind: "file", fileType: "pdf" })).toBe("file");
  });

  test("the send endpoint answers 230055 for a key it never issued or one of the wrong type", async () => {
    const { sender, uploader: up } = uploader();
    const opus = await up.upload({
      kind: "file",
      file: new Blob(["x"]),
      fileName: "v.ogg",
      fileType: "opus",
    });
    const dest = { kind: "create", receiveIdType: "open_id", receiveId: "ou_a" } as const;
    const wrongType = await failure(
      sender.deliver(dest, { msgType: "file", mediaKey: opus }, { retry: "once" }),
    );
    expect([wrongType.code, wrongType.retryable]).toEqual([230055, false]);
    const unknown = await failure(
      sender.deliver(dest, { msgType: "image", mediaKey: "img_nope" }, { retry: "once" }),
    );
    expect(unknown.code).toBe(230055);
    const ok = await sender.deliver(dest, { msgType: "audio", mediaKey: opus }, { retry: "once" });
    expect(ok).toHaveLength(1);
    expect(fake.sent).toEqual([expect.objectContaining({ msgType: "audio", content: { file_key: opus } })]);
  });

  test("the control API lists uploads and injects upload failures", async () => {
    const failed = await fetch(`${fake.url}/_fake/upload-fail`, {
      method: "POST",
      body: JSON.stringify({ n: 1, failure: { kind: "server_error", status: 500 } }),
    });
    expect(failed.status).toBe(200);
    const { uploader: up } = uploader();
    expect((await failure(up.upload(image(PNG)))).status).toBe(500);
    const key = await up.upload(image(PNG));
    const listed = (await (await fetch(`${fake.url}/_fake/uploads`)).json()) as Array<{ key: string }>;
    expect(listed.map((u) => u.key)).toEqual([key]);
    const state = (await (await fetch(`${fake.url}/_fake/state`)).json()) as { uploads: number };
    expect(state.uploads).toBe(1);
  });
});
