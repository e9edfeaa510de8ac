import { describe, expect, test } from "bun:test";
import { asFailure, rateLimitedRetryMs, retryDelayMs } from "../../src/relay/outbox-policy.ts";

describe("outbox retry policy", () => {
  test("back-off doubles from 1 s per failed attempt and caps at 60 s", () => {
    const top = () => 1;
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map((a) => retryDelayMs(a, undefined, top))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000,
    ]);
  });

  test("jitter takes off at most half", () => {
    expect(retryDelayMs(3, undefined, () => 0)).toBe(4000);
    expect(retryDelayMs(3, undefined, () => 0.5)).toBe(6000);
  });

  test("never sooner than Feishu asked (Retry-After), never later than the back-off when it asked less", () => {
    expect(retryDelayMs(0, 30_000, () => 1)).toBe(30_000);
    expect(retryDelayMs(4, 500, () => 1)).toBe(16_000);
  });

  test("rate_limited suggests a second while sends move, the next retry during an outage, at most 60 s", () => {
    expect(rateLimitedRetryMs(undefined, 5000)).toBe(1000);
    expect(rateLimitedRetryMs(4000, 5000)).toBe(1000);
    expect(rateLimitedRetryMs(12_000, 5000)).toBe(7000);
    expect(rateLimitedRetryMs(500_000, 5000)).toBe(60_000);
  });

  test("a Feishu error keeps its code (numeric codes prefixed), anything else is a transient send_failed", () => {
    expect(asFailure({ code: 230002, message: "bot not in chat", retryable: false })).toEqual({
      code: "feishu_230002",
      message: "bot not in chat",
      retryable: false,
      retryAfterMs: undefined,
    });
    expect(
      asFailure({ code: 99991400, message: "slow down", retryable: true, retryAfterMs: 3000 }),
    ).toMatchObject({ code: "feishu_99991400", retryAfterMs: 3000 });
    expect(asFailure(new TypeError("fetch failed"))).toEqual({
      code: "send_failed",
      message: "fetch failed",
      retryable: true,
    });
  });
});
