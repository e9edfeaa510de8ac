import { afterEach, describe, expect, test } from "bun:test";
import type { RelayContext } from "../../src/context.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { startInboxMaintenance } from "../../src/relay/inbox-maintenance.ts";
import type { InboundMessage } from "../../src/relay/protocol.ts";
import { testRelay } from "../helpers.ts";
import { sqlGet } from "../storage/sql.ts";

const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function message(id: string): InboundMessage {
  return {
    messageId: id,
    chatId: "oc_1",
    chatType: "p2p",
    sender: { openId: "ou_a" },
    mentionedBot: false,
    msgType: "text",
    text: "t",
    content: { text: "t" },
    mentions: [],
    createTime: 0,
  };
}

/** A context whose inbox only records prune calls (optionally failing), for the timer tests. */
function recordingCtx(fail = false) {
  const { log, lines } = memoryLogger();
  const calls: number[] = [];
  const waiters: Array<() => void> = [];
  const hooks: Array<() => void> = [];
  const ctx = {
    inbox: {
      prune(ms: number) {
        calls.push(ms);
        for (const wake of waiters.splice(0)) wake();
        if (fail) throw new Error("database is locked");
        return { messages: 1, marks: 2 };
      },
    },
    config: { INBOX_RETENTION: 60 },
    log,
    onShutdown: (_phase: string, _name: string, fn: () => void) => hooks.push(fn),
  } as unknown as Pick<RelayContext, "inbox" | "config" | "log" | "onShutdown">;
  const nextCall = () => new Promise<void>((r) => waiters.push(r));
  return { ctx, calls, lines, hooks, nextCall };
}

describe("inbox maintenance", () => {
  test("prunes acked messages past INBOX_RETENTION and stale dedupe marks", async () => {
    const clock = { t: 1_000_000_000 };
    const t = await testRelay({ INBOX_RETENTION: "1h" }, { now: () => clock.t });
    closers.push(() => t.close());
    const { ctx } = t.relay;
    const userId = await (await ctx.users.upsert({ openId: "ou_a" })).user.id;
    await ctx.inbox.accept({ userId, eventId: "e1", message: message("om_1") });
    await ctx.inbox.accept({ userId, eventId: "e2", message: message("om_2") });
    ctx.inbox.ack(userId, 1);
    await ctx.inbox.markEventSeen("e_ignored");
    const maintenance = startInboxMaintenance(ctx);
    const rows = async () =>
      (await sqlGet<{ n: number }>(ctx.storage, "SELECT CAST(count(*) AS INTEGER) AS n FROM inbox"))!.n;
    await maintenance.runOnce();
    expect(await ctx.inbox.pending(userId)).toHaveLength(1);
    expect(await rows()).toBe(2);
    // Past the 1 h retention, but an acked message also stays for the 8 h dedupe window.
    clock.t += 3600 * 1000 + 1;
    await maintenance.runOnce();
    expect(await rows()).toBe(2);
    clock.t += 8 * 3600 * 1000;
    await maintenance.runOnce();
    expect(await rows()).toBe(1); // the unacked one stays, whatever its age
    expect(await ctx.inbox.isEventSeen("e_ignored")).toBe(false);
    expect(t.lines.some((l) => l.includes('"inbox_pruned"'))).toBe(true);
  });

  test("runs on its timer with the configured retention, and stops on shutdown", async () => {
    const { ctx, calls, hooks, nextCall } = recordingCtx();
    const maintenance = startInboxMaintenance(ctx, 5);
    closers.push(() => maintenance.stop());
    await nextCall();
    await nextCall();
    expect(calls.slice(0, 2)).toEqual([60_000, 60_000]);
    for (const hook of hooks) hook();
    const after = calls.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(calls.length).toBe(after);
  });

  test("a failing pass is logged and the next one still runs", async () => {
    const { ctx, lines, nextCall } = recordingCtx(true);
    const maintenance = startInboxMaintenance(ctx, 5);
    closers.push(() => maintenance.stop());
    await nextCall();
    await nextCall();
    expect(lines.filter((l) => l.includes('"inbox_prune_failed"')).length).toBeGreaterThanOrEqual(1);
  });
});
