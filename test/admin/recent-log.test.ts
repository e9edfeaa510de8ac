import { describe, expect, test } from "bun:test";
import { RecentLog } from "../../src/admin/recent-log.ts";
import { Logger } from "../../src/ops/logger.ts";
import { testRelay } from "../helpers.ts";

describe("recent errors", () => {
  test("keeps warn and error lines of the logger and its children, newest first, redacted", () => {
    const log = new Logger("debug", () => {});
    const recent = RecentLog.tapping(log);
    const child = log.child({ module: "feishu" });
    log.info("relay_listening");
    child.warn("feishu_send_failed", { code: 230002, token: "t-secret" });
    log.error("http_error", { err: new Error("boom") });
    expect(recent.list().map((e) => [e.level, e.event])).toEqual([
      ["error", "http_error"],
      ["warn", "feishu_send_failed"],
    ]);
    expect(recent.list()[1]!.fields).toEqual({ module: "feishu", code: 230002, token: "[redacted]" });
    expect(JSON.stringify(recent.list())).not.toContain("t-secret");
  });

  test("is bounded: only the newest entries are kept", () => {
    const ring = new RecentLog(3);
    for (let i = 0; i < 5; i++) ring.add({ time: String(i), level: "warn", event: `e${i}` });
    expect(ring.list().map((e) => e.event)).toEqual(["e4", "e3", "e2"]);
  });

  test("the relay builds one ring, fed by its logger and every module's child", async () => {
    const t = await testRelay();
    try {
      const { ctx } = t.relay;
      ctx.log.child({ module: "feishu" }).warn("feishu_send_failed");
      ctx.log.warn("once");
      expect(
        ctx.recentLog
          .list()
          .slice(0, 2)
          .map((e) => e.event),
      ).toEqual(["once", "feishu_send_failed"]);
    } finally {
      await t.close();
    }
  });
});
