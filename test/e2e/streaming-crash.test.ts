/**
 * Crash safety of streaming (M2-3): a relay killed with -9 mid-stream leaves the card "generating";
 * the next process closes it at start-up with the text it last showed.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startFakeFeishu } from "../fakes/feishu.ts";
import { tempDir } from "../helpers.ts";
import { connect, isType } from "../relay/ws-client.ts";
import { createUser, startRelayProcess } from "./relay-process.ts";

const ADMIN = "stream-crash-admin-token-0123";
const fake = await startFakeFeishu();
const tmp = tempDir();
afterAll(async () => {
  await fake.stop();
  tmp.cleanup();
});

describe("streaming crash safety", () => {
  test("after kill -9 mid-stream the restarted relay closes the card with its last shown text", async () => {
    const env = {
      DATABASE_PATH: join(tmp.dir, "stream-crash.db"),
      ADMIN_TOKEN: ADMIN,
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
      FEISHU_DOMAIN: fake.url,
    };
    const first = await startRelayProcess(env);
    const token = await createUser(first.base, ADMIN, "ou_stream_crash", "Crash");
    const pushed = await fake.pushEvent(
      `${first.base}/api/feishu/webhook`,
      fake.messageEvent({ senderOpenId: "ou_stream_crash", text: "tell me a story" }),
    );
    expect(pushed.status).toBe(200);
    const c = connect(first.ws, { token });
    const message = await c.next(isType("message"));
    const replyTo = message.messageId as string;
    for (let i = 1; i <= 20; i++) {
      c.send({
        type: "draft",
        id: `d${i}`,
        replyTo,
        streamId: `${replyTo}:0`,
        text: `chapter ${i}. `.repeat(i),
      });
      await Bun.sleep(30);
    }
    await fake.cardkit.ops.waitFor((o) => o.op === "content" && o.code === 0, 3000, "a card update");
    expect(await first.stop("SIGKILL")).not.toBe(0);
    const card = [...fake.cardkit.cards.values()][0]!;
    expect(card.streaming).toBe(true);
    const shown = card.elements.content;

    const second = await startRelayProcess(env);
    try {
      const close = await fake.cardkit.ops.waitFor((o) => o.op === "settings", 5000, "the start-up close");
      expect(close.code).toBe(0);
      expect(card.streaming).toBe(false);
      expect(card.elements.content).toBe(shown);
      // The chat-list preview shows the answer's start, not "[生成中…]".
      expect(shown.startsWith(card.summary!.replace(/…$/, ""))).toBe(true);
      // The plugin's late final still replaces the card's content.
      const c2 = connect(second.ws, { token });
      await c2.next(isType("hello"));
      c2.send({
        type: "send",
        id: "f",
        replyTo,
        msgType: "markdown",
        text: "The End",
        streamId: `${replyTo}:0`,
      });
      const sent = await c2.next((f) => f.id === "f");
      expect(sent).toMatchObject({ type: "sent", messageId: card.messageId });
      expect(card.elements.content).toBe("The End");
      c2.close();
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 30_000);
});
