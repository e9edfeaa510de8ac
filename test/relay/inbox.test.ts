import { describe, expect, spyOn, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { type FdataSync, WalSync } from "../../src/db/wal-sync.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { ACK_FLUSH_MS, type AcceptResult, DEDUPE_WINDOW_MS, GATHER_TURNS } from "../../src/relay/inbox.ts";
import type { InboundMessage } from "../../src/relay/protocol.ts";
import { tempDir } from "../helpers.ts";
import { textMessage } from "./inbound-fixture.ts";
import { sqliteInbox } from "./sqlite-inbox.ts";

function setup(maxPending = 10_000) {
  const { dir, cleanup } = tempDir();
  const db = openDatabase(join(dir, "i.db"));
  migrate(db);
  db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1'), (2, 'ou_2')");
  let now = 1_000_000;
  const { log, lines } = memoryLogger();
  const metrics = new Registry();
  const inbox = sqliteInbox(db, { now: () => now, log, metrics, maxPending });
  return {
    inbox,
    dir,
    lines,
    metrics,
    advance: (ms: number) => (now += ms),
    close: () => {
      db.$client.close();
      cleanup();
    },
  };
}

const msg = (id: string, chatId = "oc_1"): InboundMessage => textMessage(id, { chatId });

/** A database file opened again and again (a relay restarting), each time with a fresh inbox over it. */
function reopenable() {
  const { dir, cleanup } = tempDir();
  const path = join(dir, "r.db");
  const open = () => {
    const db = openDatabase(path);
    migrate(db);
    const { log } = memoryLogger();
    return { db, inbox: sqliteInbox(db, { log, metrics: new Registry() }) };
  };
  return { open, cleanup };
}

describe("inbox", () => {
  test("messages arriving together share one commit and get consecutive seqs per user", async () => {
    const s = setup();
    const results = await Promise.all([
      s.inbox.accept({ userId: 1, eventId: "e1", message: msg("om_1") }),
      s.inbox.accept({ userId: 2, eventId: "e2", message: msg("om_2") }),
      s.inbox.accept({ userId: 1, eventId: "e3", message: msg("om_3") }),
    ]);
    expect(results).toEqual([
      { status: "stored", seq: 1 },
      { status: "stored", seq: 1 },
      { status: "stored", seq: 2 },
    ]);
    expect(s.metrics.render()).toContain("inbox_commit_batch_size_count 1");
    s.close();
  });

  test("duplicates by event_id or by message_id are stored once", async () => {
    const s = setup();
    const flood = await Promise.all(
      Array.from({ length: 1000 }, () =>
        s.inbox.accept({ userId: 1, eventId: "same", message: msg("om_same") }),
      ),
    );
    expect(flood.filter((r) => r.status === "stored")).toHaveLength(1);
    expect(await s.inbox.accept({ userId: 1, eventId: "new-event", message: msg("om_same") })).toEqual({
      status: "duplicate",
    });
    expect(await s.inbox.pending(1)).toHaveLength(1);
    s.close();
  });

  test("cumulative ack; pending counts only what is not done; ack never passes the last seq", async () => {
    const s = setup();
    for (let i = 1; i <= 5; i++)
      await s.inbox.accept({ userId: 1, eventId: `e${i}`, message: msg(`om_${i}`) });
    s.inbox.ack(1, 3);
    expect(await s.inbox.ackedSeq(1)).toBe(3);
    expect(await s.inbox.pendingCount(1)).toBe(2);
    expect((await s.inbox.pending(1)).map((m) => m.seq)).toEqual([4, 5]);
    s.inbox.ack(1, 2);
    expect(await s.inbox.ackedSeq(1)).toBe(3); // acks never go backwards
    s.inbox.ack(1, 99);
    expect(await s.inbox.ackedSeq(1)).toBe(5);
    expect(await s.inbox.pendingCount(1)).toBe(0);
    s.close();
  });

  test("over the per-user cap the oldest unacked are dropped, with a log line and a metric", async () => {
    const s = setup(10);
    for (let i = 1; i <= 13; i++)
      await s.inbox.accept({ userId: 1, eventId: `e${i}`, message: msg(`om_${i}`) });
    expect((await s.inbox.pending(1)).map((m) => m.seq)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(s.lines.some((l) => l.includes('"event":"inbox_cap_reached"'))).toBe(true);
    expect(s.metrics.render()).toContain("inbox_dropped_over_cap_total 3");
    s.close();
  });

  test("over the per-user byte cap the oldest unacked go; acked ones no longer count; the commit says how many and since when", async () => {
    const { dir, cleanup } = tempDir();
    const db = openDatabase(join(dir, "b.db"));
    migrate(db);
    db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1')");
    let now = 5_000;
    const { log } = memoryLogger();
    const metrics = new Registry();
    const inbox = sqliteInbox(db, { now: () => now, log, metrics, maxPendingBytes: 10_000 });
    const big = (id: string): InboundMessage => ({ ...msg(id), text: "b".repeat(2_000), content: {} });
    const accept = (i: number) => {
      now += 1;
      return inbox.accept({ userId: 1, eventId: `e${i}`, message: big(`om_${i}`) });
    };
    // ~2.2 kB each: four fit, the fifth pushes the first out.
    for (let i = 1; i <= 4; i++) expect(await accept(i)).toEqual({ status: "stored", seq: i });
    expect(await accept(5)).toEqual({
      status: "stored",
      seq: 5,
      trimmed: { dropped: 1, oldestReceivedAt: 5_001 },
    });
    expect((await inbox.pending(1)).map((m) => m.seq)).toEqual([2, 3, 4, 5]);
    // Acked messages are done: they leave room for new ones.
    inbox.ack(1, 4);
    inbox.flushAcks();
    for (let i = 6; i <= 8; i++) expect(await accept(i)).toEqual({ status: "stored", seq: i });
    expect(metrics.render()).toContain("inbox_dropped_over_cap_total 1");
    // A batch far over the cap drops several at once, never the newest message.
    const batch = await Promise.all([9, 10, 11, 12, 13].map(accept));
    expect(batch.at(-1)).toMatchObject({ status: "stored", seq: 13, trimmed: { dropped: 5 } });
    expect((await inbox.pending(1)).map((m) => m.seq)).toEqual([10, 11, 12, 13]);
    await inbox.close();
    db.$client.close();
    cleanup();
  });

  test("acks of one turn share one transaction and are durable after it", async () => {
    const s = setup();
    for (let i = 1; i <= 4; i++)
      await s.inbox.accept({ userId: 1, eventId: `e${i}`, message: msg(`om_${i}`) });
    s.inbox.ack(1, 1);
    s.inbox.ack(1, 3);
    s.inbox.ack(1, 2);
    expect(await s.inbox.ackedSeq(1)).toBe(3);
    expect(s.metrics.render()).toContain("inbox_acks_total 1");
    s.close();
  });

  test("acks spread over several turns gather for ACK_FLUSH_MS, then one transaction writes them", async () => {
    const s = setup();
    for (let i = 1; i <= 4; i++)
      await s.inbox.accept({ userId: 1, eventId: `e${i}`, message: msg(`om_${i}`) });
    const started = performance.now();
    for (const seq of [1, 2, 3]) {
      s.inbox.ack(1, seq);
      await Bun.sleep(1); // separate turns, a few ms apart
    }
    // Within the window (unless this machine stalled past it): nothing written yet, as the store,
    // read directly without the inbox's flush-first, shows.
    const inWindow = performance.now() - started < ACK_FLUSH_MS;
    if (inWindow) expect(await s.inbox.store.ackedSeq(1)).toBe(0);
    // Bounded wait for the timer; once it fired, one transaction wrote all three.
    for (let i = 0; i < 200 && (await s.inbox.store.ackedSeq(1)) < 3; i++) await Bun.sleep(ACK_FLUSH_MS);
    expect(await s.inbox.store.ackedSeq(1)).toBe(3);
    if (inWindow) expect(s.metrics.render()).toContain("inbox_acks_total 1");
    s.close();
  });

  test("a read of acked state writes the gathering acks first; close() writes them too", async () => {
    const s = setup();
    const inbox = s.inbox;
    for (let i = 1; i <= 3; i++) await inbox.accept({ userId: 1, eventId: `e${i}`, message: msg(`om_${i}`) });
    inbox.ack(1, 2);
    expect((await inbox.pending(1)).map((m) => m.seq)).toEqual([3]);
    expect(await inbox.store.ackedSeq(1)).toBe(2);
    inbox.ack(1, 3);
    await inbox.close();
    const reopened = openDatabase(join(s.dir, "i.db"));
    expect(reopened.$client.query("SELECT acked_seq AS a FROM users WHERE id = 1").get()).toEqual({ a: 3 });
    reopened.$client.close();
    s.close();
  });

  test("prune drops acked messages past retention (never inside the dedupe window) and stale marks", async () => {
    const s = setup();
    await s.inbox.accept({ userId: 1, eventId: "e1", message: msg("om_1") });
    await s.inbox.accept({ userId: 1, eventId: "e2", message: msg("om_2") });
    expect(await s.inbox.markEventSeen("e_other")).toBe(true);
    s.inbox.ack(1, 1);
    s.advance(1000);
    // Past a short retention but inside the dedupe window: the acked message still dedupes a re-push.
    expect(await s.inbox.prune(500)).toEqual({ messages: 0, marks: 0 });
    expect(await s.inbox.accept({ userId: 1, eventId: "e1", message: msg("om_1") })).toEqual({
      status: "duplicate",
    });
    s.advance(DEDUPE_WINDOW_MS);
    expect(await s.inbox.prune(500)).toEqual({ messages: 1, marks: 1 });
    expect(await s.inbox.isEventSeen("e_other")).toBe(false);
    expect((await s.inbox.pending(1)).map((m) => m.seq)).toEqual([2]);
    // A longer retention keeps acked messages longer.
    s.inbox.ack(1, 2);
    expect(await s.inbox.prune(30 * DEDUPE_WINDOW_MS)).toEqual({ messages: 0, marks: 0 });
    s.close();
  });

  test("prune takes exactly the acked messages received by the cut-off, across users and times (no received_at index)", async () => {
    const s = setup();
    const accept = (userId: number, n: number) =>
      s.inbox.accept({ userId, eventId: `e${n}`, message: msg(`om_${n}`) });
    // t0: user 1 gets seqs 1–3; t0+1 s: user 2 seqs 1–2, user 1 seq 4; t0+2 s: user 1 seq 5.
    await Promise.all([accept(1, 1), accept(1, 2), accept(1, 3)]);
    s.advance(1000);
    await Promise.all([accept(2, 4), accept(2, 5), accept(1, 6)]);
    s.advance(1000);
    await accept(1, 7);
    s.inbox.ack(1, 2);
    s.inbox.ack(2, 1);
    // The cut-off (now − the dedupe window) falls between t0+1 s and t0+2 s.
    s.advance(DEDUPE_WINDOW_MS - 500);
    expect(await s.inbox.prune(0)).toEqual({ messages: 3, marks: 0 });
    expect((await s.inbox.pending(1)).map((m) => m.seq)).toEqual([3, 4, 5]);
    expect((await s.inbox.pending(2)).map((m) => m.seq)).toEqual([2]);
    // The unacked rows it passed over go once acked; the one received after the cut-off stays.
    s.inbox.ack(1, 5);
    expect(await s.inbox.prune(0)).toEqual({ messages: 2, marks: 0 });
    // A re-push of a pruned message is stored again (its row and MessageIds entry are gone); one
    // that was kept is still a duplicate.
    expect(await accept(1, 1)).toMatchObject({ status: "stored" });
    expect(await accept(1, 7)).toEqual({ status: "duplicate" });
    s.close();
  });

  test("an ack writes only the user's cumulative seq, and is still applied across a reopen", async () => {
    const { open, cleanup } = reopenable();
    const a = open();
    a.db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1')");
    for (let i = 1; i <= 3; i++)
      await a.inbox.accept({ userId: 1, eventId: `e${i}`, message: msg(`om_${i}`) });
    a.inbox.ack(1, 2);
    a.inbox.flushAcks();
    // The ack commit runs at NORMAL, then the connection is back at its own level.
    expect(a.db.$client.query<{ synchronous: number }, []>("PRAGMA synchronous").get()!.synchronous).toBe(2);
    a.db.$client.close();
    const b = open();
    expect(await b.inbox.ackedSeq(1)).toBe(2);
    expect((await b.inbox.pending(1)).map((m) => m.seq)).toEqual([3]);
    b.db.$client.close();
    cleanup();
  });

  /**
   * Message 1 now, then one more in each of the next turns up to `last`, each arriving before the
   * inbox's own callback of that turn (as a request read by the loop's I/O does): resolves once all are.
   */
  function arrivingTurnByTurn(s: ReturnType<typeof setup>, last: number) {
    const results: Array<Promise<AcceptResult>> = [];
    const add = (n: number) =>
      results.push(s.inbox.accept({ userId: 1, eventId: `e${n}`, message: msg(`om_${n}`) }));
    const arrived = new Promise<void>((done) => {
      const next = (n: number) =>
        setImmediate(() => {
          add(n);
          if (n < last) next(n + 1);
          else done();
        });
      next(2);
    });
    add(1);
    return arrived.then(() => Promise.all(results));
  }

  test("messages that keep arriving over the next turns join one commit, for at most GATHER_TURNS more turns", async () => {
    const s = setup();
    const four = await arrivingTurnByTurn(s, 4);
    expect(four.map((r) => r.status === "stored" && r.seq)).toEqual([1, 2, 3, 4]);
    expect(s.metrics.render()).toContain("inbox_commit_batch_size_count 1");
    s.close();

    const t = setup();
    const many = await arrivingTurnByTurn(t, 3 * GATHER_TURNS);
    expect(many.map((r) => r.status === "stored" && r.seq)).toEqual(
      Array.from({ length: 3 * GATHER_TURNS }, (_, i) => i + 1),
    );
    // Bounded: a stream that never pauses is not held back in one ever-growing batch.
    const commits = Number(/inbox_commit_batch_size_count (\d+)/.exec(t.metrics.render())?.[1]);
    expect(commits).toBeGreaterThanOrEqual(2);
    t.close();
  });

  test("dedupe holds across a reopen (message ids loaded from the table); rows deleted behind its back stop deduping", async () => {
    const { open, cleanup } = reopenable();
    const a = open();
    a.db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1'), (2, 'ou_2')");
    for (let i = 1; i <= 50; i++)
      await a.inbox.accept({ userId: 1 + (i % 2), eventId: `e${i}`, message: msg(`om_${i}`) });
    a.db.$client.close();
    const b = open();
    // Every stored message is found again, by its event id or its message id.
    for (let i = 1; i <= 50; i++) {
      const again = await b.inbox.accept({ userId: 1 + (i % 2), eventId: `e${i}`, message: msg(`om_${i}`) });
      expect(again).toEqual({ status: "duplicate" });
    }
    expect(await b.inbox.accept({ userId: 2, eventId: "e_other", message: msg("om_1") })).toEqual({
      status: "duplicate",
    });
    // User 2 deleted (their rows cascade): their messages are not stored any more, so not duplicates.
    b.db.$client.run("DELETE FROM users WHERE id = 2");
    expect(await b.inbox.accept({ userId: 1, eventId: "e_again", message: msg("om_1") })).toMatchObject({
      status: "stored",
    });
    expect(await b.inbox.accept({ userId: 1, eventId: "e2", message: msg("om_2") })).toEqual({
      status: "duplicate",
    });
    b.db.$client.close();
    cleanup();
  });

  test("a message dropped over the cap is not stored again by a re-push", async () => {
    const s = setup(10);
    for (let i = 1; i <= 11; i++)
      await s.inbox.accept({ userId: 1, eventId: `e${i}`, message: msg(`om_${i}`) });
    expect((await s.inbox.pending(1))[0]!.seq).toBe(2);
    expect(await s.inbox.accept({ userId: 1, eventId: "e1", message: msg("om_1") })).toEqual({
      status: "duplicate",
    });
    s.close();
  });

  test("a commit is answered, delivered and readable for delivery only after its WAL sync", async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, "w.db");
    const db = openDatabase(path);
    migrate(db);
    db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1')");
    const syncs: Array<(err: NodeJS.ErrnoException | null) => void> = [];
    const fdatasync: FdataSync = (_fd, done) => {
      syncs.push(done);
    };
    const { log, lines } = memoryLogger();
    const inbox = sqliteInbox(db, {
      log,
      metrics: new Registry(),
      walSync: new WalSync({ walPath: `${path}-wal`, fdatasync }),
      inlineCommitMax: 0, // every commit takes the deferred sync here
    });
    const delivered: number[] = [];
    inbox.onStored((stored) => delivered.push(...stored.map((m) => m.seq)));
    let answered = false;
    const first = inbox.accept({ userId: 1, eventId: "e1", message: msg("om_1") }).then((r) => {
      answered = true;
      return r;
    });
    await flushTurns();
    expect(syncs).toHaveLength(1); // committed, fsync under way
    expect(db.$client.query("SELECT seq FROM inbox").all()).toEqual([{ seq: 1 }]);
    expect([answered, delivered, await inbox.pending(1)]).toEqual([false, [], []]);
    syncs[0]!(null);
    expect(await first).toEqual({ status: "stored", seq: 1 });
    expect(delivered).toEqual([1]);
    expect((await inbox.pending(1)).map((m) => m.seq)).toEqual([1]);

    // A failed sync: the caller is refused (Feishu re-pushes, dedupe answers 200), delivery goes on.
    const second = inbox.accept({ userId: 1, eventId: "e2", message: msg("om_2") });
    await flushTurns();
    syncs[1]!(Object.assign(new Error("EIO"), { code: "EIO" }));
    await expect(second).rejects.toThrow("EIO");
    expect(delivered).toEqual([1, 2]);
    expect(lines.some((l) => l.includes('"inbox_sync_failed"'))).toBe(true);
    const again = inbox.accept({ userId: 1, eventId: "e2", message: msg("om_2") });
    await flushTurns();
    syncs[2]!(null);
    expect(await again).toEqual({ status: "duplicate" });
    await inbox.close();
    db.$client.close();
    cleanup();
  });

  /** A file database with user 1, and an inbox whose WAL syncs the test completes by hand. */
  function steadyClock(): () => number {
    let t = 0;
    return () => (t += 0.05);
  }

  function heldSyncs(o: { synchronous?: "NORMAL"; monotonicMs?: () => number; now?: () => number } = {}) {
    const { synchronous } = o;
    const { dir, cleanup } = tempDir();
    const path = join(dir, "i.db");
    const db = openDatabase(path);
    migrate(db);
    if (synchronous) db.$client.run(`PRAGMA synchronous = ${synchronous}`);
    db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1')");
    const syncs: Array<(err: NodeJS.ErrnoException | null) => void> = [];
    const fdatasync: FdataSync = (_fd, done) => {
      syncs.push(done);
    };
    const { log } = memoryLogger();
    const inbox = sqliteInbox(db, {
      log,
      metrics: new Registry(),
      walSync: new WalSync({ walPath: `${path}-wal`, fdatasync }),
      // A steady clock unless the test brings its own: each commit then measures 0.05 ms, so whether a
      // batch goes inline never depends on how loaded the machine running the tests is.
      monotonicMs: o.monotonicMs ?? steadyClock(),
      ...(o.now ? { now: o.now } : {}),
    });
    const answered = new Set<string>();
    const accept = (id: string) =>
      inbox.accept({ userId: 1, eventId: `e_${id}`, message: msg(id) }).then((r) => {
        answered.add(id);
        return r;
      });
    const close = async () => {
      for (const done of syncs) done(null);
      await inbox.close();
      db.$client.close();
      cleanup();
    };
    return { syncs, accept, answered, close, inbox };
  }

  /**
   * Event-loop turns enough for a group commit to gather (GATHER_TURNS more at most) and run. Not a
   * sleep: a 1 ms timer could fire before those turns on a loaded machine, and two groups meant to
   * be separate batches would then commit as one.
   */
  async function flushTurns() {
    for (let i = 0; i < GATHER_TURNS + 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `om_${from + i}`);
  const seqs = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  const seqsOf = (results: AcceptResult[]) => results.map((r) => r.status === "stored" && r.seq);

  /**
   * From seq `from`: five messages (over INLINE_COMMIT_MAX, under the saturated size) take the deferred
   * sync, which the test holds; then twenty more arrive while it runs.
   */
  async function fiveThenTwenty(s: ReturnType<typeof heldSyncs>, from: number) {
    const five = ids(from, 5).map(s.accept);
    await flushTurns();
    const twenty = ids(from + 5, 20).map(s.accept);
    await flushTurns();
    return { five: Promise.all(five), twenty: Promise.all(twenty) };
  }

  /** Both groups stored in order from `from`, and durable with one WAL sync in all (the five's). */
  async function expectStoredWithOneSync(
    s: ReturnType<typeof heldSyncs>,
    groups: Awaited<ReturnType<typeof fiveThenTwenty>>,
    from: number,
  ) {
    expect(seqsOf(await groups.five)).toEqual(seqs(from, 5));
    expect(seqsOf(await groups.twenty)).toEqual(seqs(from + 5, 20));
    expect(s.syncs).toHaveLength(1);
  }

  test("a small batch while no WAL sync is under way commits inline (fsync in COMMIT); others take the deferred sync", async () => {
    const s = heldSyncs();
    try {
      // Light load: one message, nothing syncing. COMMIT at FULL made it durable; no fdatasync asked.
      expect(await s.accept("om_1")).toEqual({ status: "stored", seq: 1 });
      expect(s.syncs).toHaveLength(0);

      // Five together are over INLINE_COMMIT_MAX (4): committed relaxed, answered after the WAL sync.
      const five = ["om_2", "om_3", "om_4", "om_5", "om_6"].map(s.accept);
      await flushTurns();
      expect([s.syncs.length, s.answered.size]).toEqual([1, 1]);

      // While that sync runs, even a single message waits for the next one: answers keep commit order.
      const late = s.accept("om_7");
      await flushTurns();
      expect([s.syncs.length, s.answered.has("om_7")]).toEqual([1, false]);
      s.syncs[0]!(null);
      expect((await Promise.all(five)).map((r) => r.status === "stored" && r.seq)).toEqual([2, 3, 4, 5, 6]);
      await flushTurns();
      expect([s.syncs.length, s.answered.has("om_7")]).toEqual([2, false]);
      s.syncs[1]!(null);
      expect(await late).toEqual({ status: "stored", seq: 7 });

      // Every sync done: light load commits inline again.
      expect(await s.accept("om_8")).toEqual({ status: "stored", seq: 8 });
      expect(s.syncs).toHaveLength(2);
    } finally {
      await s.close();
    }
  });

  test("a saturated loop's batch (16 or more) commits inline too; while a WAL sync runs, it waits for it, then goes inline", async () => {
    const s = heldSyncs();
    try {
      // Twenty at once: one batch, COMMIT at FULL, no fdatasync asked.
      expect(seqsOf(await Promise.all(ids(1, 20).map(s.accept)))).toEqual(seqs(1, 20));
      expect(s.syncs).toHaveLength(0);

      // The twenty that arrive during the five's sync are not committed yet: deferred, they would only
      // wait for the next sync.
      const groups = await fiveThenTwenty(s, 21);
      expect([s.syncs.length, s.answered.size]).toEqual([1, 20]);
      // The sync done, the five are answered and the twenty commit inline: no second sync.
      s.syncs[0]!(null);
      await expectStoredWithOneSync(s, groups, 21);
    } finally {
      await s.close();
    }
  });

  test("closing while a saturated batch waits for the sync under way commits it before the inbox closes", async () => {
    const s = heldSyncs();
    try {
      const groups = await fiveThenTwenty(s, 1);
      expect([s.syncs.length, s.answered.size]).toEqual([1, 0]);
      let closed = false;
      const closing = s.inbox.close().then(() => {
        closed = true;
      });
      await Bun.sleep(5);
      expect(closed).toBe(false);
      s.syncs[0]!(null);
      await closing;
      expect(s.answered.size).toBe(25);
      await expectStoredWithOneSync(s, groups, 1);
    } finally {
      await s.close();
    }
  });

  test("when inline commits are slow for the recent rate, even a single message takes the deferred sync", async () => {
    let t = 1_000_000;
    // Each inline commit takes 25 ms here (a slow disk). Messages at one instant read 10/s each (the
    // rate's 100 ms time constant): the third expects 0.5 messages during its commit, the fourth 0.75.
    let mono = 0;
    const s = heldSyncs({ now: () => t, monotonicMs: () => (mono += 25) });
    try {
      for (const id of ["om_1", "om_2", "om_3"]) await s.accept(id);
      expect(s.syncs).toHaveLength(0);
      const busy = s.accept("om_4");
      await flushTurns();
      expect([s.syncs.length, s.answered.has("om_4")]).toEqual([1, false]);
      s.syncs[0]!(null);
      expect(await busy).toEqual({ status: "stored", seq: 4 });
      t += 60_000; // quiet for a minute: the rate and the slow commits' cost have faded
      expect(await s.accept("om_5")).toEqual({ status: "stored", seq: 5 });
      expect(s.syncs).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  test("deferred commits whose sync is their own keep the cost current: a slow start does not keep a steady rate deferred until it fades", async () => {
    let t = 1_000_000;
    let step = 25; // the first commits take 25 ms (a cold start), every later one 0.1 ms
    let mono = 0;
    const s = heldSyncs({ now: () => t, monotonicMs: () => (mono += step) });
    try {
      let deferred = 0;
      let inlineAgainAt = 0;
      for (let i = 1; i <= 100 && inlineAgainAt === 0; i++) {
        if (i === 3) step = 0.1;
        const before = s.syncs.length;
        const stored = s.accept(`om_${i}`);
        await flushTurns();
        if (s.syncs.length > before) {
          deferred++;
          s.syncs[before]!(null);
        } else if (deferred > 0) inlineAgainAt = i;
        expect(await stored).toEqual({ status: "stored", seq: i });
        t += 1; // 1,000/s
      }
      // Deferred once 25 ms commits at the rising rate expect too many messages meanwhile; back inline
      // after a few dozen fast syncs, not after the 10 s fade.
      expect(deferred).toBeGreaterThan(5);
      expect(inlineAgainAt).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });

  test("a connection that does not fsync at COMMIT never commits inline", async () => {
    const s = heldSyncs({ synchronous: "NORMAL" });
    try {
      const one = s.accept("om_1");
      await flushTurns();
      expect([s.syncs.length, s.answered.size]).toEqual([1, 0]);
      s.syncs[0]!(null);
      expect(await one).toEqual({ status: "stored", seq: 1 });
    } finally {
      await s.close();
    }
  });

  test("with the default WAL sync, an answer waits for the real fdatasync of the WAL file", async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, "d.db");
    const db = openDatabase(path);
    migrate(db);
    db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1')");
    // node's fdatasync is held by the test (then really run): nothing may answer before it completes.
    const real = fs.fdatasync;
    const held: Array<() => void> = [];
    const called = Promise.withResolvers<void>();
    const spy = spyOn(fs, "fdatasync").mockImplementation(((fd: number, done: (e: Error | null) => void) => {
      held.push(() => real(fd, done));
      called.resolve();
    }) as typeof fs.fdatasync);
    try {
      const { log } = memoryLogger();
      const inbox = sqliteInbox(db, { log, metrics: new Registry(), inlineCommitMax: 0 });
      let answered = false;
      const result = inbox.accept({ userId: 1, eventId: "e1", message: msg("om_1") }).then((r) => {
        answered = true;
        return r;
      });
      const answeredFirst = result.then(() => Promise.reject(new Error("answered before any fdatasync")));
      await Promise.race([called.promise, answeredFirst]);
      answeredFirst.catch(() => undefined);
      expect(fs.fstatSync(spy.mock.calls[0]![0] as number).ino).toBe(fs.statSync(`${path}-wal`).ino);
      await new Promise((r) => setImmediate(r));
      expect(answered).toBe(false);
      held[0]!();
      expect(await result).toEqual({ status: "stored", seq: 1 });
      await inbox.close();
    } finally {
      spy.mockRestore();
      db.$client.close();
      cleanup();
    }
  });

  test("chat and message facts used for target authorization", async () => {
    const s = setup();
    await s.inbox.accept({
      userId: 1,
      eventId: "e1",
      message: { ...msg("om_t", "oc_group"), threadId: "omt_1" },
    });
    expect(await s.inbox.chatAllowed(1, "oc_group")).toBe(true);
    expect(await s.inbox.chatAllowed(2, "oc_group")).toBe(false);
    expect(await s.inbox.deliveredMessage(1, "om_t")).toEqual({ chatId: "oc_group", threadId: "omt_1" });
    expect(await s.inbox.deliveredMessage(2, "om_t")).toBeUndefined();
    s.close();
  });
});
