import { describe, expect, test } from "bun:test";
import { FeishuApiError } from "../../src/feishu/api-error.ts";
import { type AcquireOptions, SendRateLimiter } from "../../src/feishu/rate-limiter.ts";
import { FeishuSender } from "../../src/feishu/sender.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { clientStack, type StackOptions } from "./client-stack.ts";
import { VirtualTime } from "./virtual-time.ts";

const fake = await useFakeFeishu();

/** A stack whose waits run in virtual time; `run` drives a send to completion. */
function virtualStack(opts: StackOptions = {}) {
  const vt = new VirtualTime(Date.now());
  const stack = clientStack(fake, { now: vt.now, sleep: vt.sleep, ...opts });
  return { ...stack, vt, run: <T>(p: Promise<T>) => vt.run(p) };
}

const ALICE = "ou_alice0000000000000000000000000001";
const codes = (calls: Array<{ code?: number }>) => calls.map((c) => c.code);

describe("sending", () => {
  test("a text message to a user, always with a uuid", async () => {
    const { sender } = clientStack(fake);
    const ids = await sender.send({ receiveIdType: "open_id", receiveId: ALICE, text: "hello" });
    const [m] = fake.sent;
    expect(ids).toEqual([m!.messageId]);
    expect(m).toMatchObject({ kind: "create", receiveIdType: "open_id", receiveId: ALICE, msgType: "text" });
    expect(m!.content).toEqual({ text: "hello" });
    expect(m!.uuid).toBeString();
    expect(m!.uuid!.length).toBeLessThanOrEqual(50);
  });

  test("a reply goes to the reply API, into the thread when asked", async () => {
    const { sender } = clientStack(fake);
    const [id] = await sender.reply({ messageId: "om_original0001", replyInThread: true, text: "answer" });
    const m = fake.sent[0]!;
    expect(m).toMatchObject({
      kind: "reply",
      replyTo: "om_original0001",
      replyInThread: true,
      messageId: id,
    });
    expect(m.threadId).toStartWith("omt_");
    await sender.reply({ messageId: "om_original0002", text: "plain" });
    expect(fake.sent[1]!.replyInThread).toBe(false);
  });

  test("markdown is sent as a post with an md node", async () => {
    const { sender } = clientStack(fake);
    await sender.send({
      receiveIdType: "chat_id",
      receiveId: "oc_group1",
      msgType: "markdown",
      text: "**hi**",
    });
    const m = fake.sent[0]!;
    expect(m.msgType).toBe("post");
    expect(m.content).toEqual({ zh_cn: { content: [[{ tag: "md", text: "**hi**" }]] } });
  });

  test("post content is wrapped in zh_cn; cards go as interactive", async () => {
    const { sender } = clientStack(fake);
    const post = { title: "T", content: [[{ tag: "text", text: "x" }]] };
    await sender.send({ receiveIdType: "open_id", receiveId: ALICE, msgType: "post", content: post });
    const card = { elements: [{ tag: "markdown", content: "hi" }] };
    await sender.send({ receiveIdType: "open_id", receiveId: ALICE, msgType: "interactive", content: card });
    expect(fake.sent[0]!.content).toEqual({ zh_cn: post });
    expect(fake.sent[1]).toMatchObject({ msgType: "interactive", content: card });
  });

  test("long text is split into several messages, in order, each with its own uuid", async () => {
    const { sender } = clientStack(fake, { chatPerSecond: 100 });
    const paragraphs = Array.from(
      { length: 300 },
      (_, i) => `第${i}段 ${'飞书消息内容 "quoted" '.repeat(40)}`,
    );
    const text = paragraphs.join("\n\n");
    const ids = await sender.send({ receiveIdType: "open_id", receiveId: ALICE, text, uuid: "op-42" });
    expect(ids.length).toBeGreaterThan(2);
    expect(fake.sent.map((m) => m.messageId)).toEqual(ids);
    expect(fake.sent.map((m) => m.uuid)).toEqual(ids.map((_, i) => `op-42-${i}`));
    expect(fake.sent.map((m) => m.text).join("\n\n")).toBe(text);
  });

  test("the same uuid sent twice posts once and answers the same message id", async () => {
    const { sender } = clientStack(fake);
    const a = await sender.send({ receiveIdType: "open_id", receiveId: ALICE, text: "once", uuid: "same-1" });
    const b = await sender.send({ receiveIdType: "open_id", receiveId: ALICE, text: "once", uuid: "same-1" });
    expect(b).toEqual(a);
    expect(fake.sent).toHaveLength(1);
  });

  test("unsendable content fails permanently without calling Feishu", async () => {
    const { sender, sendCalls } = clientStack(fake);
    const err = await sender.send({ receiveIdType: "open_id", receiveId: ALICE, text: "" }).catch((e) => e);
    expect(err).toMatchObject({ kind: "content", code: "feishu_content_invalid", retryable: false });
    expect(sendCalls()).toHaveLength(0);
  });
});

describe("long markdown answers", () => {
  const GROUP = "oc_group_markdown";
  const longCode = () =>
    [
      "Here is the file:",
      "",
      "```ts",
      ...Array.from({ length: 2500 }, (_, i) => `const v${i} = "${i}";`),
      "```",
      "",
      "Done.",
    ].join("\n");

  test("only the first part quotes the message; the rest are new messages in its chat, fences balanced", async () => {
    const { sender } = clientStack(fake, { chatPerSecond: 100 });
    const ids = await sender.reply({
      messageId: "om_question0001",
      chatId: GROUP,
      msgType: "markdown",
      text: longCode(),
      uuid: "r-1",
    });
    expect(ids.length).toBeGreaterThan(1);
    const [first, ...rest] = fake.sent;
    expect(first).toMatchObject({
      kind: "reply",
      replyTo: "om_question0001",
      msgType: "interactive",
      uuid: "r-1-0",
    });
    for (const [i, m] of rest.entries()) {
      expect(m).toMatchObject({
        kind: "create",
        receiveIdType: "chat_id",
        receiveId: GROUP,
        msgType: "interactive",
      });
      expect(m.uuid).toBe(`r-1-${i + 1}`);
    }
    for (const m of fake.sent) {
      const card = m.content as { schema: string; body: { elements: Array<{ content: string }> } };
      expect(card.schema).toBe("2.0");
      const md = card.body.elements[0]!.content;
      expect(md.match(/^```/gm)!.length % 2).toBe(0);
    }
    expect(fake.sent.map((m) => m.messageId)).toEqual(ids);
  });

  test("in a thread every part stays a reply, so the answer stays in the topic", async () => {
    const { sender } = clientStack(fake, { chatPerSecond: 100 });
    await sender.reply({
      messageId: "om_question0002",
      chatId: GROUP,
      replyInThread: true,
      msgType: "markdown",
      text: longCode(),
    });
    expect(fake.sent.length).toBeGreaterThan(1);
    for (const m of fake.sent)
      expect(m).toMatchObject({ kind: "reply", replyTo: "om_question0002", replyInThread: true });
  });

  test("a reply whose chat is unknown keeps replying", async () => {
    const { sender } = clientStack(fake, { chatPerSecond: 100 });
    await sender.reply({
      messageId: "om_question0003",
      msgType: "markdown",
      renderMode: "post",
      text: longCode(),
    });
    expect(fake.sent.length).toBeGreaterThan(1);
    for (const m of fake.sent)
      expect(m).toMatchObject({ kind: "reply", replyTo: "om_question0003", msgType: "post" });
  });

  test("a retried reply splits the same way and posts nothing twice", async () => {
    const { sender } = clientStack(fake, { chatPerSecond: 100 });
    const req = {
      messageId: "om_question0004",
      chatId: GROUP,
      msgType: "markdown" as const,
      text: longCode(),
      uuid: "r-4",
    };
    const a = await sender.reply(req);
    const b = await sender.reply(req);
    expect(b).toEqual(a);
    expect(fake.sent).toHaveLength(a.length);
  });
});

describe("rate limits and retries", () => {
  test("429 with x-ogw-ratelimit-reset: waits that long, then succeeds", async () => {
    const { sender, run, vt, metrics, sendCalls } = virtualStack();
    fake.failNext(1, { kind: "rate_limit", resetSec: 2 });
    const start = vt.now();
    const ids = await run(sender.send({ receiveIdType: "open_id", receiveId: ALICE, text: "hi" }));
    expect(ids).toHaveLength(1);
    expect(vt.now() - start).toBe(2000);
    expect(codes(sendCalls())).toEqual([99991400, 0]);
    expect(metrics.counter("feishu_rate_limit_waits_total", "").get({ kind: "app_throttled" })).toBe(1);
    expect(metrics.counter("feishu_sends_total", "").get({ outcome: "retried", code: 99991400 })).toBe(1);
  });

  test("230020 backs that chat off 1 s, then 2 s, then succeeds", async () => {
    const { sender, run, vt, sendCalls } = virtualStack();
    fake.failNext(2, { kind: "chat_rate_limit" });
    const start = vt.now();
    await run(sender.send({ receiveIdType: "chat_id", receiveId: "oc_busy", text: "hi" }));
    expect(vt.now() - start).toBe(3000);
    expect(codes(sendCalls())).toEqual([230020, 230020, 0]);
  });

  test("a 5xx is retried after a jittered back-off and then succeeds", async () => {
    const { sender, run, vt, sendCalls } = virtualStack();
    fake.failNext(1, { kind: "server_error", status: 500 });
    await run(sender.send({ receiveIdType: "open_id", receiveId: ALICE, text: "hi" }));
    expect(codes(sendCalls())).toEqual([2200, 0]);
    expect(vt.sleeps).toEqual([188]); // 250 ms ceiling, half fixed + half × random (0.5)
    expect(fake.sent).toHaveLength(1);
  });

  test("transient failures stop after 4 attempts and reject with the last error", async () => {
    const { sender, run, sendCalls } = virtualStack();
    fake.failNext(10, { kind: "server_error", status: 503 });
    const err = await run(sender.send({ receiveIdType: "open_id", receiveId: ALICE, text: "hi" })).catch(
      (e) => e,
    );
    expect(err).toMatchObject({ status: 503, retryable: true });
    expect(sendCalls()).toHaveLength(4);
  });

  test("a permanent error (230002 bot not in chat) is not retried and carries Feishu's code", async () => {
    const { sender, run, sendCalls, metrics, lines } = virtualStack();
    fake.failNext(1, { kind: "code", code: 230002, msg: "Bot/User can NOT be out of the chat." });
    const err = await run(
      sender.send({ receiveIdType: "chat_id", receiveId: "oc_gone", text: "secret words" }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(FeishuApiError);
    expect(err).toMatchObject({ code: 230002, retryable: false, status: 400 });
    expect(err.logId).toBeTruthy();
    expect(sendCalls()).toHaveLength(1);
    expect(metrics.counter("feishu_sends_total", "").get({ outcome: "failed", code: 230002 })).toBe(1);
    expect(lines.some((l) => l.includes('"feishu_send_failed"'))).toBe(true);
    expect(lines.join("\n")).not.toContain("secret words");
  });

  test("the uuid is reused when a send is retried, so a lost answer never double-posts", async () => {
    const { sender, run } = virtualStack({ timeoutMs: 40 });
    fake.delay(120); // the first attempt is accepted by Feishu, but its answer comes too late
    const ids = await run(sender.send({ receiveIdType: "open_id", receiveId: ALICE, text: "exactly once" }));
    await Bun.sleep(150); // let the slow first attempt land at the fake
    expect(fake.sent).toHaveLength(1);
    expect(fake.im.dedupedSends).toBe(1);
    expect(ids).toEqual([fake.sent[0]!.messageId]);
  });

  test('retry "once": one attempt, and the error says when to come back', async () => {
    const { sender, run, sendCalls } = virtualStack();
    const once = {
      receiveIdType: "chat_id" as const,
      receiveId: "oc_once",
      text: "hi",
      retry: "once" as const,
    };
    fake.failNext(1, { kind: "server_error", status: 502 });
    expect(await run(sender.send(once)).catch((e) => e)).toMatchObject({ status: 502, retryable: true });
    fake.failNext(1, { kind: "chat_rate_limit" });
    expect(await run(sender.send(once)).catch((e) => e)).toMatchObject({ code: 230020, retryAfterMs: 1000 });
    fake.failNext(1, { kind: "rate_limit", resetSec: 3 });
    expect(await run(sender.send(once)).catch((e) => e)).toMatchObject({
      code: 99991400,
      retryAfterMs: 3000,
    });
    expect(sendCalls()).toHaveLength(3);
  });

  test("close() ends waits for rate limits at once; the send fails as retryable", async () => {
    const { sender, limiter, sendCalls } = clientStack(fake);
    limiter.pauseApp(60_000);
    const pending = sender
      .send({ receiveIdType: "open_id", receiveId: ALICE, text: "later" })
      .catch((e) => e);
    await Bun.sleep(5);
    sender.close();
    expect(await pending).toMatchObject({ code: "feishu_aborted", retryable: true });
    expect(sendCalls()).toHaveLength(0);
  });

  test("an invalid token during a send is refreshed and the send goes through", async () => {
    const { sender, tokens } = clientStack(fake);
    await tokens.get();
    fake.failNext(1, { kind: "invalid_token" });
    await sender.send({ receiveIdType: "open_id", receiveId: ALICE, text: "hi" });
    expect(fake.tokenFetches).toBe(2);
    expect(fake.sent).toHaveLength(1);
  });
});

describe("fairness", () => {
  test("the owner of a send reaches the rate limiter (each part of a long text too), so users share the budget", async () => {
    const owners: Array<string | undefined> = [];
    class RecordingLimiter extends SendRateLimiter {
      override acquire(key: string, opts: AcquireOptions = {}): Promise<void> {
        owners.push(opts.owner);
        return super.acquire(key, opts);
      }
    }
    const { client, log, metrics } = clientStack(fake);
    const sender = new FeishuSender({
      client,
      limiter: new RecordingLimiter({ appPerSecond: 50, chatPerSecond: 5 }),
      log,
      metrics,
    });
    await sender.deliver(
      { kind: "create", receiveIdType: "open_id", receiveId: ALICE },
      { msgType: "text", text: "x".repeat(200_000) },
      { owner: "user:7", retry: "once" },
    );
    expect(owners.length).toBeGreaterThan(1);
    expect(new Set(owners)).toEqual(new Set(["user:7"]));
  });
});
