import { describe, expect, test } from "bun:test";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { request, testRelay } from "../helpers.ts";

const fake = await useFakeFeishu();

const health = async (relay: Awaited<ReturnType<typeof testRelay>>["relay"]) =>
  (await (await relay.app.handle(request("/health"))).json()) as { feishu: string; status: string };

describe("createFeishu wiring", () => {
  test("without an app id there is no Feishu side and /health says unconfigured", async () => {
    const t = await testRelay();
    try {
      expect(t.relay.ctx.feishu).toBeUndefined();
      expect((await health(t.relay)).feishu).toBe("unconfigured");
    } finally {
      await t.close();
    }
  });

  test("a configured relay sends through the fake and reports feishu ok", async () => {
    const t = await testRelay({
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
      FEISHU_DOMAIN: fake.url,
    });
    try {
      const feishu = t.relay.ctx.feishu!;
      const ids = await feishu.sender.send({ receiveIdType: "open_id", receiveId: "ou_wired", text: "hi" });
      expect(ids).toEqual([fake.sent[0]!.messageId]);
      expect((await feishu.directory.bot()).openId).toBe(fake.botOpenId);
      expect((await health(t.relay)).feishu).toBe("ok");
      const metrics = await (await t.relay.app.handle(request("/metrics"))).text();
      expect(metrics).toContain('feishu_token_fetches_total{outcome="ok"} 1');
      expect(metrics).toContain('feishu_sends_total{code="0",outcome="ok"} 1');
      expect(metrics).toContain('feishu_request_duration_seconds_count{api="im.message.create"} 1');
    } finally {
      await t.close();
    }
  });

  test("a wrong app secret turns /health to failing and never reaches the logs", async () => {
    const t = await testRelay({
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: "not-the-secret",
      FEISHU_DOMAIN: fake.url,
    });
    try {
      const err = await t.relay.ctx
        .feishu!.sender.send({ receiveIdType: "open_id", receiveId: "ou_wired", text: "hi" })
        .catch((e) => e);
      expect(err).toMatchObject({ kind: "auth", retryable: false });
      const h = await health(t.relay);
      expect(h).toMatchObject({ feishu: "failing", status: "degraded" });
      expect(t.lines.join("\n")).not.toContain("not-the-secret");
      expect(fake.tokenFetches).toBe(1);
    } finally {
      await t.close();
    }
  });
});
