/**
 * The stream manager in virtual time: card creation, coalesced and spaced updates, the final, idle
 * and start-up closes. Feishu is a recording stand-in here; the end-to-end tests use the fake server.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { FeishuApiError } from "../../src/feishu/api-error.ts";
import type { CardStep } from "../../src/feishu/cardkit.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import type { DraftFrame } from "../../src/relay/protocol.ts";
import { SqliteStreamStore } from "../../src/relay/stream-store.ts";
import {
  CREATE_BACKOFF_MS,
  type StreamFeishu,
  StreamManager,
  type StreamManagerOptions,
} from "../../src/relay/streams.ts";
import type { DeliveryTarget } from "../../src/relay/targets.ts";
import { VirtualTime } from "../feishu/virtual-time.ts";
import { tempDir } from "../helpers.ts";

const USER = { id: 1, openId: "ou_me" };

interface Call {
  op: "create" | "content" | "replace" | "settings" | "deliver";
  at: number;
  text?: string;
  step?: CardStep;
  priority?: string;
  target?: DeliveryTarget;
  uuid?: string;
}

const apiError = (code: number, status = 400, retryable = false) =>
  new FeishuApiError({ kind: "api", code, msg: `fake ${code}`, status, retryable });

/** A recording Feishu: each call takes `latencyMs` of virtual time; `failures` answer the next calls. */
function recordingFeishu(vt: VirtualTime, latencyMs = 30) {
  const calls: Call[] = [];
  const failures: Array<{ op: Call["op"]; err: Error; when?: (c: Call) => boolean }> = [];
  let messages = 0;
  const run = async (call: Call) => {
    await vt.sleep(latencyMs);
    calls.push(call);
    const i = failures.findIndex((f) => f.op === call.op && (f.when?.(call) ?? true));
    if (i >= 0) throw failures.splice(i, 1)[0]!.err;
  };
  const feishu: StreamFeishu = {
    cards: {
      async createCard(card, opts) {
        await run({ op: "create", at: vt.now(), text: JSON.stringify(card), priority: opts.priority });
        return "7001";
      },
      async streamContent(_card, _el, text, step, opts) {
        await run({ op: "content", at: vt.now(), text, step, priority: opts.priority });
      },
      async replaceElement(_card, _el, element, step, opts) {
        await run({
          op: "replace",
          at: vt.now(),
          text: String(element.content),
          step,
          priority: opts.priority,
        });
      },
      async closeStreaming(_card, summary, step, opts) {
        await run({ op: "settings", at: vt.now(), text: summary, step, priority: opts.priority });
      },
    },
    async deliver(target, msg, opts) {
      await run({ op: "deliver", at: vt.now(), target, text: msg.text, uuid: opts.uuid });
      return [`om_out${++messages}`];
    },
  };
  return { feishu, calls, failures, of: (op: Call["op"]) => calls.filter((c) => c.op === op) };
}

function setup(more: Partial<StreamManagerOptions> = {}, dbPath?: string) {
  const dir = dbPath ? undefined : tempDir();
  const path = dbPath ?? join(dir!.dir, "s.db");
  const db = openDatabase(path);
  migrate(db);
  db.$client.run("INSERT OR IGNORE INTO users (id, open_id) VALUES (1, 'ou_me')");
  const vt = new VirtualTime();
  const fs = recordingFeishu(vt);
  const { log, lines } = memoryLogger();
  const metrics = new Registry();
  const cardsSent: string[] = [];
  const streams = new StreamManager(new SqliteStreamStore(db), {
    now: vt.now,
    log,
    metrics,
    feishu: () => fs.feishu,
    targets: {
      deliveredMessage: (_u, id) => (id === "om_in" ? { chatId: "oc_1" } : undefined),
      chatAllowed: () => false,
    },
    enabled: true,
    intervalMs: 200,
    idleMs: 600_000,
    sleep: vt.sleep,
    onCardSent: (replyTo) => cardsSent.push(replyTo),
    ...more,
  });
  const row = (streamId: string) =>
    db.$client
      .query(
        "SELECT status, sequence, shown_text AS shown, card_id AS cardId FROM streams WHERE stream_id = ?",
      )
      .get(streamId) as { status: string; sequence: number; shown: string; cardId: string } | null;
  return { db, path, vt, fs, streams, lines, metrics, cardsSent, row, close: () => db.$client.close() };
}

const draft = (text: string, streamId = "om_in:0", id = "d"): DraftFrame => ({
  type: "draft",
  id,
  replyTo: "om_in",
  streamId,
  text,
});

/** Drafts the growing answer every `everyMs` for `count` drafts. */
async function drafting(s: ReturnType<typeof setup>, count: number, everyMs: number, streamId = "om_in:0") {
  const answers = [];
  for (let i = 1; i <= count; i++) {
    answers.push(await s.streams.draft(USER, draft(`word `.repeat(i), streamId, `d${i}`)));
    await s.vt.sleep(everyMs);
  }
  return answers;
}

describe("stream manager", () => {
  test("the first draft creates one card and sends it as the reply; later drafts are coalesced and spaced", async () => {
    const s = setup();
    const answers = await s.vt.run(drafting(s, 100, 20));
    expect(answers.every((a) => a === undefined)).toBe(true);
    expect(s.fs.of("create")).toHaveLength(1);
    const [card] = s.fs.of("deliver");
    expect(card!.target).toEqual({ kind: "reply", messageId: "om_in", replyInThread: false, chatId: "oc_1" });
    expect(s.cardsSent).toEqual(["om_in"]);
    const created = JSON.parse(s.fs.of("create")[0]!.text!);
    expect(created.schema).toBe("2.0");
    expect(created.config.streaming_mode).toBe(true);
    expect(created.body.elements[0]).toEqual({ tag: "markdown", element_id: "content", content: "word " });
    // ~2 s of drafts at 20 ms: at most one update per 200 ms (plus call time), far fewer than drafts.
    const updates = s.fs.of("content");
    expect(updates.length).toBeGreaterThan(5);
    expect(updates.length).toBeLessThanOrEqual(11);
    for (let i = 1; i < updates.length; i++)
      expect(updates[i]!.at - updates[i - 1]!.at).toBeGreaterThanOrEqual(200);
    const seqs = updates.map((u) => u.step!.sequence);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(
      updates.every((u) => u.priority === "update" && u.step!.uuid === `c_7001_${u.step!.sequence}`),
    ).toBe(true);
    // The newest text ends up shown and stored.
    await s.vt.run(s.vt.sleep(1000));
    expect(s.row("om_in:0")).toMatchObject({ status: "open", shown: "word ".repeat(100), cardId: "7001" });
    expect(s.metrics.render()).toContain('stream_card_updates_total{outcome="coalesced"}');
    s.close();
  });

  test("the final waits for the update in flight, writes its text, ends streaming; later drafts are ignored", async () => {
    const s = setup();
    await s.vt.run(drafting(s, 10, 50));
    const ids = await s.vt.run(s.streams.finish(1, "om_in:0", "the **final** answer", "u1:f1"));
    expect(ids).toEqual(["om_out1"]);
    const tail = s.fs.calls.slice(-2);
    expect(tail.map((c) => [c.op, c.text, c.priority])).toEqual([
      ["content", "the **final** answer", "final"],
      ["settings", "the **final** answer", "final"],
    ]);
    expect(tail[1]!.step!.sequence).toBeGreaterThan(tail[0]!.step!.sequence);
    expect(s.row("om_in:0")).toMatchObject({ status: "final", shown: "the **final** answer" });
    const before = s.fs.calls.length;
    expect(await s.vt.run(s.streams.draft(USER, draft("late")))).toBeUndefined();
    // A retry of the final (the outbox after a crash) answers the same ids without touching the card.
    expect(await s.vt.run(s.streams.finish(1, "om_in:0", "the **final** answer", "u1:f1"))).toEqual([
      "om_out1",
    ]);
    await s.vt.run(s.vt.sleep(1000));
    expect(s.fs.calls.length).toBe(before);
    s.close();
  });

  test("a final failing transiently is retried by the caller: the sequence continues, the card ends once", async () => {
    const s = setup();
    await s.vt.run(drafting(s, 3, 300));
    s.fs.failures.push({ op: "settings", err: apiError(2200, 500, true) });
    const failed = await s.vt.run(s.streams.finish(1, "om_in:0", "final", "u1:t").catch((e) => e));
    expect(failed).toBeInstanceOf(FeishuApiError);
    expect(s.row("om_in:0")!.status).toBe("open");
    expect(await s.vt.run(s.streams.finish(1, "om_in:0", "final", "u1:t"))).toEqual(["om_out1"]);
    const seqs = s.fs.calls.filter((c) => c.step).map((c) => c.step!.sequence);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(s.row("om_in:0")).toMatchObject({ status: "final", sequence: seqs.at(-1) });
    s.close();
  });

  test("a final equal to the text already shown only ends streaming (one card call)", async () => {
    const s = setup();
    await s.vt.run(drafting(s, 3, 300));
    const before = s.fs.calls.length;
    expect(await s.vt.run(s.streams.finish(1, "om_in:0", "word word word ", "u1:same"))).toEqual(["om_out1"]);
    expect(s.fs.calls.slice(before).map((c) => c.op)).toEqual(["settings"]);
    expect(s.row("om_in:0")!.status).toBe("final");
    s.close();
  });

  test("a final that does not fit one card continues in messages in the same chat, uuids from the send's", async () => {
    const s = setup({ chunk: (text) => text.split("|") });
    await s.vt.run(drafting(s, 2, 50));
    const ids = await s.vt.run(s.streams.finish(1, "om_in:0", "one|two|three", "u1:big"));
    expect(ids).toEqual(["om_out1", "om_out2", "om_out3"]);
    const overflow = s.fs.of("deliver").slice(1);
    expect(overflow.map((d) => [d.text, d.target])).toEqual([
      ["two", { kind: "create", receiveIdType: "chat_id", receiveId: "oc_1" }],
      ["three", { kind: "create", receiveIdType: "chat_id", receiveId: "oc_1" }],
    ]);
    expect(overflow.map((d) => d.uuid)).toEqual(["u1:big:o-0", "u1:big:o-1"]);
    expect(s.fs.of("content").at(-1)!.text).toBe("one");
    s.close();
  });

  test("a rate-limited update is skipped, not retried at once; the newest text follows on a later tick", async () => {
    const s = setup();
    await s.vt.run(drafting(s, 3, 50));
    for (let i = 0; i < 3; i++) s.fs.failures.push({ op: "content", err: apiError(230020) });
    await s.vt.run(drafting(s, 30, 50));
    await s.vt.run(s.vt.sleep(3000));
    const updates = s.fs.of("content");
    // Three refused, each followed by a pause of at least a second, then the newest text.
    const gaps = updates.slice(1).map((u, i) => u.at - updates[i]!.at);
    expect(gaps.every((g) => g >= 200)).toBe(true);
    expect(updates.length).toBeLessThan(20);
    expect(s.row("om_in:0")!.shown).toBe("word ".repeat(30));
    expect(s.metrics.render()).toContain('stream_card_updates_total{outcome="throttled"} 3');
    s.close();
  });

  test("a failed card creation answers stream_unavailable, the user's new streams too for 60 s; its final is ordinary", async () => {
    const s = setup();
    s.fs.failures.push({ op: "create", err: apiError(99991672) });
    const first = await s.vt.run(s.streams.draft(USER, draft("hi")));
    expect(first).toMatchObject({ code: "stream_unavailable" });
    expect(s.row("om_in:0")!.status).toBe("failed");
    expect(await s.vt.run(s.streams.draft(USER, draft("hi again")))).toBeUndefined();
    expect(await s.vt.run(s.streams.draft(USER, draft("x", "om_in:1")))).toMatchObject({
      code: "stream_unavailable",
    });
    expect(await s.vt.run(s.streams.finish(1, "om_in:0", "final", "u1:x"))).toBeUndefined();
    s.vt.advance(CREATE_BACKOFF_MS);
    expect(await s.vt.run(s.streams.draft(USER, draft("x", "om_in:2")))).toBeUndefined();
    expect(s.fs.of("create")).toHaveLength(2);
    s.close();
  });

  test("streaming switched off, or a target the user may not address, is refused", async () => {
    const off = setup({ enabled: false });
    expect(await off.streams.draft(USER, draft("hi"))).toMatchObject({ code: "stream_unavailable" });
    expect(off.streams.available).toBe(false);
    off.close();
    const s = setup();
    expect(await s.streams.draft(USER, { ...draft("hi"), replyTo: "om_other" })).toMatchObject({
      code: "forbidden_target",
    });
    expect(s.fs.calls).toHaveLength(0);
    s.close();
  });

  test("an idle stream is closed with what it shows; a later final replaces the element", async () => {
    const s = setup({ idleMs: 60_000 });
    await s.vt.run(drafting(s, 5, 50));
    await s.vt.run(s.vt.sleep(1000));
    expect(s.streams.closeIdle()).toBe(0);
    s.vt.advance(60_000);
    expect(s.streams.closeIdle()).toBe(1);
    await s.vt.run(s.vt.sleep(10_000));
    expect(s.fs.calls.at(-1)).toMatchObject({ op: "settings", text: "word word word word word" });
    expect(s.row("om_in:0")!.status).toBe("closed");
    const ids = await s.vt.run(s.streams.finish(1, "om_in:0", "done", "u1:d"));
    expect(ids).toEqual(["om_out1"]);
    expect(s.fs.calls.slice(-2).map((c) => [c.op, c.text])).toEqual([
      ["replace", "done"],
      ["settings", "done"],
    ]);
    s.close();
  });

  test("at start-up open streams are closed with their shown text, sequence continuing above the stored one", async () => {
    const first = setup();
    await first.vt.run(drafting(first, 5, 250));
    const before = first.row("om_in:0")!;
    first.close();
    const s = setup({}, first.path);
    expect(await s.vt.run(s.streams.recover())).toBe(1);
    const [close] = s.fs.calls;
    expect(close).toMatchObject({ op: "settings", text: before.shown.trim() });
    expect(close!.step!.sequence).toBe(before.sequence + 1);
    expect(s.row("om_in:0")!.status).toBe("closed");
    s.close();
  });

  test("at start-up a final for a stream still queued for closing does not wait for the others' closes", async () => {
    const first = setup();
    for (const id of ["a", "b", "c"]) await first.vt.run(drafting(first, 2, 250, id));
    first.close();
    const s = setup({}, first.path);
    // The first close meets a Feishu outage: it retries with back-off (1 s, 2 s, 4 s, 8 s).
    const outage = {
      op: "settings" as const,
      err: apiError(2200, 500, true),
      when: (c: Call) => c.text !== "final c",
    };
    for (let i = 0; i < 5; i++) s.fs.failures.push(outage);
    const recovering = s.streams.recover();
    const t0 = s.vt.now();
    const ids = await s.vt.run(s.streams.finish(1, "c", "final c", "u1:c"));
    expect(ids).toHaveLength(1);
    expect(s.vt.now() - t0).toBeLessThan(1000);
    expect(await s.vt.run(recovering)).toBe(3);
    expect(s.row("c")!.status).toBe("final");
    expect(s.row("b")!.status).toBe("closed");
    s.close();
  });

  test("a content PUT refused because Feishu closed streaming stops updates; the final still lands", async () => {
    const s = setup();
    await s.vt.run(drafting(s, 2, 50));
    s.fs.failures.push({ op: "content", err: apiError(300309) });
    await s.vt.run(drafting(s, 5, 250));
    expect(s.row("om_in:0")!.status).toBe("closed");
    const contents = s.fs.of("content").length;
    await s.vt.run(drafting(s, 5, 250));
    expect(s.fs.of("content").length).toBe(contents);
    expect(await s.vt.run(s.streams.finish(1, "om_in:0", "end", "u1:e"))).toEqual(["om_out1"]);
    expect(s.fs.calls.at(-2)).toMatchObject({ op: "replace", text: "end" });
    s.close();
  });
});
