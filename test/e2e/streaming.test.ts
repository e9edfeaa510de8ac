/**
 * Streaming replies end to end (M2-3, feature `stream`): a real WebSocket plugin drafts, the relay
 * drives the fake Feishu's CardKit over HTTP, the final goes through the outbox into the card.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { gatewayRelay, relayWithFeishu } from "../relay/gateway-fixtures.ts";
import { connect, isType, type TestClient } from "../relay/ws-client.ts";

const { fake, r } = await relayWithFeishu();
beforeEach(() => fake.cardkit.reset());

async function plugin(openId: string) {
  const { user, token } = await r.user(openId);
  const original = await r.store(user.id, { chatId: "oc_stream_chat", chatType: "group" });
  const c = connect(r.url, { token });
  const hello = await c.next(isType("hello"));
  await c.next(isType("message"));
  return { c, hello, replyTo: original.message.messageId };
}

/** Sends the growing answer every `everyMs`, `count` times. */
async function drafts(c: TestClient, replyTo: string, streamId: string, count: number, everyMs: number) {
  for (let i = 1; i <= count; i++) {
    c.send({ type: "draft", id: `d${i}`, replyTo, streamId, text: `part ${i} `.repeat(i) });
    await Bun.sleep(everyMs);
  }
}

describe("streaming cards", () => {
  test("hello offers the stream feature; drafts make one card and spaced updates; the final ends streaming", async () => {
    const { c, hello, replyTo } = await plugin("ou_stream_a");
    expect(hello.features).toEqual(["media", "stream"]);
    expect(hello.stream).toEqual({ minIntervalMs: 200 });
    const streamId = `${replyTo}:0`;
    await drafts(c, replyTo, streamId, 40, 25);
    c.send({
      type: "send",
      id: "f1",
      replyTo,
      msgType: "markdown",
      text: "# Done\n\nall **good**",
      streamId,
      uuid: "f1",
    });
    const sent = await c.next((f) => f.id === "f1");
    expect(sent.type).toBe("sent");
    // No answers to drafts when all is well.
    expect(c.frames.filter((f) => typeof f.id === "string" && f.id.startsWith("d"))).toHaveLength(0);

    const cards = [...fake.cardkit.cards.values()];
    expect(cards).toHaveLength(1);
    const card = cards[0]!;
    expect(card.messageId).toBe(sent.messageId as string);
    expect(card.streaming).toBe(false);
    expect(card.elements.content).toBe("# Done\n\nall **good**");
    expect(card.summary).toBe("# Done all **good**");
    const message = fake.sent.find((m) => m.messageId === sent.messageId)!;
    expect(message).toMatchObject({ kind: "reply", replyTo, msgType: "interactive" });
    expect(message.content).toEqual({ type: "card", data: { card_id: card.cardId } });

    const ops = fake.cardkit.ops.items.filter((o) => o.cardId === card.cardId);
    const updates = ops.filter((o) => o.op === "content");
    // ~1 s of drafts at 25 ms: one update per 200 ms at most, never two within the interval. The
    // last content call is the final's, which waits for no interval (finals go first).
    expect(updates.length).toBeGreaterThanOrEqual(3);
    expect(updates.length).toBeLessThanOrEqual(10);
    for (let i = 2; i < updates.length - 1; i++)
      expect(updates[i]!.at - updates[i - 1]!.at).toBeGreaterThanOrEqual(150);
    expect(ops.every((o) => o.code === 0)).toBe(true);
    expect(ops.at(-1)!.op).toBe("settings");
    // A late draft changes nothing.
    c.send({ type: "draft", id: "late", replyTo, streamId, text: "late" });
    c.send({ type: "ping" });
    await c.next(isType("pong"));
    await Bun.sleep(300);
    expect(card.elements.content).toBe("# Done\n\nall **good**");
    c.close();
  });

  test("per-card rate refusals (230020) on updates are skipped and coalesced; the final still lands in the card", async () => {
    const { c, replyTo } = await plugin("ou_stream_429");
    const streamId = `${replyTo}:0`;
    c.send({ type: "draft", id: "d0", replyTo, streamId, text: "start" });
    await fake.cardkit.ops.waitFor((o) => o.op === "send", 3000, "the card message");
    fake.cardkit.failNextUpdates(2, { kind: "chat_rate_limit" });
    // Each refusal pauses that card's updates for a second: 2.5 s of drafts use both up.
    await drafts(c, replyTo, streamId, 100, 25);
    c.send({
      type: "send",
      id: "f2",
      replyTo,
      msgType: "markdown",
      text: "final text",
      streamId,
      uuid: "f2",
    });
    const sent = await c.next((f) => f.id === "f2" && f.type !== "queued", 10_000);
    expect(sent.type).toBe("sent");
    const card = [...fake.cardkit.cards.values()][0]!;
    expect(card.elements.content).toBe("final text");
    expect(card.streaming).toBe(false);
    const refused = fake.cardkit.ops.items.filter((o) => o.code === 230020);
    expect(refused).toHaveLength(2);
    // Refused updates are not retried at once: the next call to that card waits about a second.
    const ops = fake.cardkit.ops.items;
    for (const r of refused) {
      const next = ops[ops.indexOf(r) + 1];
      if (next) expect(next.at - r.at).toBeGreaterThanOrEqual(800);
    }
    c.close();
  }, 15_000);

  test("card creation failing answers stream_unavailable to that draft; the final goes as an ordinary reply", async () => {
    const { c, replyTo } = await plugin("ou_stream_noscope");
    fake.cardkit.failNextCreates(1, {
      kind: "code",
      code: 99991672,
      msg: "Access denied. One of cardkit:card:write",
    });
    const streamId = `${replyTo}:0`;
    c.send({ type: "draft", id: "d1", replyTo, streamId, text: "hello" });
    const err = await c.next((f) => f.id === "d1");
    expect(err).toMatchObject({ type: "error", code: "stream_unavailable", retryable: false });
    c.send({ type: "draft", id: "d2", replyTo, streamId, text: "hello there" });
    c.send({
      type: "send",
      id: "f3",
      replyTo,
      msgType: "markdown",
      text: "plain answer",
      streamId,
      uuid: "f3",
    });
    const sent = await c.next((f) => f.id === "f3");
    expect(sent.type).toBe("sent");
    expect(c.frames.some((f) => f.id === "d2")).toBe(false);
    const message = fake.sent.find((m) => m.messageId === sent.messageId)!;
    expect(message).toMatchObject({ kind: "reply", replyTo, msgType: "post", text: "plain answer" });
    expect(fake.cardkit.cards.size).toBe(0);
    c.close();
  });

  test("a plugin that never drafts gets plain replies, with or without a streamId", async () => {
    const { c, replyTo } = await plugin("ou_stream_plain");
    c.send({ type: "send", id: "p1", replyTo, text: "plain" });
    c.send({
      type: "send",
      id: "p2",
      replyTo,
      msgType: "markdown",
      text: "**md**",
      streamId: `${replyTo}:9`,
    });
    // In order: one user's sends keep their order, on PostgreSQL too (outbox.ts, #turns). Up to 10 s
    // each, as for the other finals here: the PostgreSQL pass of a busy CI machine once took over 3 s.
    const [a, b] = [await c.next((f) => f.id === "p1", 10_000), await c.next((f) => f.id === "p2", 10_000)];
    expect(a.type).toBe("sent");
    expect(b.type).toBe("sent");
    expect(fake.sent.find((m) => m.messageId === a.messageId)).toMatchObject({
      msgType: "text",
      text: "plain",
    });
    expect(fake.sent.find((m) => m.messageId === b.messageId)).toMatchObject({ msgType: "post" });
    expect(fake.cardkit.ops.items).toHaveLength(0);
    c.close();
  });

  test("streamId with a non-text msgType is bad_frame; a draft to a foreign message is forbidden_target", async () => {
    const { c, replyTo } = await plugin("ou_stream_bad");
    c.send({
      type: "send",
      id: "b1",
      replyTo,
      msgType: "interactive",
      content: { schema: "2.0" },
      streamId: "s1",
    });
    expect(await c.next((f) => f.id === "b1")).toMatchObject({ type: "error", code: "bad_frame" });
    c.send({ type: "draft", id: "b2", replyTo: "om_not_yours", streamId: "s2", text: "x" });
    expect(await c.next((f) => f.id === "b2")).toMatchObject({ type: "error", code: "forbidden_target" });
    c.close();
  });
});

describe("streaming switched off", () => {
  test("FEISHU_STREAMING=false: hello has no stream feature and a draft answers stream_unavailable", async () => {
    const off = await gatewayRelay({
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
      FEISHU_DOMAIN: fake.url,
      FEISHU_STREAMING: "false",
    });
    try {
      const { token } = await off.user("ou_stream_off");
      const c = connect(off.url, { token });
      const hello = await c.next(isType("hello"));
      expect(hello.features).toEqual(["media"]);
      expect(hello.stream).toBeUndefined();
      c.send({ type: "draft", id: "d1", streamId: "s1", text: "hi" });
      expect(await c.next((f) => f.id === "d1")).toMatchObject({ type: "error", code: "stream_unavailable" });
      c.send({ type: "send", id: "f1", msgType: "markdown", text: "plain", streamId: "s1" });
      expect(await c.next((f) => f.id === "f1")).toMatchObject({ type: "sent" });
      expect(fake.cardkit.ops.items).toHaveLength(0);
      c.close();
    } finally {
      await off.close();
    }
  });
});
