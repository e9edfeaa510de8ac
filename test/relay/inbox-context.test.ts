/**
 * M2-4: the inbox holds a message that wants context until its lookup settles; the messages after
 * it (same user) wait too, other users do not; the enriched payload is what gets delivered.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import type { ContextSource, StoredMessage } from "../../src/relay/inbox.ts";
import { SeqHolds } from "../../src/relay/inbox-holds.ts";
import type { InboundMessage } from "../../src/relay/protocol.ts";
import { tempDir } from "../helpers.ts";
import { textMessage } from "./inbound-fixture.ts";
import { sqliteInbox } from "./sqlite-inbox.ts";

/** A context source whose lookups the test settles by message id. */
function controlledSource() {
  const waiting = new Map<string, (m: InboundMessage | undefined) => void>();
  const asked: string[] = [];
  const source: ContextSource = {
    prefill: (m) => {
      if (m.chatId === "oc_known") m.chatName = "Known";
    },
    wants: (m) => m.parentId !== undefined,
    enrich: (m) => {
      asked.push(m.messageId);
      return new Promise((resolve) => waiting.set(m.messageId, resolve));
    },
  };
  const settle = (id: string, m?: InboundMessage) => waiting.get(id)!(m);
  return { source, asked, settle };
}

function setup() {
  const { dir, cleanup } = tempDir();
  const db = openDatabase(join(dir, "c.db"));
  migrate(db);
  db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1'), (2, 'ou_2')");
  const { log } = memoryLogger();
  const inbox = sqliteInbox(db, { log, metrics: new Registry() });
  const delivered: Array<{ userId: number; seq: number; text: string }> = [];
  const released: number[] = [];
  inbox.onStored((stored: StoredMessage[]) =>
    delivered.push(...stored.map((m) => ({ userId: m.userId, seq: m.seq, text: m.message.text }))),
  );
  inbox.onReleased((userId) => released.push(userId));
  const ctl = controlledSource();
  inbox.useContext(ctl.source);
  let n = 0;
  const accept = (userId: number, over: Partial<InboundMessage> = {}) => {
    n++;
    return inbox.accept({ userId, eventId: `e${n}`, message: { ...textMessage(`om_${n}`), ...over } });
  };
  return {
    inbox,
    db,
    delivered,
    released,
    ...ctl,
    accept,
    close: () => {
      db.$client.close();
      cleanup();
    },
  };
}

const seqs = (ms: StoredMessage[]) => ms.map((m) => m.seq);

describe("inbox: holding messages for their context", () => {
  test("a message that needs nothing is neither held nor looked up; prefill is stored", async () => {
    const s = setup();
    expect(await s.accept(1, { chatId: "oc_known" })).toEqual({ status: "stored", seq: 1 });
    expect(s.asked).toEqual([]);
    expect(s.delivered.map((d) => d.seq)).toEqual([1]);
    expect((await s.inbox.pending(1))[0]?.message.chatName).toBe("Known");
    s.close();
  });

  test("a held message and those after it wait; other users do not; release delivers the enriched payload", async () => {
    const s = setup();
    // Ingest is answered after the commit, before the lookup ends.
    expect(await s.accept(1, { parentId: "om_p" })).toEqual({ status: "stored", seq: 1 });
    await s.accept(1);
    await s.accept(2);
    expect(s.asked).toEqual(["om_1"]);
    expect(s.delivered).toEqual([{ userId: 2, seq: 1, text: "om_3" }]);
    expect(seqs(await s.inbox.pending(1))).toEqual([]);
    expect(seqs(await s.inbox.pending(2))).toEqual([1]);

    const enriched = {
      ...textMessage("om_1"),
      parentId: "om_p",
      quoted: { messageId: "om_p", msgType: "text", text: "q" },
    };
    s.settle("om_1", enriched);
    await Bun.sleep(0);
    expect(s.released).toEqual([1]);
    const pending = await s.inbox.pending(1);
    expect(seqs(pending)).toEqual([1, 2]);
    expect(pending[0]?.message.quoted?.text).toBe("q");
    expect(JSON.parse(pending[0]!.payload).quoted.messageId).toBe("om_p");
    s.close();
  });

  test("a later held message released first does not let the earlier one through", async () => {
    const s = setup();
    await s.accept(1, { parentId: "om_a" });
    await s.accept(1, { parentId: "om_b" });
    s.settle("om_2", undefined);
    await Bun.sleep(0);
    expect(s.released).toEqual([]);
    expect(seqs(await s.inbox.pending(1))).toEqual([]);
    s.settle("om_1", undefined);
    await Bun.sleep(0);
    expect(s.released).toEqual([1]);
    expect(seqs(await s.inbox.pending(1))).toEqual([1, 2]);
    s.close();
  });

  test("a lookup that fails still releases the message, stored as it was", async () => {
    const s = setup();
    const failing: ContextSource = {
      prefill: () => {},
      wants: () => true,
      enrich: () => Promise.reject(new Error("boom")),
    };
    s.inbox.useContext(failing);
    await s.accept(1, { text: "as is" });
    await Bun.sleep(0);
    expect(s.released).toEqual([1]);
    expect((await s.inbox.pending(1)).map((m) => m.message.text)).toEqual(["as is"]);
    s.close();
  });

  test("a failing prefill or wants stores and delivers the message without context", async () => {
    const s = setup();
    s.inbox.useContext({
      prefill: () => {
        throw new Error("prefill bug");
      },
      wants: () => {
        throw new Error("wants bug");
      },
      enrich: () => Promise.resolve(undefined),
    });
    expect(await s.accept(1)).toEqual({ status: "stored", seq: 1 });
    expect(seqs(await s.inbox.pending(1))).toEqual([1]);
    s.close();
  });
});

describe("SeqHolds", () => {
  test("first is the lowest held seq; release says when it moved", () => {
    const h = new SeqHolds();
    h.hold(1, 5);
    h.hold(1, 7);
    h.hold(1, 6);
    h.hold(2, 1);
    expect([h.first(1), h.size]).toEqual([5, 4]);
    expect(h.release(1, 6)).toBe(false);
    expect(h.release(1, 5)).toBe(true);
    expect(h.first(1)).toBe(7);
    expect(h.release(1, 99)).toBe(false);
    expect(h.release(1, 7)).toBe(true);
    expect(h.first(1)).toBeUndefined();
  });
});
