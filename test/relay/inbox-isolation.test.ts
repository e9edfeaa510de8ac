import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import type { InboundMessage } from "../../src/relay/protocol.ts";
import { holdWriteLock } from "../db/write-lock.ts";
import { tempDir } from "../helpers.ts";
import { textMessage } from "./inbound-fixture.ts";
import { sqliteInbox } from "./sqlite-inbox.ts";

const USERS = 150;

function setup() {
  const { dir, cleanup } = tempDir();
  const path = join(dir, "i.db");
  const db = openDatabase(path);
  migrate(db);
  const insertUser = db.$client.query("INSERT INTO users (id, open_id) VALUES (?, ?)");
  for (let id = 1; id <= USERS; id++) insertUser.run(id, `ou_${id}`);
  const { log, lines } = memoryLogger();
  const inbox = sqliteInbox(db, { log, metrics: new Registry() });
  return {
    path,
    db,
    inbox,
    lines,
    stored: () => db.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM inbox").get()!.n,
    close: async () => {
      await inbox.close();
      db.$client.close();
      cleanup();
    },
  };
}

const msg = (id: string): InboundMessage => textMessage(id);

/** A structure JSON.stringify cannot serialise (RangeError), as a 60,000-deep content once was. */
function tooDeep(): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let node = root;
  for (let i = 0; i < 60_000; i++) {
    const next: Record<string, unknown> = {};
    node.x = next;
    node = next;
  }
  return root;
}

const settle = (p: Promise<unknown>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (err: Error) => ({ ok: false as const, err }),
  );

describe("one bad message fails alone, never its batch", () => {
  test("a message that cannot be serialised is refused alone; 150 other users' messages of its batch are stored", async () => {
    const s = setup();
    const good = Array.from({ length: USERS }, (_, k) =>
      settle(s.inbox.accept({ userId: k + 1, eventId: `e${k}`, message: msg(`om_${k}`) })),
    );
    const poisoned = settle(
      s.inbox.accept({ userId: 7, eventId: "e_bad", message: { ...msg("om_bad"), content: tooDeep() } }),
    );
    const results = await Promise.all(good);
    expect(results.every((r) => r.ok && (r.value as { status: string }).status === "stored")).toBe(true);
    const bad = await poisoned;
    expect(bad.ok).toBe(false);
    expect(bad.ok ? "" : (bad.err as Error & { code?: string }).code).toBe("unstorable_message");
    expect(s.stored()).toBe(USERS);
    await s.close();
  });

  test("a failing insert rolls back that message only: the same user's other messages and everyone else's are stored", async () => {
    const s = setup();
    const broken = { ...msg("om_broken"), chatId: undefined as unknown as string }; // NOT NULL chat_id
    const all = [
      settle(s.inbox.accept({ userId: 1, eventId: "e_a", message: msg("om_a") })),
      settle(s.inbox.accept({ userId: 1, eventId: "e_broken", message: broken })),
      settle(s.inbox.accept({ userId: 1, eventId: "e_b", message: msg("om_b") })),
      settle(s.inbox.accept({ userId: 999, eventId: "e_nobody", message: msg("om_nobody") })),
      ...Array.from({ length: 20 }, (_, k) =>
        settle(s.inbox.accept({ userId: k + 2, eventId: `e${k}`, message: msg(`om_${k}`) })),
      ),
    ];
    const [a, brokenResult, b, nobody, ...others] = await Promise.all(all);
    expect([a, b].map((r) => r!.ok && r!.value)).toEqual([
      { status: "stored", seq: 1 },
      { status: "stored", seq: 2 },
    ]);
    expect(brokenResult!.ok).toBe(false);
    expect(nobody!.ok).toBe(false);
    expect(others.every((r) => r.ok)).toBe(true);
    expect((await s.inbox.pending(1)).map((m) => m.message.messageId)).toEqual(["om_a", "om_b"]);
    expect(s.stored()).toBe(22);
    expect(s.lines.filter((l) => l.includes('"inbox_message_failed"'))).toHaveLength(2);
    // The failed message left no dedupe mark: a re-push of a fixed copy is stored.
    expect(await s.inbox.accept({ userId: 1, eventId: "e_broken", message: msg("om_broken") })).toEqual({
      status: "stored",
      seq: 3,
    });
    await s.close();
  });
});

describe("write transactions wait for the write lock instead of failing with SQLITE_BUSY", () => {
  // A deferred transaction reads first; its upgrade to a writer gets SQLITE_BUSY at once, without the
  // busy handler, while another connection (the checkpoint worker's RESTART) holds the write lock.
  test("the inbox commit (dedupe reads, then inserts) waits for the lock", async () => {
    const s = setup();
    const lock = await holdWriteLock(s.path, 150);
    const result = await settle(s.inbox.accept({ userId: 1, eventId: "e1", message: msg("om_1") }));
    expect(result).toEqual({ ok: true, value: { status: "stored", seq: 1 } });
    await lock.released;
    expect(s.inbox.writeStatus()).toBe("ok");
    await s.close();
  });

  test("the ack flush (reads the acked seq, then writes it) waits for the lock", async () => {
    const s = setup();
    await s.inbox.accept({ userId: 1, eventId: "e1", message: msg("om_1") });
    const lock = await holdWriteLock(s.path, 150);
    s.inbox.ack(1, 1);
    expect(() => s.inbox.flushAcks()).not.toThrow();
    await lock.released;
    expect(await s.inbox.ackedSeq(1)).toBe(1);
    await s.close();
  });

  test("dedupe marks and pruning (single statements) wait for the lock too", async () => {
    const s = setup();
    let lock = await holdWriteLock(s.path, 150);
    expect(await s.inbox.markEventSeen("e_other")).toBe(true);
    await lock.released;
    lock = await holdWriteLock(s.path, 150);
    expect(await s.inbox.prune(0)).toEqual({ messages: 0, marks: 0 });
    await lock.released;
    await s.close();
  });
});
