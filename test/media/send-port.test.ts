import { describe, expect, test } from "bun:test";
import type { Feishu } from "../../src/feishu/index.ts";
import { uploadForm } from "../../src/feishu/media-uploader.ts";
import type { MultipartBody } from "../../src/feishu/multipart.ts";
import type { MediaStore } from "../../src/media/media-store.ts";
import { feishuSendPort, uploadRequestFor } from "../../src/media/send-port.ts";
import type { SendPort } from "../../src/relay/outbox.ts";
import type { SendRequest } from "../../src/relay/protocol.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { clientStack } from "../feishu/client-stack.ts";

const blob = new Blob([new Uint8Array([1, 2, 3])]);

describe("media upload requests", () => {
  test("an image goes to im/v1/images with its name; durations only for audio and video", () => {
    expect(uploadRequestFor("image", { mime: "image/png", name: "a.png" }, blob, 500)).toEqual({
      kind: "image",
      file: blob,
      fileName: "a.png",
    });
    expect(uploadRequestFor("audio", { mime: "audio/ogg", name: null }, blob, 3000)).toMatchObject({
      kind: "file",
      fileType: "opus",
      fileName: "file.ogg",
      durationMs: 3000,
    });
    expect(uploadRequestFor("video", { mime: "video/mp4", name: "v.mp4" }, blob)).not.toHaveProperty(
      "durationMs",
    );
    expect(uploadRequestFor("file", { mime: "application/pdf", name: "r.pdf" }, blob, 9)).toEqual({
      kind: "file",
      file: blob,
      fileName: "r.pdf",
      fileType: "pdf",
    });
  });

  test("the multipart body has Feishu's field names; the file name stays raw UTF-8", async () => {
    const image = await parsed(uploadForm({ kind: "image", file: blob, fileName: "图.png" }));
    expect([...image.keys()]).toEqual(["image_type", "image"]);
    expect(image.get("image_type")).toBe("message");
    expect((image.get("image") as File).name).toBe("图.png");

    const file = await parsed(
      uploadForm({ kind: "file", file: blob, fileName: "语音 1.ogg", fileType: "opus", durationMs: 1234.4 }),
    );
    expect([...file.keys()]).toEqual(["file_type", "file_name", "duration", "file"]);
    expect(file.get("file_type")).toBe("opus");
    expect(file.get("file_name")).toBe("语音 1.ogg");
    expect(file.get("duration")).toBe("1234");
    expect(new Uint8Array(await (file.get("file") as File).arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    const plain = await parsed(uploadForm({ kind: "file", file: blob, fileName: "x", fileType: "stream" }));
    expect(plain.has("duration")).toBe(false);
  });
});

/** Reads a built body back with the platform's own multipart parser, checking the declared length. */
async function parsed(m: MultipartBody): Promise<FormData> {
  const bytes = new Uint8Array(await new Response(m.body).arrayBuffer());
  expect(bytes.byteLength).toBe(m.contentLength);
  return new Response(bytes, { headers: { "content-type": m.contentType } }).formData();
}

const fake = await useFakeFeishu();

describe("markdown render mode through the send port", () => {
  const store = {} as MediaStore; // text sends never touch the media store
  const send = (port: SendPort, req: SendRequest) =>
    port(
      { kind: "create", receiveIdType: "chat_id", receiveId: "oc_rendermode" },
      req,
      `u-${++sends}`,
      "user:1",
    );
  let sends = 0;
  const table = "| a | b |\n|---|---|\n| 1 | 2 |";

  test("the relay's FEISHU_RENDER_MODE applies when the send does not say; the send's own mode wins", async () => {
    const { sender } = clientStack(fake);
    const port = feishuSendPort({ sender, uploader: {} as Feishu["uploader"] }, store, "post");
    await send(port, { msgType: "markdown", text: table });
    await send(port, { msgType: "markdown", text: table, renderMode: "card" });
    expect(fake.sent.map((m) => m.msgType)).toEqual(["post", "interactive"]);
  });

  test("without a configured mode, auto: a table makes a card, plain prose a post", async () => {
    const { sender } = clientStack(fake);
    const port = feishuSendPort({ sender, uploader: {} as Feishu["uploader"] }, store);
    await send(port, { msgType: "markdown", text: table });
    await send(port, { msgType: "markdown", text: "just words" });
    expect(fake.sent.map((m) => m.msgType)).toEqual(["interactive", "post"]);
  });
});

describe("media sends whose bytes are not on this node", () => {
  const record = {
    id: "med_x",
    userId: 1,
    size: 3,
    mime: "image/png",
    name: null,
    sha256: "",
    createdAt: 0,
    expiresAt: 1,
  };
  const storeWith = (shared: boolean) => ({
    shared,
    byId: async (id: string) => (id === record.id ? record : undefined),
    path: (id: string) => `/nonexistent/relay-media/${id}`,
  });
  const attempt = (shared: boolean) =>
    feishuSendPort({ sender: {} as Feishu["sender"], uploader: {} as Feishu["uploader"] }, storeWith(shared))(
      { kind: "create", receiveIdType: "open_id", receiveId: "ou_x" },
      { msgType: "image", mediaId: "med_x" },
      "u1:x",
      "user:1",
      { key: undefined, record: async () => {} },
    ).catch((e: unknown) => e as { code: string; retryable: boolean });

  test("one node: the file is gone for good (media_not_found, final)", async () => {
    expect(await attempt(false)).toMatchObject({ code: "media_not_found", retryable: false });
  });

  test("a cluster: the file may be on the node that took the upload (media_unavailable, retried)", async () => {
    expect(await attempt(true)).toMatchObject({ code: "media_unavailable", retryable: true });
  });
});
