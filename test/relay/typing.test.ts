/** The typing indicator's rules, with a scripted reaction port, a real SQLite file and a fake clock. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { FeishuApiError } from "../../src/feishu/api-error.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import type { StoredMessage } from "../../src/relay/inbox.ts";
import { type ReactionPort, TypingIndicator, type TypingOptions } from "../../src/relay/typing.ts";
import { SqliteTypingStore } from "../../src/relay/typing-store.ts";
import { tempDir } from "../helpers.ts";

const T0 = 1_800_000_000_000;

/** A reaction port whose answers the test scripts; calls are recorded; `hold` keeps an add in flight. */
function scriptedPort() {
  const calls: Array<{ op: "add" | "remove"; messageId: string; reactionId?: string }> = [];
  const failures: unknown[] = [];
  let held: { release: () => void } | undefined;
  let holdNext = false;
  const port: ReactionPort = {
    async add(messageId) {
      calls.push({ op: "add", messageId });
      if (holdNext) {
        holdNext = false;
        await new Promise<void>((release) => {
          held = { release };
        });
      }
      const f = failures.shift();
      if (f) throw f;
      return `r_${messageId}`;
    },
    async remove(messageId, reactionId) {
      calls.push({ op: "remove", messageId, reactionId });
      const f = failures.shift();
      if (f) throw f;
    },
  };
  return {
    port,
    calls,
    failNext: (...errs: unknown[]) => failures.push(...errs),
    holdNextAdd: () => {
      holdNext = true;
    },
    release: () => held?.release(),
  };
}

const apiError = (code: number, status = 400, retryAfterMs?: number) =>
  new FeishuApiError({
    kind: "api",
    code,
    msg: "x",
    status,
    retryable: status === 429 || status >= 500 || code === 99991400,
    retryAfterMs,
  });
const throttle = () => apiError(99991400, 429, 1000);

function setUp(over: Partial<TypingOptions> = {}, dbPath?: string) {
  const { dir, cleanup } = tempDir();
  const path = dbPath ?? join(dir, "relay.db");
  const db = openDatabase(path);
  migrate(db);
  db.$client.run("INSERT OR IGNORE INTO users (id, open_id) VALUES (1, 'ou_a'), (2, 'ou_b')");
  let now = T0;
  const script = scriptedPort();
  const metrics = new Registry();
  const { log, lines } = memoryLogger();
  const make = () =>
    new TypingIndicator({
      store: new SqliteTypingStore(db.$client, () => {}),
      reactions: script.port,
      enabled: true,
      timeoutMs: 600_000,
      now: () => now,
      log,
      metrics,
      ...over,
    });
  const typing = make();
  let seq = 0;
  const message = (o: { userId?: number; ageMs?: number; id?: string } = {}): StoredMessage => {
    seq++;
    const messageId = o.id ?? `om_m${seq}`;
    return {
      userId: o.userId ?? 1,
      seq,
      receivedAt: now - (o.ageMs ?? 0),
      payload: "{}",
      message: {
        messageId,
        chatId: "oc_c",
        chatType: "p2p",
        sender: { openId: "ou_a" },
        mentionedBot: false,
        msgType: "text",
        text: "hi",
        content: { text: "hi" },
        mentions: [],
        createTime: now - (o.ageMs ?? 0),
      },
    } as StoredMessage;
  };
  const rows = () => db.$client.query("SELECT message_id AS m, reaction_id AS r FROM typing_reactions").all();
  const count = (action: string) => metrics.counter("typing_reactions_total", "").get({ action });
  return {
    typing,
    make,
    script,
    message,
    rows,
    count,
    lines,
    path,
    advance: (ms: number) => {
      now += ms;
    },
    close: () => {
      db.$client.close();
      cleanup();
    },
  };
}

describe("typing indicator", () => {
  test("a live message gets Typing, recorded with its id; the reply removes it", async () => {
    const t = setUp();
    const m = t.message();
    t.typing.delivered(m);
    await t.typing.settled();
    expect(t.rows()).toEqual([{ m: m.message.messageId, r: `r_${m.message.messageId}` }]);
    t.typing.replied(m.message.messageId);
    await t.typing.settled();
    expect(t.script.calls.map((c) => c.op)).toEqual(["add", "remove"]);
    expect(t.rows()).toEqual([]);
    expect([t.count("added"), t.count("removed")]).toEqual([1, 1]);
    t.close();
  });

  test("one reaction per message: a redelivery while held adds nothing", async () => {
    const t = setUp();
    const m = t.message();
    t.typing.delivered(m);
    t.typing.delivered(m);
    await t.typing.settled();
    t.typing.delivered(m);
    await t.typing.settled();
    expect(t.script.calls).toHaveLength(1);
    t.close();
  });

  test("old messages (by Feishu's createTime or our receivedAt) and non-Feishu ids get none", async () => {
    const t = setUp();
    t.typing.delivered(t.message({ ageMs: 120_001 }));
    const late = t.message();
    late.receivedAt -= 200_000;
    t.typing.delivered(late);
    t.typing.delivered(t.message({ id: "cron_1" }));
    t.typing.delivered(t.message({ ageMs: 119_000 }));
    await t.typing.settled();
    expect(t.script.calls).toHaveLength(1);
    expect(t.count("skipped")).toBe(2);
    t.close();
  });

  test("switched off: no calls at all", async () => {
    const t = setUp({ enabled: false });
    t.typing.delivered(t.message());
    await t.typing.settled();
    expect(t.script.calls).toEqual([]);
    t.close();
  });

  test("an ack removes every held reaction of that user up to its seq, not others", async () => {
    const t = setUp();
    const [a, b, c, other] = [t.message(), t.message(), t.message(), t.message({ userId: 2 })];
    for (const m of [a, b, c, other]) t.typing.delivered(m);
    await t.typing.settled();
    t.typing.acked(1, b.seq);
    await t.typing.settled();
    const removed = t.script.calls.filter((x) => x.op === "remove").map((x) => x.messageId);
    expect(removed.sort()).toEqual([a.message.messageId, b.message.messageId].sort());
    expect(
      t
        .rows()
        .map((r) => (r as { m: string }).m)
        .sort(),
    ).toEqual([c.message.messageId, other.message.messageId].sort());
    t.close();
  });

  test("a removal asked for while the add is in flight happens right after the add answers", async () => {
    const t = setUp();
    const m = t.message();
    t.script.holdNextAdd();
    t.typing.delivered(m);
    await Bun.sleep(0);
    t.typing.replied(m.message.messageId);
    expect(t.script.calls.map((c) => c.op)).toEqual(["add"]);
    t.script.release();
    await t.typing.settled();
    expect(t.script.calls.map((c) => c.op)).toEqual(["add", "remove"]);
    expect(t.rows()).toEqual([]);
    t.close();
  });

  test("the sweep removes reactions held past the timeout", async () => {
    const t = setUp({ timeoutMs: 60_000 });
    const m = t.message();
    t.typing.delivered(m);
    await t.typing.settled();
    t.advance(59_000);
    t.typing.sweep();
    await t.typing.settled();
    expect(t.script.calls).toHaveLength(1);
    t.advance(1_000);
    t.typing.sweep();
    await t.typing.settled();
    expect(t.script.calls.map((c) => c.op)).toEqual(["add", "remove"]);
    expect(t.rows()).toEqual([]);
    t.close();
  });

  test("a 429 on add stops adding for a minute, doubling, reset by a success; never retried", async () => {
    const t = setUp();
    t.script.failNext(throttle());
    t.typing.delivered(t.message());
    await t.typing.settled();
    expect(t.typing.pausedUntil).toBe(T0 + 60_000);
    t.typing.delivered(t.message());
    await t.typing.settled();
    expect(t.script.calls).toHaveLength(1);
    expect(t.count("skipped")).toBe(1);
    expect(t.rows()).toEqual([]);
    t.advance(60_000);
    t.script.failNext(apiError(99991403));
    t.typing.delivered(t.message());
    await t.typing.settled();
    expect(t.typing.pausedUntil).toBe(T0 + 60_000 + 120_000);
    t.advance(120_000);
    t.typing.delivered(t.message());
    await t.typing.settled();
    expect(t.count("added")).toBe(1);
    // The success reset the back-off: the next trip pauses one minute again.
    t.script.failNext(throttle());
    t.typing.delivered(t.message());
    await t.typing.settled();
    expect(t.typing.pausedUntil - (T0 + 180_000)).toBe(60_000);
    t.close();
  });

  test("removals go on while adding is paused", async () => {
    const t = setUp();
    const m = t.message();
    t.typing.delivered(m);
    await t.typing.settled();
    t.script.failNext(throttle());
    t.typing.delivered(t.message());
    await t.typing.settled();
    expect(t.typing.pausedUntil).toBeGreaterThan(0);
    t.typing.replied(m.message.messageId);
    await t.typing.settled();
    expect(t.script.calls.at(-1)).toMatchObject({ op: "remove", messageId: m.message.messageId });
    t.close();
  });

  test("a removal that fails transiently is retried by the sweep a few times, then the row is dropped", async () => {
    const t = setUp();
    const m = t.message();
    t.typing.delivered(m);
    await t.typing.settled();
    t.script.failNext(apiError(2200, 500), apiError(2200, 500), apiError(2200, 500));
    t.typing.replied(m.message.messageId);
    await t.typing.settled();
    expect(t.rows()).toHaveLength(1);
    for (let i = 0; i < 4; i++) {
      t.typing.sweep();
      await t.typing.settled();
    }
    expect(t.script.calls.filter((c) => c.op === "remove")).toHaveLength(3);
    expect(t.rows()).toEqual([]);
    expect(t.count("failed")).toBe(1);
    t.close();
  });

  test("a recalled message (231003) or a permanent error drops the row without retries", async () => {
    const t = setUp();
    const m = t.message();
    t.typing.delivered(m);
    await t.typing.settled();
    t.script.failNext(apiError(231003));
    t.typing.replied(m.message.messageId);
    await t.typing.settled();
    t.typing.sweep();
    await t.typing.settled();
    expect(t.script.calls.filter((c) => c.op === "remove")).toHaveLength(1);
    expect(t.rows()).toEqual([]);
    t.script.failNext(apiError(231003));
    t.typing.delivered(t.message());
    await t.typing.settled();
    expect(t.rows()).toEqual([]);
    expect(t.typing.pausedUntil).toBe(0);
    t.close();
  });

  test("at start-up, reactions left by the last run are removed and their rows dropped", async () => {
    const t = setUp();
    const held = t.message();
    t.typing.delivered(held);
    await t.typing.settled();
    // A crash during an add leaves a row without a reaction id.
    t.script.holdNextAdd();
    t.typing.delivered(t.message());
    // The row is committed before the call goes out; the "crash" comes while Feishu has it.
    for (let i = 0; i < 100 && t.script.calls.length < 2; i++) await Bun.sleep(1);
    expect(t.script.calls).toHaveLength(2);
    const next = t.make();
    expect(await next.cleanUpLeftovers()).toBe(2);
    await next.settled();
    expect(t.script.calls.filter((c) => c.op === "remove").map((c) => c.messageId)).toEqual([
      held.message.messageId,
    ]);
    expect(t.rows()).toEqual([]);
    t.script.release();
    await t.typing.stop();
    t.close();
  });
});
