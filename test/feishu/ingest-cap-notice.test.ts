/**
 * The offline cap end to end: a webhook push that takes its owner over INBOX_MAX_PENDING_BYTES drops
 * the oldest queued messages, and the owner gets one Feishu DM (through the relay's own Feishu client,
 * to the fake) saying how many and since when. Later drops inside 30 min are counted, not sent.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { droppedNoticeText, formatUtc8, ingestNotices } from "../../src/feishu/ingest-notices.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { testRelay } from "../helpers.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";

const ALICE = "ou_a11ce000000000000000000000000a11";

const fake = await useFakeFeishu();
let relay: Awaited<ReturnType<typeof gatewayRelay>> | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

describe("messages dropped over the offline cap", () => {
  test("the owner gets one DM with the number dropped and since when", async () => {
    relay = await gatewayRelay({
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
      FEISHU_DOMAIN: fake.url,
      INBOX_MAX_PENDING_BYTES: "1MiB",
    });
    const { user } = await relay.user(ALICE, "Alice");
    // Eight queued messages of ~120 kB stored payload each (the text is stored twice: text and content).
    // The sender is named, so no name lookup holds them back from the read below (M2-4 context).
    const queued = [];
    const text = "q".repeat(60_000);
    const sender = { openId: ALICE, name: "Alice" };
    for (let i = 0; i < 8; i++) queued.push(await relay.store(user.id, { text, content: { text }, sender }));
    const oldest = (await relay.ctx.inbox.pending(user.id))[0]!.receivedAt;
    const webhook = `${relay.http}/api/feishu/webhook`;

    // ~300 kB more: the two oldest (~240 kB) must go to get back under 1 MiB.
    const pushed = await fake.pushEvent(webhook, { senderOpenId: ALICE, text: "x".repeat(150_000) });
    expect(pushed.status).toBe(200);
    const pending = await relay.ctx.inbox.pending(user.id);
    expect(pending.map((m) => m.message.messageId)).not.toContain(queued[0]!.message.messageId);
    expect(pending).toHaveLength(7);
    const dm = await fake.waitForSent((m) => m.kind === "create");
    expect(dm).toMatchObject({ receiveIdType: "open_id", receiveId: ALICE, msgType: "text" });
    expect(dm.text).toBe(droppedNoticeText(2, oldest));
    expect(dm.text).toContain("已丢弃最早的 2 条");
    expect(dm.text).toContain("the oldest 2 were dropped");

    // Over the cap again within 30 min: counted for the next DM, not sent now.
    const again = await fake.pushEvent(webhook, { senderOpenId: ALICE, text: "y".repeat(150_000) });
    expect(again.status).toBe(200);
    const skipped = () =>
      relay!.lines.some((l) => l.includes('"feishu_notice_skipped"') && l.includes('"rate_limited"'));
    while (!skipped()) await new Promise((r) => setImmediate(r));
    expect(fake.sent.filter((m) => m.kind === "create")).toHaveLength(1);
  });
});

describe("messages dropped over the offline cap in a bound group (M2-4)", () => {
  test("the DM goes to the owner of the inbox, not to the member who wrote", async () => {
    relay = await gatewayRelay({
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
      FEISHU_DOMAIN: fake.url,
      INBOX_MAX_PENDING_BYTES: "1MiB",
    });
    const { user } = await relay.user(ALICE, "Alice");
    await relay.ctx.bindings.bind({ chatId: "oc_capped_team", ownerUserId: user.id, boundBy: "admin" });
    const text = "q".repeat(60_000);
    for (let i = 0; i < 8; i++) await relay.store(user.id, { text, content: { text } });
    const pushed = await fake.pushEvent(`${relay.http}/api/feishu/webhook`, {
      senderOpenId: "ou_member_not_registered",
      chatType: "group",
      chatId: "oc_capped_team",
      text: `@_user_1 ${"x".repeat(150_000)}`,
      mentions: [fake.botMention()],
    });
    expect(pushed.status).toBe(200);
    const dm = await fake.waitForSent((m) => m.kind === "create");
    expect(dm).toMatchObject({ receiveIdType: "open_id", receiveId: ALICE });
    expect(dm.text).toContain("已丢弃最早的 2 条");
  });
});

describe("the dropped-messages notice", () => {
  test("counts every drop since the last DM into the next one, at most one per 30 min per user", async () => {
    let now = Date.UTC(2026, 11, 2, 16, 7);
    const t = await testRelay({}, { now: () => now });
    const sent: Array<{ openId: string; text: string }> = [];
    const { log } = memoryLogger();
    const notices = ingestNotices({
      ...t.relay.ctx,
      publicUrl: "https://relay.example",
      log,
      reply: () => undefined,
      dm: () => async (openId, text) => {
        sent.push({ openId, text });
      },
    });
    const first = Date.UTC(2026, 11, 2, 15, 0);
    notices.droppedOverCap({ userId: 1, openId: "ou_1", dropped: 5, oldestReceivedAt: first });
    notices.droppedOverCap({ userId: 1, openId: "ou_1", dropped: 2, oldestReceivedAt: first + 60_000 });
    notices.droppedOverCap({ userId: 2, openId: "ou_2", dropped: 1, oldestReceivedAt: first });
    await notices.idle();
    now += 30 * 60 * 1000;
    notices.droppedOverCap({ userId: 1, openId: "ou_1", dropped: 3, oldestReceivedAt: first + 120_000 });
    await notices.idle();
    // One user's notices are decided in order; different users' need not be (each waits on its own mark).
    const to = (openId: string) => sent.filter((m) => m.openId === openId).map((m) => m.text);
    expect(to("ou_1")).toEqual([droppedNoticeText(5, first), droppedNoticeText(5, first + 60_000)]);
    expect(to("ou_2")).toEqual([droppedNoticeText(1, first)]);
    expect(sent).toHaveLength(3);
    expect(formatUtc8(first)).toBe("2026-12-02 23:00 (UTC+8)");
    await t.close();
  });
});
