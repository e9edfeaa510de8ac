import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { multipartBody } from "../../src/feishu/multipart.ts";
import { tempDir } from "../helpers.ts";

describe("multipart body", () => {
  test("fields, then the file; byte-exact with a fixed boundary", async () => {
    const m = multipartBody([["a", "1"]], { field: "f", fileName: 'x"y.txt', blob: new Blob(["hi"]) }, "B");
    const text = await new Response(m.body).text();
    expect(text).toBe(
      '--B\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n' +
        '--B\r\nContent-Disposition: form-data; name="f"; filename="x%22y.txt"\r\n' +
        "Content-Type: application/octet-stream\r\n\r\nhi\r\n--B--\r\n",
    );
    expect(m.contentType).toBe("multipart/form-data; boundary=B");
    expect(m.contentLength).toBe(new TextEncoder().encode(text).byteLength);
  });

  test("a file on disk is read lazily, in chunks, and round-trips exactly", async () => {
    const tmp = tempDir();
    const path = join(tmp.dir, "big.bin");
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    await Bun.write(path, data);
    const m = multipartBody([["file_type", "stream"]], {
      field: "file",
      fileName: "big.bin",
      blob: Bun.file(path),
    });
    let chunks = 0;
    const reader = m.body.getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks++;
      parts.push(value);
    }
    expect(chunks).toBeGreaterThan(3);
    const form = await new Response(Buffer.concat(parts), {
      headers: { "content-type": m.contentType },
    }).formData();
    expect(new Uint8Array(await (form.get("file") as File).arrayBuffer())).toEqual(data);
    tmp.cleanup();
  });
});
