import { describe, expect, test } from "bun:test";
import { clientIp, clientIpOf, RateLimiter } from "../../src/ops/rate-limit.ts";

describe("RateLimiter", () => {
  test("allows `limit` events per sliding window, then tells how long to wait", () => {
    let now = 1_000_000;
    const rl = new RateLimiter(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(rl.retryAfter("a")).toBe(0);
      rl.hit("a");
      now += 10_000;
    }
    // Oldest event was 30 s ago: it leaves the window in 30 s.
    expect(rl.retryAfter("a")).toBe(30);
    expect(rl.retryAfter("b")).toBe(0);
    now += 30_000;
    expect(rl.retryAfter("a")).toBe(0);
    expect(() => rl.assertAllowed("a")).not.toThrow();
  });

  test("take counts attempts and refuses over the limit", () => {
    let now = 0;
    const rl = new RateLimiter(2, 1000, () => now);
    expect(rl.take("k")).toBe(0);
    expect(rl.take("k")).toBe(0);
    expect(rl.take("k")).toBe(1);
    now += 1001;
    expect(rl.take("k")).toBe(0);
  });

  test("memory stays bounded under a flood of distinct clients", () => {
    const now = 0;
    const rl = new RateLimiter(5, 60_000, () => now, 100);
    for (let i = 0; i < 10_000; i++) rl.hit(`10.0.${i >> 8}.${i & 255}`);
    expect(rl.size).toBeLessThanOrEqual(100);
  });

  test("assertAllowed throws 429 rate_limited with Retry-After", () => {
    const rl = new RateLimiter(1, 60_000, () => 0);
    rl.hit("x");
    try {
      rl.assertAllowed("x");
      throw new Error("expected a throw");
    } catch (e) {
      const err = e as { status: number; code: string; headers: Record<string, string> };
      expect(err.status).toBe(429);
      expect(err.code).toBe("rate_limited");
      expect(err.headers["retry-after"]).toBe("60");
    }
  });
});

describe("clientIp", () => {
  const server = (address: string) => ({ requestIP: () => ({ address }) });
  const request = (xff?: string) =>
    new Request("http://localhost/", { headers: xff ? { "x-forwarded-for": xff } : {} });

  test("uses the TCP peer; X-Forwarded-For only from a loopback proxy, rightmost entry", () => {
    expect(clientIp(request("6.6.6.6"), server("203.0.113.9"))).toBe("203.0.113.9");
    expect(clientIp(request("6.6.6.6, 198.51.100.7"), server("127.0.0.1"))).toBe("198.51.100.7");
    expect(clientIp(request(), server("::1"))).toBe("::1");
    expect(clientIp(request("6.6.6.6"), null)).toBe("unknown");
  });
});

describe("clientIpOf (the rule shared by HTTP and the plugin WebSocket)", () => {
  test("a loopback peer's X-Forwarded-For counts (rightmost entry); anyone else's is ignored", () => {
    expect(clientIpOf("127.0.0.1", "6.6.6.6, 198.51.100.7")).toBe("198.51.100.7");
    expect(clientIpOf("::ffff:127.0.0.1", " 198.51.100.8 ")).toBe("198.51.100.8");
    expect(clientIpOf("::1", "")).toBe("::1");
    expect(clientIpOf("203.0.113.9", "6.6.6.6")).toBe("203.0.113.9");
    expect(clientIpOf(undefined, "6.6.6.6")).toBe("unknown");
    expect(clientIpOf("", null)).toBe("unknown");
  });
});
