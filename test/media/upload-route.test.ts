import { afterAll, describe, expect, test } from "bun:test";
import { fileName } from "../../src/media/upload-route.ts";
import { streamsOwnBody } from "../../src/ops/body.ts";
import { HttpError } from "../../src/ops/errors.ts";
import { request, testRelay } from "../helpers.ts";

const t = await testRelay({ MEDIA_MAX_BYTES: "4MiB" });
afterAll(() => t.close());

describe("PUT /api/media route", () => {
  test("only PUT /api/media streams its own body", () => {
    const req = (method: string, url: string) => new Request(url, { method });
    expect(streamsOwnBody(req("PUT", "http://localhost/api/media"))).toBe(true);
    expect(streamsOwnBody(req("PUT", "http://127.0.0.1:9/api/media?x=1"))).toBe(true);
    expect(streamsOwnBody(req("POST", "http://localhost/api/media"))).toBe(false);
    expect(streamsOwnBody(req("PUT", "http://localhost/api/media/x"))).toBe(false);
    expect(streamsOwnBody(req("PUT", "http://localhost/api/messages"))).toBe(false);
  });

  test("X-File-Name is percent-decoded UTF-8; path parts and control characters are dropped", () => {
    expect(fileName(null)).toBeUndefined();
    expect(fileName("  ")).toBeUndefined();
    expect(fileName(encodeURIComponent("报告 v2.pdf"))).toBe("报告 v2.pdf");
    expect(fileName(encodeURIComponent("../../etc/passwd"))).toBe("passwd");
    expect(fileName(encodeURIComponent("C:\\tmp\\a\u0000b.txt"))).toBe("ab.txt");
    expect(fileName("x".repeat(300))).toHaveLength(255);
    for (const bad of ["%E0%A4%A", "%", encodeURIComponent("dir/"), ".."])
      expect(() => fileName(bad)).toThrow(HttpError);
  });

  test("over app.handle: a 3 MiB upload passes the 1 MiB cap of other routes and is stored", async () => {
    const { user } = await t.relay.ctx.users.upsert({ openId: "ou_route", name: "Route" });
    const { token } = await t.relay.ctx.tokens.issue(user);
    const body = new Uint8Array(3 * 1024 * 1024).fill(9);
    const res = await t.relay.app.handle(
      request("/api/media", {
        method: "PUT",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/pdf",
          "content-length": String(body.byteLength),
        },
        body,
      }),
    );
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ size: body.byteLength, mime: "application/pdf" });
    const tooBig = await t.relay.app.handle(
      request("/api/messages", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-length": String(body.byteLength) },
        json: { text: "x".repeat(3 * 1024 * 1024) },
      }),
    );
    expect(tooBig.status).toBe(413);
  });
});
