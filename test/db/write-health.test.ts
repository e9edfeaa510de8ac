import { describe, expect, test } from "bun:test";
import { WRITE_FAILURE_WINDOW_MS, WriteHealth } from "../../src/db/write-health.ts";

describe("write health", () => {
  test("failing while the latest write failed within the window; a success or the window's end clears it", () => {
    let now = 1_000;
    const h = new WriteHealth(() => now);
    expect(h.status()).toBe("ok"); // nothing written yet
    h.failed();
    expect(h.status()).toBe("failing");
    now += 10;
    h.succeeded();
    expect(h.status()).toBe("ok");
    now += 10;
    h.failed();
    now += WRITE_FAILURE_WINDOW_MS - 1;
    expect(h.status()).toBe("failing");
    now += 1;
    expect(h.status()).toBe("ok");
  });
});
