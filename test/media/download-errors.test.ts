import { describe, expect, test } from "bun:test";
import { FeishuApiError, type FeishuErrorInit } from "../../src/feishu/api-error.ts";
import { downloadError } from "../../src/media/download-errors.ts";

const err = (over: Partial<FeishuErrorInit>) =>
  new FeishuApiError({ kind: "api", code: 0, msg: "m", status: 400, retryable: false, ...over });
const mapped = (e: unknown) => {
  const h = downloadError(e);
  return { status: h.status, code: h.code, retryAfter: h.headers["retry-after"] as string | undefined };
};

describe("downloadError", () => {
  test("gone: deleted or recalled message, key not in message, unsupported message → 410", () => {
    for (const code of [230110, 230011, 234003, 234043]) {
      expect(mapped(err({ code }))).toEqual({ status: 410, code: "media_gone", retryAfter: undefined });
    }
  });

  test("rate limits → 429 with Retry-After in whole seconds (at least 1)", () => {
    expect(mapped(err({ code: 99991400, status: 429, retryAfterMs: 7000 }))).toEqual({
      status: 429,
      code: "rate_limited",
      retryAfter: "7",
    });
    expect(mapped(err({ code: 99991400, status: 400, retryAfterMs: 10 })).retryAfter).toBe("1");
    expect(mapped(err({ kind: "http", code: "feishu_http_429", status: 429 })).retryAfter).toBe("1");
  });

  test("234037 (over 100 MB) → 413", () => {
    expect(mapped(err({ code: 234037 }))).toMatchObject({ status: 413, code: "media_too_large" });
  });

  test("5xx, network, timeout and unknown failures → 502 feishu_unavailable", () => {
    expect(mapped(err({ code: 2200, status: 500 })).code).toBe("feishu_unavailable");
    expect(mapped(err({ kind: "http", code: "feishu_http_502", status: 502 })).code).toBe(
      "feishu_unavailable",
    );
    expect(mapped(err({ kind: "network", code: "feishu_network_error", status: 0 })).code).toBe(
      "feishu_unavailable",
    );
    expect(mapped(err({ kind: "timeout", code: "feishu_timeout", status: 0 })).code).toBe(
      "feishu_unavailable",
    );
    expect(mapped(new Error("boom"))).toMatchObject({ status: 502, code: "feishu_unavailable" });
  });

  test("other refusals → 502 feishu_<code>", () => {
    expect(mapped(err({ code: 234004 }))).toMatchObject({ status: 502, code: "feishu_234004" });
    expect(mapped(err({ code: 99991663, status: 400 }))).toMatchObject({
      status: 502,
      code: "feishu_99991663",
    });
    expect(mapped(err({ kind: "http", code: "feishu_http_404", status: 404 })).code).toBe("feishu_http_404");
  });
});
