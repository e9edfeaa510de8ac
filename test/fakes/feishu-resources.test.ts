/** The fake's message-resource API behaves as reference §11.1 says, and its control API drives it. */
import { describe, expect, test } from "bun:test";
import { tenantToken, useFakeFeishu } from "./use-fake-feishu.ts";

const fake = await useFakeFeishu();

const token = () => tenantToken(fake);

function download(messageId: string, fileKey: string, type: string | null, auth?: string) {
  const query = type === null ? "" : `?type=${type}`;
  return fetch(`${fake.url}/open-apis/im/v1/messages/${messageId}/resources/${fileKey}${query}`, {
    headers: auth ? { authorization: `Bearer ${auth}` } : {},
  });
}

const codeOf = async (res: Response) => ((await res.json()) as { code: number }).code;

describe("fake message-resource API", () => {
  test("serves registered bytes with Content-Type, Content-Length and Content-Disposition", async () => {
    fake.addResource({
      messageId: "om_f1",
      fileKey: "file_1",
      type: "file",
      bytes: "abc",
      mime: "application/pdf",
      fileName: "报告.pdf",
    });
    const res = await download("om_f1", "file_1", "file", await token());
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/pdf");
    expect(res.headers.get("content-length")).toBe("3");
    expect(res.headers.get("content-disposition")).toBe(
      `attachment; filename*=UTF-8''${encodeURIComponent("报告.pdf")}`,
    );
    expect(await res.text()).toBe("abc");
    // type=media is accepted for what type=file serves.
    expect((await download("om_f1", "file_1", "media", await token())).status).toBe(200);
  });

  test("needs a valid tenant token and a type; other keys, deleted and unsupported messages are refused", async () => {
    fake.addResource({ messageId: "om_f2", fileKey: "img_1", type: "image", bytes: "x" });
    const t = await token();
    expect(await codeOf(await download("om_f2", "img_1", "image"))).toBe(99991661);
    expect(await codeOf(await download("om_f2", "img_1", "image", "bogus"))).toBe(99991663);
    expect(await codeOf(await download("om_f2", "img_1", null, t))).toBe(234001);
    expect(await codeOf(await download("om_f2", "img_1", "file", t))).toBe(234003);
    expect(await codeOf(await download("om_other", "img_1", "image", t))).toBe(234003);
    fake.resources.deleted.add("om_f2");
    expect(await codeOf(await download("om_f2", "img_1", "image", t))).toBe(230110);
    fake.resources.unsupported.add("om_f3");
    expect(await codeOf(await download("om_f3", "img_1", "image", t))).toBe(234043);
    expect(fake.calls.filter((c) => c.path.includes("/resources/")).map((c) => c.code)).toEqual([
      99991661, 99991663, 234001, 234003, 234003, 230110, 234043,
    ]);
  });

  test("streams without Content-Length when asked; long videos are 502 under file, 200 under media", async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    fake.addResource({
      messageId: "om_f4",
      fileKey: "v",
      type: "file",
      bytes,
      noContentLength: true,
      mediaOnly: true,
    });
    const t = await token();
    expect((await download("om_f4", "v", "file", t)).status).toBe(502);
    const res = await download("om_f4", "v", "media", t);
    expect(res.headers.get("content-length")).toBeNull();
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
  });

  test("faults: the next answers are a rate limit with its headers, then a 5xx, then normal", async () => {
    fake.addResource({ messageId: "om_f5", fileKey: "k", type: "image", bytes: "ok" });
    fake.failResourcesNext(1, { kind: "rate_limit", resetSec: 4 });
    fake.failResourcesNext(1, { kind: "server_error", status: 503 });
    const t = await token();
    const limited = await download("om_f5", "k", "image", t);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("x-ogw-ratelimit-reset")).toBe("4");
    expect(await codeOf(limited)).toBe(99991400);
    expect((await download("om_f5", "k", "image", t)).status).toBe(503);
    expect(await (await download("om_f5", "k", "image", t)).text()).toBe("ok");
    expect(fake.rateLimited).toBe(1);
  });

  test("the control API registers resources and faults, and lists the calls", async () => {
    const control = (name: string, body: unknown) =>
      fetch(`${fake.url}/_fake/${name}`, { method: "POST", body: JSON.stringify(body) });
    await control("resources", {
      messageId: "om_f6",
      fileKey: "k",
      type: "image",
      mime: "image/png",
      bytesBase64: Buffer.from("png!").toString("base64"),
    });
    await control("resources-fail", { n: 1, failure: { kind: "http502" } });
    const t = await token();
    expect((await download("om_f6", "k", "image", t)).status).toBe(502);
    expect(await (await download("om_f6", "k", "image", t)).text()).toBe("png!");
    const calls = (await (await fetch(`${fake.url}/_fake/resource-calls`)).json()) as Array<{
      status: number;
    }>;
    expect(calls.map((c) => c.status)).toEqual([502, 200]);
  });
});
