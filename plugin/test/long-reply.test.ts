/**
 * A reply too long for one `send` frame, through the real gateway against an in-test relay: only
 * the first frame quotes the user's message; later frames go to the chat, or stay replies in a
 * thread so the answer stays in the topic.
 */
import { describe, expect, test } from "bun:test";
import { createFeishuRelayPlugin } from "../src/channel.ts";
import { resolveAccount } from "../src/config.ts";
import { FakeRelay, greetWith, messageFrame } from "./helpers/fake-relay.ts";
import { FAST_CLIENT, runAccount, stopsAfterEach } from "./helpers/gateway-cleanup.ts";
import { gatewayContext, stubRuntime } from "./helpers/stub-runtime.ts";

let relay: FakeRelay | undefined;
const stops = stopsAfterEach(() => {
  relay?.stop();
  relay = undefined;
});

/** The stub agent echoes the message: a long message makes a long reply. */
async function framesFor(overrides: Parameters<typeof messageFrame>[1]) {
  const text = Array.from({ length: 3 }, (_, i) => `${"段落".repeat(9000)}${i}`).join("\n\n");
  relay = new FakeRelay({ onOpen: greetWith(messageFrame(1, { text, ...overrides })) });
  const cfg = { channels: { "feishu-relay": { relayUrl: relay.url, token: "tok.x" } } };
  const stub = stubRuntime("classic");
  const gw = gatewayContext(cfg, resolveAccount(cfg), stub.rt);
  const plugin = createFeishuRelayPlugin({ client: FAST_CLIENT });
  runAccount(plugin, gw, stops);
  await relay.waitFor(() => relay!.framesOf("ack")[0], 3000, "ack");
  return relay.framesOf("send");
}

describe("long replies", () => {
  test("in a group: the first frame replies, the rest are messages in the chat", async () => {
    const sends = await framesFor({ chatType: "group", chatId: "oc_group", mentionedBot: true });
    expect(sends.length).toBeGreaterThan(1);
    expect(sends[0]).toMatchObject({ replyTo: "om_msg1" });
    for (const s of sends.slice(1)) {
      expect(s.replyTo).toBeUndefined();
      expect(s.to).toBe("chat:oc_group");
    }
  });

  test("in a thread: every frame replies, so the answer stays in the topic", async () => {
    const sends = await framesFor({
      chatType: "group",
      chatId: "oc_group",
      mentionedBot: true,
      threadId: "omt_1",
    });
    expect(sends.length).toBeGreaterThan(1);
    for (const s of sends) expect(s).toMatchObject({ replyTo: "om_msg1" });
  });
});
