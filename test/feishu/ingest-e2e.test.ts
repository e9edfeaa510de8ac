/**
 * End to end with the real wiring (createRelay): the fake Feishu pushes over HTTP and over the long
 * connection, the relay learns the bot's identity and sends notices through its own Feishu client,
 * and a plugin connected to /openclaw receives what was stored.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";
import { connect, type TestClient } from "../relay/ws-client.ts";
import { sqlGet } from "../storage/sql.ts";

const ALICE = "ou_a11ce000000000000000000000000a11";
const KEY = "e2e-encrypt-key";

let fake: FakeFeishu;
let relay: Awaited<ReturnType<typeof gatewayRelay>> | undefined;
let plugin: TestClient | undefined;
beforeAll(async () => {
  fake = await startFakeFeishu({ ws: { ReconnectNonce: 0.05, ReconnectInterval: 0.1 } });
});
afterAll(() => fake.stop());
afterEach(async () => {
  plugin?.close();
  plugin = undefined;
  await relay?.close();
  relay = undefined;
  fake.reset();
});

function start(mode: "webhook" | "both" = "webhook") {
  return gatewayRelay({
    FEISHU_APP_ID: fake.appId,
    FEISHU_APP_SECRET: fake.appSecret,
    FEISHU_DOMAIN: fake.url,
    FEISHU_ENCRYPT_KEY: KEY,
    FEISHU_VERIFICATION_TOKEN: fake.verificationToken,
    FEISHU_EVENT_MODE: mode,
    PUBLIC_URL: "https://relay.example",
  });
}

describe("ingest end to end", () => {
  test("an encrypted group @-mention reaches the owner's plugin as a message frame", async () => {
    relay = await start();
    const { user, token } = await relay.user(ALICE, "Alice");
    plugin = connect(relay.url, { token });
    await plugin.next((f) => f.type === "hello");
    const pushed = await fake.pushEvent(
      `${relay.http}/api/feishu/webhook`,
      {
        senderOpenId: ALICE,
        chatType: "group",
        text: "@_user_1 what's on today?",
        mentions: [fake.botMention()],
      },
      { encryptKey: KEY },
    );
    expect(pushed.status).toBe(200);
    const frame = await plugin.next((f) => f.type === "message");
    expect(frame).toMatchObject({
      seq: 1,
      chatType: "group",
      mentionedBot: true,
      text: "what's on today?",
      sender: { openId: ALICE, name: "Alice" },
    });
    expect(await relay.ctx.inbox.pendingCount(user.id)).toBe(1);
    expect(fake.calls.some((c) => c.path === "/open-apis/bot/v3/info")).toBe(true);
  });

  test("an unknown sender gets the sign-in link as a reply, through the relay's Feishu client", async () => {
    relay = await start();
    const envelope = fake.messageEvent({ senderOpenId: "ou_n3wc0mer", text: "hi bot" });
    const pushed = await fake.pushEvent(`${relay.http}/api/feishu/webhook`, envelope, { encryptKey: KEY });
    expect(pushed.status).toBe(200);
    const reply = await fake.waitForSent((m) => m.kind === "reply");
    expect(reply.replyTo).toBe((envelope.event.message as { message_id: string }).message_id);
    expect(reply.text).toContain("https://relay.example/login");
    const stored = (await sqlGet<{ n: number }>(
      relay.ctx.storage,
      "SELECT CAST(count(*) AS INTEGER) AS n FROM inbox",
    ))!.n;
    expect(stored).toBe(0);
  });

  test("both modes: an event over the long connection and its webhook copy are stored once", async () => {
    const since = Date.now();
    relay = await start("both");
    await fake.wsWaitForReady(1, 3000, since);
    const { user } = await relay.user(ALICE);
    const envelope = fake.messageEvent({ senderOpenId: ALICE, text: "twice" });
    expect((await fake.wsPushEvent(envelope)).code).toBe(200);
    const viaWebhook = await fake.pushEvent(`${relay.http}/api/feishu/webhook`, envelope, {
      encryptKey: KEY,
    });
    expect(viaWebhook.status).toBe(200);
    expect((await relay.ctx.inbox.pending(user.id)).map((s) => s.message.text)).toEqual(["twice"]);
    // Alice's plugin is offline: she is told once that the message waits for it.
    const notice = await fake.waitForSent((m) => m.kind === "reply");
    expect(notice.replyTo).toBe((envelope.event.message as { message_id: string }).message_id);
    expect(notice.text).toContain("offline");
  });
});
