import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import * as lark from "@larksuiteoapi/node-sdk";
import { larkDomain, startLongConnection } from "../../src/feishu/long-connection.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { type IngestRelay, ingestRelay } from "./helpers.ts";

const ALICE = "ou_a11ce000000000000000000000000a11";

let fake: FakeFeishu;
let relay: IngestRelay | undefined;
beforeAll(async () => {
  // Short reconnect timings (seconds) so a dropped connection comes back within a few hundred ms.
  fake = await startFakeFeishu({ ws: { ReconnectNonce: 0.05, ReconnectInterval: 0.1 } });
});
afterAll(() => fake.stop());
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  fake.reset();
});

/** A relay in `ws` mode whose server is listening (the long connection starts with it). */
async function wsRelay(ports: Parameters<typeof ingestRelay>[2] = {}) {
  const since = Date.now();
  const r = await ingestRelay(fake, { FEISHU_EVENT_MODE: "ws" }, ports);
  r.listen();
  await fake.wsWaitForReady(1, 3000, since);
  return r;
}

describe("long connection", () => {
  test("an event over the socket is stored before the SDK acks it", async () => {
    relay = await wsRelay();
    const alice = await relay.addUser(ALICE, "Alice");
    const ack = await fake.wsPushEvent({ senderOpenId: ALICE, text: "via ws" });
    expect(ack.code).toBe(200);
    expect((await relay.ctx.inbox.pending(alice))[0].message).toMatchObject({
      text: "via ws",
      sender: { openId: ALICE, name: "Alice" },
    });
    const line = relay.lines.map((l) => JSON.parse(l)).find((l) => l.event === "feishu_event_received");
    expect(line).toMatchObject({ source: "ws", outcome: "stored", userId: alice });
    // The SDK logs whole payloads at debug; it is capped at info, so the text never reaches a log.
    expect(relay.lines.join("\n")).not.toContain("via ws");
    expect(
      relay.ctx.metrics
        .counter("events_received_total", "")
        .get({ source: "ws", type: "im.message.receive_v1" }),
    ).toBe(1);
  });

  test("applies the same rules as the webhook: bots, groups without @bot, other types", async () => {
    relay = await wsRelay();
    await relay.addUser(ALICE);
    const acks = await Promise.all([
      fake.wsPushEvent({ senderOpenId: ALICE, senderType: "app" }),
      fake.wsPushEvent({ senderOpenId: ALICE, chatType: "group", text: "no mention" }),
      fake.wsPushEvent(fake.p2pChatEnteredEvent(ALICE)),
    ]);
    expect(acks.map((a) => a.code)).toEqual([200, 200, 200]);
    expect(await relay.storedCount()).toBe(0);
    const outcomes = relay.lines
      .map((l) => JSON.parse(l))
      .filter((l) => l.event === "feishu_event_received")
      .map((l) => l.outcome)
      .sort();
    expect(outcomes).toEqual(["from_bot", "ignored_type", "not_mentioned"]);
  });

  test("after a reconnect the gateway re-sends the same event: stored once", async () => {
    relay = await wsRelay();
    const alice = await relay.addUser(ALICE);
    const envelope = fake.messageEvent({ senderOpenId: ALICE, text: "re-sent" });
    expect((await fake.wsPushEvent(envelope)).code).toBe(200);
    const since = Date.now();
    fake.wsDropConnections();
    await fake.wsWaitForReady(1, 3000, since);
    const again = await fake.wsPushEvent(envelope);
    expect(again.code).toBe(200);
    expect(await relay.storedCount()).toBe(1);
    expect(await relay.ctx.inbox.pending(alice)).toHaveLength(1);
  });

  test("an event whose ack was lost in a dropped connection is redelivered and stored once", async () => {
    let entered!: () => void;
    const handling = new Promise<void>((r) => {
      entered = r;
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // A group @-mention waits for the bot's identity: the gate holds the first delivery mid-handling.
    relay = await wsRelay({
      bot: {
        openId: async () => {
          entered();
          await gate;
          return fake.botOpenId;
        },
      },
    });
    await relay.addUser(ALICE);
    const envelope = fake.messageEvent({
      senderOpenId: ALICE,
      chatType: "group",
      text: "@_user_1 hold on",
      mentions: [fake.botMention()],
    });
    const acked = fake.wsPushEvent(envelope);
    await handling;
    const since = Date.now();
    fake.wsDropConnections({ abrupt: true });
    await fake.wsWaitForReady(1, 3000, since);
    release();
    const ack = await acked;
    expect(ack.code).toBe(200);
    // Both deliveries are acked (the SDK sends the first ack over the new socket too).
    const same = (a: { frameMessageId: string }) => a.frameMessageId === ack.frameMessageId;
    await fake.ws.acks.waitFor(() => fake.wsAcks.filter(same).length >= 2, 3000, "the second ack");
    expect(fake.wsAcks.filter(same).map((a) => a.code)).toEqual([200, 200]);
    expect(await relay.storedCount()).toBe(1);
    const outcomes = relay.lines
      .map((l) => JSON.parse(l))
      .filter((l) => l.event === "feishu_event_received")
      .map((l) => l.outcome)
      .sort();
    expect(outcomes).toEqual(["duplicate", "stored"]);
  });

  test("a failing store is acked with 500 so Feishu re-pushes", async () => {
    relay = await wsRelay({ bot: { openId: () => Promise.reject(new Error("down")) } });
    await relay.addUser(ALICE);
    const ack = await fake.wsPushEvent({
      senderOpenId: ALICE,
      chatType: "group",
      text: "@_user_1 hi",
      mentions: [fake.botMention()],
    });
    expect(ack.code).toBe(500);
    expect(await relay.storedCount()).toBe(0);
  });
});

describe("configuration", () => {
  test("FEISHU_DOMAIN maps to the SDK's domains or passes a base URL through", () => {
    expect(larkDomain(lark, "feishu")).toBe(lark.Domain.Feishu);
    expect(larkDomain(lark, "lark")).toBe(lark.Domain.Lark);
    expect(larkDomain(lark, "http://127.0.0.1:9000")).toBe("http://127.0.0.1:9000");
  });

  test("not started in webhook mode, without app credentials, or with an app id the SDK refuses", () => {
    const { log, lines } = memoryLogger();
    const deps = (config: Record<string, string | undefined>) => ({
      config: { FEISHU_EVENT_MODE: "ws", FEISHU_DOMAIN: fake.url, ...config } as never,
      log,
      metrics: new Registry(),
      ingest: {} as never,
    });
    expect(
      startLongConnection(deps({ FEISHU_EVENT_MODE: "webhook", FEISHU_APP_ID: fake.appId })),
    ).toBeUndefined();
    expect(startLongConnection(deps({}))).toBeUndefined();
    expect(startLongConnection(deps({ FEISHU_APP_ID: "cli_short", FEISHU_APP_SECRET: "s" }))).toBeUndefined();
    expect(lines.filter((l) => l.includes("feishu_ws_not_started"))).toHaveLength(2);
    expect(fake.ws.endpointCalls).toBe(0);
  });
});

describe("webhook in ws mode", () => {
  test("there is no webhook route to push to", async () => {
    relay = await ingestRelay(fake, { FEISHU_EVENT_MODE: "ws" });
    await relay.addUser(ALICE);
    const res = await relay.post(fake.messageEvent({ senderOpenId: ALICE }));
    expect(res.status).toBe(404);
    expect(await relay.storedCount()).toBe(0);
  });
});
