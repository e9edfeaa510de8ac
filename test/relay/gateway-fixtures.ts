/** A listening relay with users and tokens, and a helper to store inbound messages for them. */
import { afterAll } from "bun:test";
import type { Raw } from "../../src/config/definition.ts";
import type { InboundMessage } from "../../src/relay/protocol.ts";
import type { RelayDeps } from "../../src/server.ts";
import { startFakeFeishu } from "../fakes/feishu.ts";
import { testRelay } from "../helpers.ts";

let counter = 0;

export async function gatewayRelay(raw: Raw = {}, deps: RelayDeps = {}) {
  const t = await testRelay(raw, deps);
  const port = await t.relay.listen();
  const ctx = t.relay.ctx;
  return {
    ...t,
    ctx,
    url: `ws://127.0.0.1:${port}/openclaw`,
    http: `http://127.0.0.1:${port}`,
    async user(openId: string, name = openId) {
      const { user } = await ctx.users.upsert({ openId, name });
      const { token } = await ctx.tokens.issue(user);
      return { user, token };
    },
    /** Stores a message for the user as ingest would; resolves with its seq. */
    async store(userId: number, over: Partial<InboundMessage> & { senderOpenId?: string } = {}) {
      counter++;
      const message: InboundMessage = {
        messageId: `om_test_${counter}_${Math.random().toString(36).slice(2, 8)}`,
        chatId: "oc_p2p_test",
        chatType: "p2p",
        sender: { openId: over.senderOpenId ?? "ou_sender" },
        mentionedBot: false,
        msgType: "text",
        text: `hello ${counter}`,
        content: { text: `hello ${counter}` },
        mentions: [],
        createTime: Date.now(),
        ...over,
      };
      const r = await ctx.inbox.accept({ userId, eventId: `ev_${message.messageId}`, message });
      if (r.status !== "stored") throw new Error("not stored");
      return { seq: r.seq, message };
    },
  };
}

/** A fake Feishu and a relay that talks to it, both stopped after the file's tests. */
export async function relayWithFeishu(raw: Raw = {}) {
  const fake = await startFakeFeishu();
  const r = await gatewayRelay({
    FEISHU_APP_ID: fake.appId,
    FEISHU_APP_SECRET: fake.appSecret,
    FEISHU_DOMAIN: fake.url,
    ...raw,
  });
  afterAll(async () => {
    await r.close();
    await fake.stop();
  });
  return { fake, r };
}
