/**
 * Tier c, the whole path (M1-6): the fake Feishu pushes a message to the real relay's webhook; the
 * built plugin inside a real OpenClaw 2026.9.6 gateway (Node 24, mock model) answers; the echo lands at
 * the fake Feishu as a reply in the original chat. Then `openclaw message send --channel feishu-relay`
 * reaches the fake Feishu too.
 *
 * Opt-in like the other tier-c suite: OPENCLAW_E2E=1 bun test test/e2e/openclaw.test.ts
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newMarker, startMockModel } from "../../plugin/test/e2e/harness/mock-model.ts";
import { ensureHost, type OpenClawHost, startOpenClaw } from "../../plugin/test/e2e/harness/openclaw-host.ts";
import { Logger } from "../../src/ops/logger.ts";
import { createRelay, type Relay } from "../../src/server.ts";
import { tokensOf } from "../../src/users/tokens.ts";
import { usersOf } from "../../src/users/user-store.ts";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";

const ENABLED = process.env.OPENCLAW_E2E === "1";
const OWNER = "ou_e2e_real_owner";
const TIMEOUT_MS = 180_000;
const skipReason = ENABLED ? await ensureHost() : "set OPENCLAW_E2E=1 to run";

describe.skipIf(Boolean(skipReason))("fake Feishu → relay → real OpenClaw → relay → fake Feishu", () => {
  const marker = newMarker();
  const dir = mkdtempSync(join(tmpdir(), "relay-e2e-"));
  let fake: FakeFeishu;
  let relay: Relay;
  let base: string;
  let model: ReturnType<typeof startMockModel>;
  let host: OpenClawHost | undefined;

  beforeAll(async () => {
    fake = await startFakeFeishu();
    relay = createRelay(
      {
        HOST: "127.0.0.1",
        PORT: "0",
        DATABASE_PATH: join(dir, "relay.db"),
        FEISHU_APP_ID: fake.appId,
        FEISHU_APP_SECRET: fake.appSecret,
        FEISHU_DOMAIN: fake.url,
      },
      { log: new Logger("warn") },
    );
    const port = await relay.listen();
    base = `http://127.0.0.1:${port}`;
    const { user } = usersOf(relay.ctx).upsert({ openId: OWNER, name: "E2E Owner" });
    const { token } = await tokensOf(relay.ctx).issue(user);
    model = startMockModel();
    host = await startOpenClaw({
      relayUrl: `ws://127.0.0.1:${port}/openclaw`,
      token,
      modelUrl: model.url,
      ownerOpenId: OWNER,
    });
  }, 60_000);

  afterAll(async () => {
    if (host && !fake.sent.length)
      console.log(`[openclaw e2e] gateway log tail:\n${host.log().slice(-6000)}`);
    await host?.stop();
    await relay?.stop();
    await fake?.stop();
    model?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test(
    "a Feishu message comes back as the agent's echo, in the same chat",
    async () => {
      const end = Date.now() + 120_000;
      while (!relay.ctx.hub.isConnected(1) && Date.now() < end) await Bun.sleep(200);
      expect(relay.ctx.hub.isConnected(1)).toBe(true);
      const event = fake.messageEvent({ senderOpenId: OWNER, text: marker });
      expect((await fake.pushEvent(`${base}/api/feishu/webhook`, event)).status).toBe(200);
      const reply = await fake.waitForSent((m) => (m.text ?? "").includes(`echo ${marker}`), 120_000);
      expect(reply.kind).toBe("reply");
      expect(reply.replyTo).toBe((event.event as { message: { message_id: string } }).message.message_id);
      expect(reply.chatId).toBe(`oc_p2p_${OWNER}`);
      const end2 = Date.now() + 30_000;
      while (relay.ctx.inbox.pendingCount(1) > 0 && Date.now() < end2) await Bun.sleep(100);
      expect(relay.ctx.inbox.pendingCount(1)).toBe(0);
    },
    TIMEOUT_MS,
  );

  test(
    "`openclaw message send --channel feishu-relay` reaches Feishu",
    async () => {
      const result = await host!.cli(
        [
          "message",
          "send",
          "--channel",
          "feishu-relay",
          "--target",
          `user:${OWNER}`,
          "--message",
          `proactive ${marker}`,
        ],
        120_000,
      );
      if (result.code !== 0) console.log(result.output);
      expect(result.code).toBe(0);
      const sent = await fake.waitForSent((m) => m.text === `proactive ${marker}`, 30_000);
      expect(sent).toMatchObject({ kind: "create", receiveIdType: "open_id", receiveId: OWNER });
    },
    TIMEOUT_MS,
  );
});

if (skipReason) test.skip(`openclaw e2e (real relay): ${skipReason}`, () => {});
