import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { TIMESTAMP_AHEAD_SEC, TIMESTAMP_WINDOW_SEC } from "../../src/feishu/webhook-crypto.ts";
import { encryptFeishu, type FakeFeishu, signFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { type IngestRelay, ingestRelay } from "./helpers.ts";

const ALICE = "ou_a11ce000000000000000000000000a11";
const STRANGER = "ou_5742a9e0000000000000000000005742";
const KEY = "encrypt-key-for-tests";

let fake: FakeFeishu;
let relay: IngestRelay;
beforeAll(async () => {
  fake = await startFakeFeishu();
});
afterAll(() => fake.stop());
afterEach(async () => {
  await relay?.close();
});

type ErrorAnswer = { error: { code: string; message: string } };

const json = (res: Response) => res.json() as Promise<Record<string, unknown>>;
const codeOf = async (res: Response) => ((await res.json()) as ErrorAnswer).error.code;
const errorCode = (pushed: { json?: unknown }) => (pushed.json as ErrorAnswer).error.code;

/** Every refusal must leave the relay working: a later valid message is stored. */
async function expectStillWorks(r: IngestRelay, userId: number) {
  const before = await r.storedCount();
  const res = await r.post(fake.messageEvent({ senderOpenId: ALICE, text: "still alive" }));
  expect(res.status).toBe(200);
  expect(await r.storedCount()).toBe(before + 1);
  expect((await r.ctx.inbox.pending(userId)).at(-1)?.message.text).toBe("still alive");
}

describe("url verification", () => {
  test("answers the plain challenge, checking the token when configured", async () => {
    relay = await ingestRelay(fake, { FEISHU_VERIFICATION_TOKEN: fake.verificationToken });
    const res = await relay.post(fake.urlVerification("ch-1"));
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ challenge: "ch-1" });
    const bad = await relay.post({ challenge: "ch-2", token: "wrong", type: "url_verification" });
    expect(bad.status).toBe(401);
    expect(await codeOf(bad)).toBe("bad_token");
  });

  test("answers an encrypted challenge in plaintext, without a signature", async () => {
    relay = await ingestRelay(fake, {
      FEISHU_ENCRYPT_KEY: KEY,
      FEISHU_VERIFICATION_TOKEN: fake.verificationToken,
    });
    const encrypt = encryptFeishu(JSON.stringify(fake.urlVerification("ch-enc")), KEY);
    const res = await relay.post({ encrypt });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ challenge: "ch-enc" });
  });
});

describe("start-up", () => {
  test("warns when pushes can be verified neither by signature nor by token", async () => {
    const warned = (r: IngestRelay) => r.lines.some((l) => l.includes('"feishu_webhook_unauthenticated"'));
    relay = await ingestRelay(fake);
    expect(warned(relay)).toBe(true);
    await relay.close();
    relay = await ingestRelay(fake, { FEISHU_VERIFICATION_TOKEN: "vt" });
    expect(warned(relay)).toBe(false);
  });
});

describe("storing messages", () => {
  test("a direct message from a known user is stored before the answer", async () => {
    relay = await ingestRelay(fake);
    const alice = await relay.addUser(ALICE, "Alice");
    const envelope = fake.messageEvent({ senderOpenId: ALICE, text: "hello relay" });
    const res = await relay.post(envelope);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ msg: "success" });
    const [stored] = await relay.ctx.inbox.pending(alice);
    expect(stored.seq).toBe(1);
    expect(stored.message).toMatchObject({
      messageId: (envelope.event.message as { message_id: string }).message_id,
      chatType: "p2p",
      sender: { openId: ALICE, name: "Alice" },
      text: "hello relay",
      mentionedBot: false,
    });
    const line = relay.lines.find((l) => l.includes('"feishu_event_received"'))!;
    expect(JSON.parse(line)).toMatchObject({
      eventId: envelope.header.event_id,
      userId: alice,
      outcome: "stored",
      source: "webhook",
    });
    expect(relay.lines.join("\n")).not.toContain("hello relay");
  });

  test("the same event twice, or the same message under a new event_id, is stored once", async () => {
    relay = await ingestRelay(fake);
    await relay.addUser(ALICE);
    const url = relay.listen();
    const first = await fake.pushEvent(url, { senderOpenId: ALICE, text: "once" }, { encryptKey: "" });
    const again = await fake.repush(first);
    const renamed = await fake.repush(first, { newEventId: true });
    expect([first.status, again.status, renamed.status]).toEqual([200, 200, 200]);
    expect(await relay.storedCount()).toBe(1);
    expect(relay.ctx.metrics.counter("events_deduped_total", "").get({ by: "event_id" })).toBe(1);
    expect(relay.ctx.metrics.counter("events_deduped_total", "").get({ by: "message_id" })).toBe(1);
  });

  test("a v1 envelope is stored like a v2 one", async () => {
    relay = await ingestRelay(fake, { FEISHU_VERIFICATION_TOKEN: fake.verificationToken });
    const alice = await relay.addUser(ALICE);
    const v2 = fake.messageEvent({ senderOpenId: ALICE, text: "legacy" });
    const res = await relay.post(fake.v1Event("im.message.receive_v1", v2.event));
    expect(res.status).toBe(200);
    expect((await relay.ctx.inbox.pending(alice))[0].message.text).toBe("legacy");
    const badToken = fake.v1Event("im.message.receive_v1", v2.event);
    badToken.token = "nope";
    expect((await relay.post(badToken)).status).toBe(401);
  });

  test("an encrypted and signed push over real HTTP is stored", async () => {
    relay = await ingestRelay(fake, {
      FEISHU_ENCRYPT_KEY: KEY,
      FEISHU_VERIFICATION_TOKEN: fake.verificationToken,
    });
    const alice = await relay.addUser(ALICE);
    const url = relay.listen();
    const res = await fake.pushEvent(url, { senderOpenId: ALICE, text: "secret" }, { encryptKey: KEY });
    expect(res.status).toBe(200);
    expect((await relay.ctx.inbox.pending(alice))[0].message.text).toBe("secret");
    // Pretty-printed JSON: re-serialising the parsed body (what the SDK hashes) would not match.
    const pretty = await fake.pushEvent(
      url,
      { senderOpenId: ALICE, text: "pretty" },
      { encryptKey: KEY, pretty: true },
    );
    expect(pretty.status).toBe(200);
    expect(await relay.storedCount()).toBe(2);
  });

  test("a group message counts only when it @-mentions the bot", async () => {
    // Read from the inbox right after Feishu is answered: no hold for the group's name (M2-4).
    relay = await ingestRelay(fake, { FEISHU_CONTEXT: "false" });
    const alice = await relay.addUser(ALICE);
    const chatId = "oc_group00000000000000000000000001";
    const tom = { openId: "ou_70m", name: "Tom" };
    const plain = await relay.post(
      fake.messageEvent({
        senderOpenId: ALICE,
        chatType: "group",
        chatId,
        text: "@_user_1 hi",
        mentions: [tom],
      }),
    );
    expect(plain.status).toBe(200);
    expect(await relay.storedCount()).toBe(0);
    const noMentions = await relay.post(
      fake.messageEvent({ senderOpenId: ALICE, chatType: "group", chatId }),
    );
    expect(noMentions.status).toBe(200);
    expect(await relay.storedCount()).toBe(0);
    const atBot = fake.messageEvent({
      senderOpenId: ALICE,
      chatType: "group",
      chatId,
      text: "@_user_1 summarise @_user_2",
      mentions: [fake.botMention(), tom],
    });
    expect((await relay.post(atBot)).status).toBe(200);
    expect((await relay.ctx.inbox.pending(alice))[0].message).toMatchObject({
      chatType: "group",
      mentionedBot: true,
      text: "summarise @Tom",
    });
  });

  test("a group @-mention is refused with 503 while the bot's identity is unknown, so Feishu re-pushes", async () => {
    relay = await ingestRelay(
      fake,
      {},
      { bot: { openId: () => Promise.reject(new Error("token fetch failed")) } },
    );
    const alice = await relay.addUser(ALICE);
    const atBot = fake.messageEvent({
      senderOpenId: ALICE,
      chatType: "group",
      text: "@_user_1 hi",
      mentions: [fake.botMention()],
    });
    const res = await relay.post(atBot);
    expect(res.status).toBe(503);
    expect(await codeOf(res)).toBe("bot_identity_unavailable");
    expect(await relay.storedCount()).toBe(0);
    expect(relay.lines.some((l) => l.includes('"outcome":"retry_later"'))).toBe(true);
    // A direct message does not need the bot's identity.
    await expectStillWorks(relay, alice);
  });

  test("messages from bots are ignored", async () => {
    relay = await ingestRelay(fake);
    await relay.addUser(ALICE);
    const res = await relay.post(fake.messageEvent({ senderOpenId: ALICE, senderType: "app" }));
    expect(res.status).toBe(200);
    expect(await relay.storedCount()).toBe(0);
  });

  test("other event types are acknowledged, marked seen and not stored", async () => {
    relay = await ingestRelay(fake);
    const event = fake.botAddedEvent({ chatId: "oc_1", operatorOpenId: ALICE });
    const res = await relay.post(event);
    expect(res.status).toBe(200);
    expect(await relay.ctx.inbox.isEventSeen(event.header.event_id)).toBe(true);
    expect(await relay.storedCount()).toBe(0);
    expect(
      relay.ctx.metrics
        .counter("events_received_total", "")
        .get({ source: "webhook", type: "im.chat.member.bot.added_v1" }),
    ).toBe(1);
  });
});

describe("unknown senders", () => {
  test("are not stored; they get one sign-in reply per 10 minutes, after the answer", async () => {
    relay = await ingestRelay(fake);
    const first = fake.messageEvent({ senderOpenId: STRANGER, text: "who are you" });
    const res = await relay.post(first);
    expect(res.status).toBe(200);
    expect(await relay.storedCount()).toBe(0);
    const [reply] = await relay.waitForReplies(1);
    expect(reply.messageId).toBe((first.event.message as { message_id: string }).message_id);
    expect(reply.text).toContain("https://relay.example/login");
    // A re-push of the same event and a second message stay quiet.
    await relay.post(first);
    await relay.post(fake.messageEvent({ senderOpenId: STRANGER, text: "hello?" }));
    await new Promise((r) => setImmediate(r));
    expect(relay.replies).toHaveLength(1);
    expect(await relay.storedCount()).toBe(0);
  });
});

describe("bad input: refused, nothing stored, the relay keeps working", () => {
  test("invalid JSON → 400 invalid_json", async () => {
    relay = await ingestRelay(fake);
    const alice = await relay.addUser(ALICE);
    const res = await relay.post('{"schema":"2.0",');
    expect(res.status).toBe(400);
    expect(await codeOf(res)).toBe("invalid_json");
    // Counted after the answer is out.
    const rejected = relay.ctx.metrics.counter("events_rejected_total", "");
    while (rejected.get({ reason: "invalid_json" }) === 0) await Bun.sleep(1);
    expect(rejected.get({ reason: "invalid_json" })).toBe(1);
    await expectStillWorks(relay, alice);
  });

  test("missing header, event or message fields → 400 invalid_event", async () => {
    relay = await ingestRelay(fake);
    const alice = await relay.addUser(ALICE);
    const good = fake.messageEvent({ senderOpenId: ALICE });
    const { header: _h, ...noHeader } = good;
    const { event: _e, ...noEvent } = good;
    const noMessage = { ...good, event: { sender: good.event.sender } };
    const noEventId = { ...good, header: { ...good.header, event_id: undefined } };
    for (const body of [noHeader, noEvent, noMessage, noEventId, [], "42", "null"]) {
      const res = await relay.post(body);
      expect(res.status).toBe(400);
      expect(await codeOf(res)).toBe("invalid_event");
    }
    expect((await relay.post("")).status).toBe(400);
    expect(await relay.storedCount()).toBe(0);
    await expectStillWorks(relay, alice);
  });

  test("wrong verification token → 401 bad_token", async () => {
    relay = await ingestRelay(fake, { FEISHU_VERIFICATION_TOKEN: fake.verificationToken });
    const alice = await relay.addUser(ALICE);
    const url = relay.listen();
    const res = await fake.pushEvent(
      url,
      { senderOpenId: ALICE },
      { encryptKey: "", verificationToken: "forged" },
    );
    expect(res.status).toBe(401);
    expect(errorCode(res)).toBe("bad_token");
    expect(await relay.storedCount()).toBe(0);
    await expectStillWorks(relay, alice);
  });

  describe("with an Encrypt Key", () => {
    const raw = { FEISHU_ENCRYPT_KEY: KEY };

    test("bad or missing signature → 401 bad_signature", async () => {
      relay = await ingestRelay(fake, raw);
      const alice = await relay.addUser(ALICE);
      const url = relay.listen();
      const bad = await fake.pushEvent(url, { senderOpenId: ALICE }, { encryptKey: KEY, badSignature: true });
      expect(bad.status).toBe(401);
      expect(errorCode(bad)).toBe("bad_signature");
      const unsigned = await fake.pushEvent(url, { senderOpenId: ALICE }, { encryptKey: KEY, sign: false });
      expect(unsigned.status).toBe(401);
      // Signed with another key.
      const forged = fake.pusher.prepare(url, fake.messageEvent({ senderOpenId: ALICE }), {
        encryptKey: KEY,
      });
      forged.headers["x-lark-signature"] = signFeishu("1", "2", "other", forged.rawBody);
      expect((await fake.pusher.send(forged)).status).toBe(401);
      expect(await relay.storedCount()).toBe(0);
      expect(relay.ctx.metrics.counter("events_rejected_total", "").get({ reason: "bad_signature" })).toBe(3);
      const ok = await fake.pushEvent(url, { senderOpenId: ALICE, text: "signed" }, { encryptKey: KEY });
      expect(ok.status).toBe(200);
      expect((await relay.ctx.inbox.pending(alice))[0].message.text).toBe("signed");
    });

    test("undecryptable encrypt → 400 undecryptable; plaintext → 400 invalid_event", async () => {
      relay = await ingestRelay(fake, raw);
      await relay.addUser(ALICE);
      const url = relay.listen();
      for (const encrypt of [
        "%%%not-base64%%%",
        encryptFeishu("hello", "another key"),
        encryptFeishu("not json", KEY),
      ]) {
        const body = JSON.stringify({ encrypt });
        const ts = "1752346850";
        const headers = {
          "content-type": "application/json",
          "x-lark-request-timestamp": ts,
          "x-lark-request-nonce": "1",
          "x-lark-signature": signFeishu(ts, "1", KEY, body),
        };
        const res = await fetch(url, { method: "POST", headers, body });
        expect(res.status).toBe(400);
        expect(await codeOf(res)).toBe("undecryptable");
      }
      const plain = await fake.pushEvent(url, { senderOpenId: ALICE }, { encryptKey: "" });
      expect(plain.status).toBe(400);
      expect(errorCode(plain)).toBe("invalid_event");
      expect(await relay.storedCount()).toBe(0);
      expect((await fake.pushEvent(url, { senderOpenId: ALICE }, { encryptKey: KEY })).status).toBe(200);
    });
    test("a replay of signed bytes after the timestamp window, or a push from the future → 401 stale_timestamp", async () => {
      // The relay's clock is driven, starting at the whole second the push is signed with.
      const signedAt = Math.floor(fake.now() / 1000);
      let now = signedAt * 1000;
      relay = await ingestRelay(fake, raw, {}, { now: () => now });
      await relay.addUser(ALICE);
      const url = relay.listen();
      const first = await fake.pushEvent(
        url,
        { senderOpenId: ALICE, text: "once" },
        { encryptKey: KEY, timestamp: signedAt },
      );
      expect(first.status).toBe(200);
      // Within the window a byte-exact replay is only a duplicate.
      now += TIMESTAMP_WINDOW_SEC * 1000;
      expect((await fake.repush(first, { sameBytes: true })).status).toBe(200);
      // Past it (the dedupe rows may be pruned by then) the same bytes are refused.
      now += 1000;
      const replay = await fake.repush(first, { sameBytes: true });
      expect(replay.status).toBe(401);
      expect(errorCode(replay)).toBe("stale_timestamp");
      const future = await fake.pushEvent(
        url,
        { senderOpenId: ALICE },
        { encryptKey: KEY, timestamp: Math.floor(now / 1000) + TIMESTAMP_AHEAD_SEC + 60 },
      );
      expect(future.status).toBe(401);
      expect(errorCode(future)).toBe("stale_timestamp");
      expect(await relay.storedCount()).toBe(1);
      expect(relay.ctx.metrics.counter("events_rejected_total", "").get({ reason: "stale_timestamp" })).toBe(
        2,
      );
    });
  });

  test("an encrypted body without a configured key → 400 undecryptable", async () => {
    relay = await ingestRelay(fake);
    const res = await relay.post({ encrypt: encryptFeishu("{}", KEY) });
    expect(res.status).toBe(400);
    expect(await codeOf(res)).toBe("undecryptable");
  });

  test("a body over 1 MiB → 413, through app.handle and over real HTTP", async () => {
    relay = await ingestRelay(fake);
    const alice = await relay.addUser(ALICE);
    const huge = JSON.stringify(fake.messageEvent({ senderOpenId: ALICE, text: "x".repeat(1024 * 1024) }));
    const viaHandle = await relay.post(huge);
    expect(viaHandle.status).toBe(413);
    expect(await codeOf(viaHandle)).toBe("body_too_large");
    const url = relay.listen();
    const viaHttp = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: huge,
    });
    expect(viaHttp.status).toBe(413);
    // Streamed without a Content-Length: caught while reading.
    const stream = new Blob([huge]).stream();
    const chunked = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
    });
    expect(chunked.status).toBe(413);
    expect(await relay.storedCount()).toBe(0);
    await expectStillWorks(relay, alice);
  });

  test("a flood of 10,000 copies of one event stores exactly one", async () => {
    relay = await ingestRelay(fake);
    const alice = await relay.addUser(ALICE);
    const body = JSON.stringify(fake.messageEvent({ senderOpenId: ALICE, text: "flood" }));
    const statuses = new Map<number, number>();
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(Array.from({ length: 500 }, () => relay.post(body)));
      for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 200: 10_000 });
    expect(await relay.storedCount()).toBe(1);
    expect(relay.ctx.metrics.counter("events_deduped_total", "").get({ by: "event_id" })).toBe(9_999);
    await expectStillWorks(relay, alice);
  });
});
