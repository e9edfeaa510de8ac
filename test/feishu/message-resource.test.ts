/**
 * The message-resource client against the fake Feishu on 127.0.0.1 (real fetch, real tokens), and
 * its app-wide download limiter in virtual time.
 */
import { describe, expect, test } from "bun:test";
import { FeishuApiError } from "../../src/feishu/api-error.ts";
import { DownloadRateLimiter, MessageResourceClient } from "../../src/feishu/message-resource.ts";
import { TenantTokenManager } from "../../src/feishu/tenant-token.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { VirtualTime } from "./virtual-time.ts";

const fake = await useFakeFeishu();

function client(limiter = new DownloadRateLimiter()) {
  const { log, lines } = memoryLogger();
  const tokens = new TenantTokenManager({
    appId: fake.appId,
    appSecret: fake.appSecret,
    baseUrl: fake.url,
    fetch,
    log,
    metrics: new Registry(),
  });
  return { c: new MessageResourceClient({ baseUrl: fake.url, fetch, tokens, limiter, log }), lines };
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e as FeishuApiError,
  );

describe("MessageResourceClient", () => {
  test("streams the body with type, length and the file name of Content-Disposition", async () => {
    fake.addResource({
      messageId: "om_r1",
      fileKey: "file_1",
      type: "file",
      bytes: "hello bytes",
      mime: "text/plain",
      fileName: "你好.txt",
    });
    const { c } = client();
    const r = await c.open({ messageId: "om_r1", fileKey: "file_1", type: "file" });
    expect(r).toMatchObject({
      contentType: "text/plain",
      contentLength: 11,
      fileName: "你好.txt",
      type: "file",
    });
    expect(await new Response(r.body).text()).toBe("hello bytes");
  });

  test("HTTP 502 under type=file is tried once as type=media", async () => {
    fake.addResource({
      messageId: "om_r2",
      fileKey: "file_v",
      type: "file",
      bytes: "video",
      mediaOnly: true,
    });
    const { c, lines } = client();
    const r = await c.open({ messageId: "om_r2", fileKey: "file_v", type: "file" });
    expect(r.type).toBe("media");
    expect(await new Response(r.body).text()).toBe("video");
    expect(fake.resourceCalls.map((x) => `${x.type}:${x.status}`)).toEqual(["file:502", "media:200"]);
    expect(lines.join("\n")).not.toContain("Bearer");
  });

  test("a 502 under type=image is not retried; two 502s under file fail as HTTP errors", async () => {
    fake.addResource({ messageId: "om_r3", fileKey: "img", type: "image", bytes: "x" });
    const { c } = client();
    fake.failResourcesNext(1, { kind: "http502" });
    const e = await failure(c.open({ messageId: "om_r3", fileKey: "img", type: "image" }));
    expect(e).toMatchObject({ kind: "http", status: 502, retryable: true });
    fake.addResource({ messageId: "om_r3", fileKey: "f", type: "file", bytes: "x" });
    fake.failResourcesNext(2, { kind: "http502" });
    expect((await failure(c.open({ messageId: "om_r3", fileKey: "f", type: "file" }))).status).toBe(502);
    expect(fake.resourceCalls.map((x) => x.type)).toEqual(["image", "file", "media"]);
  });

  test("a refused token is dropped and fetched again", async () => {
    fake.addResource({ messageId: "om_r4", fileKey: "k", type: "image", bytes: "ok" });
    const { c } = client();
    await c.open({ messageId: "om_r4", fileKey: "k", type: "image" }).then((r) => r.body.cancel());
    fake.expireAllTokens();
    const r = await c.open({ messageId: "om_r4", fileKey: "k", type: "image" });
    expect(await new Response(r.body).text()).toBe("ok");
    expect(fake.tokenFetches).toBe(2);
  });

  test("Feishu's codes and rate-limit headers come back as FeishuApiError", async () => {
    const { c } = client();
    const notInMessage = await failure(c.open({ messageId: "om_none", fileKey: "k", type: "image" }));
    expect(notInMessage).toMatchObject({ kind: "api", code: 234003, status: 400 });
    fake.failResourcesNext(1, { kind: "rate_limit", resetSec: 3 });
    const limited = await failure(c.open({ messageId: "om_none", fileKey: "k", type: "image" }));
    expect(limited).toMatchObject({ code: 99991400, status: 429, retryAfterMs: 3000 });
  });

  test("an unreachable Feishu is a retryable network error", async () => {
    const { log } = memoryLogger();
    const c = new MessageResourceClient({
      baseUrl: "http://127.0.0.1:9",
      fetch,
      tokens: { get: async () => "t-1", invalidate: () => {} } as never,
      limiter: new DownloadRateLimiter(),
      log,
    });
    const e = await failure(c.open({ messageId: "om_x", fileKey: "k", type: "image" }));
    expect(e).toMatchObject({ kind: "network", status: 0, retryable: true });
  });
});

describe("DownloadRateLimiter", () => {
  test("50 per second go at once; the 51st waits for the window", async () => {
    const vt = new VirtualTime();
    const limiter = new DownloadRateLimiter({ now: vt.now, sleep: vt.sleep, marginMs: 0 });
    for (let i = 0; i < 50; i++) await limiter.acquire();
    expect(vt.sleeps).toEqual([]);
    const start = vt.now();
    await vt.run(limiter.acquire());
    expect(vt.now() - start).toBe(1000);
  });

  test("a turn further away than the wait bound is a 429 with retryAfterMs", async () => {
    const vt = new VirtualTime();
    const limiter = new DownloadRateLimiter({
      perSecond: 2,
      perMinute: 3,
      now: vt.now,
      sleep: vt.sleep,
      marginMs: 0,
    });
    for (let i = 0; i < 3; i++) await vt.run(limiter.acquire());
    const e = (await limiter.acquire(2000).catch((x: unknown) => x)) as FeishuApiError;
    expect(e).toBeInstanceOf(FeishuApiError);
    expect(e).toMatchObject({ status: 429, code: 99991400 });
    expect(e.retryAfterMs).toBeGreaterThan(2000);
  });
});
