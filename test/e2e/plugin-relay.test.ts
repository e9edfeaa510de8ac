/**
 * Tier b of the plugin tests: the plugin module (stub OpenClaw runtime, echo agent) against the real
 * relay and the fake Feishu. A Feishu event reaches the agent; its reply lands at Feishu in the right
 * chat; the message is acked; `outbound.sendText` reaches Feishu too.
 */
import { describe, expect, test } from "bun:test";
import { createFeishuRelayPlugin } from "../../plugin/src/channel.ts";
import { resolveAccount } from "../../plugin/src/config.ts";
import { gatewayContext, stubRuntime } from "../../plugin/test/helpers/stub-runtime.ts";
import { relayWithFeishu } from "../relay/gateway-fixtures.ts";

const { fake, r } = await relayWithFeishu();
const webhook = `${r.http}/api/feishu/webhook`;

async function startPlugin(token: string) {
  const cfg = { channels: { "feishu-relay": { relayUrl: r.url, token } } };
  const plugin = createFeishuRelayPlugin({ client: { backoff: { initialMs: 10, maxMs: 50, jitter: 0 } } });
  const stub = stubRuntime();
  const gw = gatewayContext(cfg, resolveAccount(cfg), stub.rt);
  const running = plugin.gateway!.startAccount!(gw.ctx as never) as Promise<unknown>;
  const until = async (cond: () => boolean | Promise<boolean>, what: string) => {
    const end = Date.now() + 5000;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await Bun.sleep(10);
    }
  };
  await until(() => gw.status().connected === true, "plugin connected");
  return {
    plugin,
    stub,
    gw,
    cfg,
    until,
    async stop() {
      gw.abort.abort();
      await running;
    },
  };
}

describe("plugin ↔ real relay ↔ fake Feishu", () => {
  test("a group @-mention reaches the agent and the echo lands in that group; the message is acked", async () => {
    const { user, token } = await r.user("ou_tier_b");
    const p = await startPlugin(token);
    const event = fake.messageEvent({
      senderOpenId: "ou_tier_b",
      chatType: "group",
      chatId: "oc_tier_b_group",
      text: "@_user_1 what's up",
      mentions: [fake.botMention()],
    });
    expect((await fake.pushEvent(webhook, event)).status).toBe(200);
    const reply = await fake.waitForSent((m) => m.kind === "reply", 5000);
    expect(reply.chatId).toBe("oc_tier_b_group");
    expect(reply.text).toContain("what's up");
    expect(reply.replyTo).toBe((event.event as { message: { message_id: string } }).message.message_id);
    const ctx = p.stub.dispatched[0]!.ctx;
    expect(ctx).toMatchObject({ MessageSid: reply.replyTo, WasMentioned: true });
    await p.until(async () => (await r.ctx.inbox.pendingCount(user.id)) === 0, "ack");
    await p.stop();
  });

  test("outbound.sendText addresses the owner and reaches Feishu", async () => {
    const { token } = await r.user("ou_tier_b_out");
    const p = await startPlugin(token);
    const result = await p.plugin.outbound!.sendText!({
      cfg: p.cfg,
      to: "user:ou_tier_b_out",
      text: "proactive hello",
      accountId: "default",
    } as never);
    const sent = fake.sent.find((m) => m.text === "proactive hello")!;
    expect(sent).toMatchObject({ receiveIdType: "open_id", receiveId: "ou_tier_b_out" });
    expect((result as { messageId: string }).messageId).toBe(sent.messageId);
    await p.stop();
  });
});
