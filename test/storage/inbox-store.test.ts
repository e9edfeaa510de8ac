import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { DrizzleQueryError } from "drizzle-orm";
import { users as pgUsers } from "../../src/db/pg-schema.ts";
import type { AcceptResult } from "../../src/relay/inbox.ts";
import type { BatchItem } from "../../src/relay/inbox-batch.ts";
import { type CommitOutcome, createInboxStore, type InboxStore } from "../../src/relay/inbox-store.ts";
import { isPostgresDatabaseWide } from "../../src/relay/inbox-store-postgres.ts";
import type { InboundMessage } from "../../src/relay/protocol.ts";
import { createSessionStore, type SessionWrite } from "../../src/relay/session-store.ts";
import { closeStorage, openStorage, type Storage } from "../../src/storage/storage.ts";
import { textMessage } from "../relay/inbound-fixture.ts";
import { eachDialect, freshStorage } from "./databases.ts";
import { sqlRun } from "./sql.ts";

const LIMITS = { maxPending: 1000, maxPendingBytes: 64 * 1024 * 1024 };

async function addUsers(storage: Storage, ids: number[]): Promise<void> {
  if (storage.dialect === "sqlite") {
    for (const id of ids)
      storage.db.$client.run("INSERT INTO users (id, open_id) VALUES (?, ?)", [id, `ou_${id}`]);
  } else {
    await storage.db.insert(pgUsers).values(ids.map((id) => ({ id, openId: `ou_${id}` })));
  }
}

/** A second relay process on the same database (SQLite: another connection to the file). */
const secondNode = (storage: Storage) =>
  openStorage(storage.dialect === "sqlite" ? { DATABASE_PATH: storage.path } : { DATABASE_URL: storage.url });

const item = (userId: number, eventId: string, message: InboundMessage): BatchItem => ({
  item: { userId, eventId, message },
  payload: JSON.stringify(message),
});
const msg = (userId: number, id: string, chatId = "oc_1") =>
  item(userId, `e_${id}`, textMessage(id, { chatId }));

const sessionOpen = (id: string, userId: number, at: number): SessionWrite => ({
  kind: "open",
  id,
  userId,
  at,
  remoteAddress: null,
  userAgent: null,
  pluginVersion: null,
  protocol: "v1",
});

const seqsOf = (results: Array<AcceptResult | Error>) =>
  results.map((r) => (r instanceof Error ? "error" : r.status === "stored" ? r.seq : "duplicate"));

eachDialect("inbox store", (dialect) => {
  let storage: Storage;
  let close: () => Promise<void>;
  let store: InboxStore;
  const others: Storage[] = [];
  let now = 1_000_000;

  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    storage = fresh.storage;
    close = fresh.close;
    store = createInboxStore(storage, LIMITS);
    await addUsers(storage, [1, 2, 3]);
  });
  afterEach(async () => {
    await store.close();
    for (const s of others.splice(0)) await closeStorage(s);
    await close();
  });

  const commit = async (s: InboxStore, batch: BatchItem[]) => {
    now += 1;
    const out = await s.commit(batch, now);
    await out.durable;
    return out;
  };
  const pendingSeqs = async (s: InboxStore, userId: number, after = 0) =>
    (await s.pending(userId, after, 1000, Number.MAX_SAFE_INTEGER)).map((r) => r.seq);

  test("a batch takes consecutive seqs per user and reads back in order", async () => {
    const out = await commit(store, [msg(1, "om_a"), msg(2, "om_b"), msg(1, "om_c")]);
    expect(seqsOf(out.results)).toEqual([1, 1, 2]);
    expect(out.stored.map((m) => [m.userId, m.seq])).toEqual(
      expect.arrayContaining([
        [1, 1],
        [1, 2],
        [2, 1],
      ]),
    );
    const rows = await store.pending(1, 0, 10, Number.MAX_SAFE_INTEGER);
    expect(rows.map((r) => [r.seq, JSON.parse(r.payload).messageId])).toEqual([
      [1, "om_a"],
      [2, "om_c"],
    ]);
    expect(rows[0]!.receivedAt).toBe(now);
    expect(await store.pendingCount(1)).toBe(2);
    expect(await pendingSeqs(store, 1, 1)).toEqual([2]);
    // `below`: delivery stops before a seq not yet durable or held for its context.
    expect((await store.pending(1, 0, 10, 2)).map((r) => r.seq)).toEqual([1]);
  });

  test("a re-push by event id or by message id is a duplicate and takes no seq", async () => {
    await commit(store, [msg(1, "om_1")]);
    const again = await commit(store, [
      msg(1, "om_1"),
      item(1, "e_other", textMessage("om_1")),
      msg(1, "om_2"),
      msg(1, "om_2"),
    ]);
    expect(seqsOf(again.results)).toEqual(["duplicate", "duplicate", 2, "duplicate"]);
    expect(again.duplicates).toEqual({ event_id: 2, message_id: 1 });
    // An event marked without a message (an unknown sender) is a duplicate when pushed again.
    expect(await store.markSeen("e:e_seen", now)).toBe(true);
    expect(await store.markSeen("e:e_seen", now)).toBe(false);
    expect(await store.isSeen("e:e_seen")).toBe(true);
    const marked = await commit(store, [item(1, "e_seen", textMessage("om_3")), msg(1, "om_4")]);
    expect(seqsOf(marked.results)).toEqual(["duplicate", 3]);
  });

  // Several writers on one database is cluster mode, PostgreSQL only: SQLite has one writer process (the
  // relay's file lock), which its in-memory message id map (inbox-message-ids.ts) relies on.
  test.if(dialect === "postgres")(
    "two nodes committing the same message at once store it exactly once",
    async () => {
      const other = await secondNode(storage);
      others.push(other);
      const b = createInboxStore(other, LIMITS);
      for (let round = 0; round < 10; round++) {
        const same = msg(1, `om_same_${round}`);
        const [x, y] = await Promise.all([commit(store, [same]), commit(b, [same])]);
        const stored = [...x.results, ...y.results].filter(
          (r) => !(r instanceof Error) && r.status === "stored",
        );
        expect(stored).toHaveLength(1);
        expect([...x.results, ...y.results].filter((r) => r instanceof Error)).toEqual([]);
      }
      expect(await pendingSeqs(store, 1)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await b.close();
    },
  );

  test.if(dialect === "postgres")(
    "seqs stay gap-free per user under concurrent commits of two nodes, overlapping re-pushes included",
    async () => {
      const other = await secondNode(storage);
      others.push(other);
      const b = createInboxStore(other, LIMITS);
      const unique = new Set<string>();
      for (let round = 0; round < 8; round++) {
        const batchA = [msg(1, `a${round}`), msg(2, `s${round}`), msg(1, `x${round}`), msg(3, `t${round}`)];
        const batchB = [msg(2, `s${round}`), msg(1, `b${round}`), msg(3, `u${round}`), msg(1, `x${round}`)];
        for (const m of [...batchA, ...batchB]) unique.add(m.item.message.messageId);
        const [x, y] = await Promise.all([commit(store, batchA), commit(b, batchB)]);
        expect([...x.results, ...y.results].filter((r) => r instanceof Error)).toEqual([]);
      }
      let total = 0;
      for (const userId of [1, 2, 3]) {
        const seqs = await pendingSeqs(store, userId);
        expect(seqs).toEqual(seqs.map((_, i) => i + 1));
        const ids = (await store.pending(userId, 0, 1000, Number.MAX_SAFE_INTEGER)).map(
          (r) => JSON.parse(r.payload).messageId,
        );
        expect(new Set(ids).size).toBe(ids.length);
        total += seqs.length;
      }
      expect(total).toBe(unique.size);
      await b.close();
    },
  );

  test("commits, ack flushes and session writes of two nodes, users in any order, never deadlock", async () => {
    const other = await secondNode(storage);
    others.push(other);
    const b = createInboxStore(other, LIMITS);
    const sessionsA = createSessionStore(storage, "a");
    const sessionsB = createSessionStore(other, "b");
    for (let round = 0; round < 10; round++) {
      const order = round % 2 === 0 ? [1, 2, 3] : [3, 2, 1];
      const at = 100 + round;
      const work = await Promise.allSettled([
        commit(
          store,
          order.map((u) => msg(u, `p${round}_${u}`)),
        ),
        commit(
          b,
          [...order].reverse().map((u) => msg(u, `q${round}_${u}`)),
        ),
        store.ack(order.map((u) => [u, round] as const)),
        b.ack([...order].reverse().map((u) => [u, round + 1] as const)),
        sessionsA.write(order.map((u) => ({ kind: "close", id: `none_${u}`, userId: u, at, code: 1000 }))),
        sessionsB.write([3, 1, 2].map((u) => ({ ...sessionOpen(`s${round}_${u}`, u, at) }))),
      ]);
      expect(work.filter((w) => w.status === "rejected")).toEqual([]);
      for (const w of work.slice(0, 2)) {
        const results = w.status === "fulfilled" ? (w.value as CommitOutcome).results : [];
        expect(results.filter((r) => r instanceof Error)).toEqual([]);
      }
    }
    for (const userId of [1, 2, 3])
      expect(await pendingSeqs(store, userId, 0)).toHaveLength(20 - (await store.ackedSeq(userId)));
    await b.close();
  });

  test("the byte cap of several users of one batch is summed in one go and applied to each", async () => {
    const big = (userId: number, id: string) =>
      item(userId, `e_${id}`, textMessage(id, { text: "y".repeat(400) }));
    const size = big(1, "om_x").payload.length;
    const capped = createInboxStore(storage, { maxPending: 1000, maxPendingBytes: size * 2 });
    await commit(capped, [big(1, "a1"), big(2, "b1"), big(1, "a2"), big(2, "b2")]);
    // A fresh store knows nothing of these users: their bytes are summed from the table.
    const fresh = createInboxStore(storage, { maxPending: 1000, maxPendingBytes: size * 2 });
    const out = await commit(fresh, [big(1, "a3"), big(2, "b3"), big(3, "c1")]);
    expect(out.results).toEqual([
      { status: "stored", seq: 3, trimmed: { dropped: 1, oldestReceivedAt: now - 1 } },
      { status: "stored", seq: 3, trimmed: { dropped: 1, oldestReceivedAt: now - 1 } },
      { status: "stored", seq: 1 },
    ]);
    expect(await pendingSeqs(fresh, 1)).toEqual([2, 3]);
    expect(await pendingSeqs(fresh, 2)).toEqual([2, 3]);
    await capped.close();
    await fresh.close();
  });

  test("one user's bad part fails alone; the others of the batch are stored", async () => {
    const out = await commit(store, [msg(1, "om_ok"), msg(99, "om_nobody"), msg(2, "om_ok2")]);
    expect(out.results[0]).toEqual({ status: "stored", seq: 1 });
    expect(out.results[1]).toBeInstanceOf(Error);
    expect(out.results[2]).toEqual({ status: "stored", seq: 1 });
    // The failed message took nothing: pushed again for a real user, it is new.
    const again = await commit(store, [item(3, "e_om_nobody", textMessage("om_nobody"))]);
    expect(seqsOf(again.results)).toEqual([1]);
  });

  test("ack is cumulative, never moves back and never passes the last seq", async () => {
    await commit(
      store,
      [1, 2, 3, 4, 5].map((i) => msg(1, `om_${i}`)),
    );
    expect(await store.ack([[1, 3]])).toBe(1);
    expect(await store.ackedSeq(1)).toBe(3);
    expect(await store.pendingCount(1)).toBe(2);
    expect(await pendingSeqs(store, 1)).toEqual([4, 5]);
    expect(await store.ack([[1, 2]])).toBe(0);
    expect(await store.ackedSeq(1)).toBe(3);
    expect(
      await store.ack([
        [2, 7],
        [1, 99],
      ]),
    ).toBe(1);
    expect(await store.ackedSeq(1)).toBe(5);
    expect(await store.ackedSeq(2)).toBe(0);
    expect(await store.pendingCount(1)).toBe(0);
  });

  test("over the cap the oldest unacked are dropped, marked, and not stored again by a re-push", async () => {
    const capped = createInboxStore(storage, { maxPending: 3, maxPendingBytes: LIMITS.maxPendingBytes });
    await commit(
      capped,
      [1, 2, 3].map((i) => msg(1, `om_${i}`)),
    );
    const firstAt = now;
    const out = await commit(capped, [msg(1, "om_4"), msg(1, "om_5")]);
    expect(out.results).toEqual([
      { status: "stored", seq: 4 },
      { status: "stored", seq: 5, trimmed: { dropped: 2, oldestReceivedAt: firstAt } },
    ]);
    expect(await pendingSeqs(capped, 1)).toEqual([3, 4, 5]);
    const again = await commit(capped, [item(1, "e_new", textMessage("om_1"))]);
    expect(seqsOf(again.results)).toEqual(["duplicate"]);
    await capped.close();
  });

  test("the byte cap drops the oldest until the unacked payload fits; acked bytes no longer count", async () => {
    const big = (id: string) => item(1, `e_${id}`, textMessage(id, { text: "x".repeat(400) }));
    const size = big("om_1").payload.length;
    const capped = createInboxStore(storage, { maxPending: 1000, maxPendingBytes: size * 3 });
    await commit(capped, [big("om_1"), big("om_2"), big("om_3")]);
    const out = await commit(capped, [big("om_4")]);
    expect(out.results[0]).toMatchObject({ status: "stored", seq: 4, trimmed: { dropped: 1 } });
    await capped.ack([[1, 4]]);
    const later = await commit(capped, [big("om_5"), big("om_6"), big("om_7")]);
    expect(later.results.every((r) => !(r instanceof Error) && r.status === "stored" && !r.trimmed)).toBe(
      true,
    );
    await capped.close();
  });

  test("chats, message facts, payload rewrite and quoted lookups", async () => {
    const threaded = { ...textMessage("om_t", { chatId: "oc_group" }), threadId: "omt_1" };
    const quoting = { ...textMessage("om_q"), quoted: { messageId: "om_orig", text: "q" } } as InboundMessage;
    await commit(store, [item(1, "e_t", threaded), item(1, "e_q", quoting)]);
    expect(await store.chatAllowed(1, "oc_group")).toBe(true);
    expect(await store.chatAllowed(2, "oc_group")).toBe(false);
    expect(await store.deliveredMessage(1, "om_t")).toEqual({ chatId: "oc_group", threadId: "omt_1" });
    expect(await store.deliveredMessage(2, "om_t")).toBeUndefined();
    expect(await store.latestMessageId(1)).toBe("om_q");
    expect(await store.latestMessageId(2)).toBeUndefined();
    await store.rewrite(1, 1, JSON.stringify({ ...threaded, chatName: "G" }));
    expect(JSON.parse((await store.payloadOf(1, "om_t"))!).chatName).toBe("G");
    expect(await store.payloadOf(2, "om_t")).toBeUndefined();
    expect(JSON.parse((await store.quotingPayload(1, "om_orig"))!).messageId).toBe("om_q");
    expect(await store.quotingPayload(2, "om_orig")).toBeUndefined();
  });

  test("prune drops acked messages and marks up to their cut-offs; the backlog counts the unacked", async () => {
    await commit(store, [msg(1, "om_1"), msg(1, "om_2"), msg(2, "om_3")]);
    const at = now;
    await store.markSeen("e:old", at);
    await store.ack([[1, 1]]);
    expect(await store.backlog()).toEqual({ pending: 2, oldestReceivedAt: at });
    expect(await store.prune(at - 1, at - 1)).toEqual({ messages: 0, marks: 0 });
    expect(await store.prune(at, at)).toEqual({ messages: 1, marks: 1 });
    expect(await store.isSeen("e:old")).toBe(false);
    expect(await pendingSeqs(store, 1)).toEqual([2]);
    await store.ack([
      [1, 2],
      [2, 1],
    ]);
    expect(await store.backlog()).toEqual({ pending: 0, oldestReceivedAt: null });
  });

  test("a message stored before a restart is a duplicate after it; once pruned it is new again", async () => {
    await commit(store, [msg(1, "om_kept"), msg(1, "om_pruned")]);
    const at = now;
    await store.close();
    store = createInboxStore(storage, LIMITS);
    const again = await commit(store, [msg(1, "om_kept"), item(1, "e_other", textMessage("om_pruned"))]);
    expect(seqsOf(again.results)).toEqual(["duplicate", "duplicate"]);
    expect(again.duplicates).toEqual({ event_id: 1, message_id: 1 });
    expect(await store.deliveredMessage(1, "om_kept")).toEqual({ chatId: "oc_1", threadId: undefined });
    await store.ack([[1, 2]]);
    expect(await store.prune(at, at)).toEqual({ messages: 2, marks: 0 });
    expect(await store.deliveredMessage(1, "om_kept")).toBeUndefined();
    expect(await store.payloadOf(1, "om_kept")).toBeUndefined();
    expect(seqsOf((await commit(store, [msg(1, "om_pruned")])).results)).toEqual([3]);
  });

  test("a mark written before a restart still makes a duplicate after it; once pruned the event is new", async () => {
    expect(await store.markSeen("e:e_marked", now)).toBe(true);
    const at = now;
    await store.close();
    store = createInboxStore(storage, LIMITS);
    expect(await store.isSeen("e:e_marked")).toBe(true);
    const again = await commit(store, [item(1, "e_marked", textMessage("om_m")), msg(1, "om_n")]);
    expect(seqsOf(again.results)).toEqual(["duplicate", 1]);
    expect(again.duplicates).toEqual({ event_id: 1, message_id: 0 });
    expect(await store.prune(at, at)).toEqual({ messages: 0, marks: 1 });
    expect(await store.isSeen("e:e_marked")).toBe(false);
    expect(seqsOf((await commit(store, [item(1, "e_marked", textMessage("om_m"))])).results)).toEqual([2]);
  });

  test("rows deleted behind the store's back (a user deleted) are neither duplicates nor found", async () => {
    await commit(store, [msg(2, "om_gone")]);
    expect(await store.payloadOf(2, "om_gone")).toBeDefined();
    await sqlRun(storage, "DELETE FROM users WHERE id = 2");
    expect(await store.deliveredMessage(2, "om_gone")).toBeUndefined();
    expect(await store.payloadOf(2, "om_gone")).toBeUndefined();
    expect(seqsOf((await commit(store, [msg(1, "om_gone")])).results)).toEqual([1]);
    expect(await store.deliveredMessage(1, "om_gone")).toEqual({ chatId: "oc_1", threadId: undefined });
  });
});

describe("PostgreSQL errors that fail the whole commit", () => {
  const server = (errno: string) =>
    Object.assign(new Error("x"), { code: "ERR_POSTGRES_SERVER_ERROR", errno });
  test("connection, resources, shutdown and aborted-transaction errors are database-wide", () => {
    expect(isPostgresDatabaseWide(server("53100"))).toBe(true); // disk full
    expect(isPostgresDatabaseWide(server("08006"))).toBe(true);
    expect(isPostgresDatabaseWide(server("57P01"))).toBe(true);
    expect(isPostgresDatabaseWide(server("25P02"))).toBe(true);
    expect(
      isPostgresDatabaseWide(Object.assign(new Error("closed"), { code: "ERR_POSTGRES_CONNECTION_CLOSED" })),
    ).toBe(true);
    // Drizzle wraps the driver's error.
    expect(isPostgresDatabaseWide(new DrizzleQueryError("INSERT …", [], server("53100")))).toBe(true);
  });
  test("a row's own error (a constraint, bad input) fails only its message", () => {
    expect(isPostgresDatabaseWide(server("23503"))).toBe(false);
    expect(isPostgresDatabaseWide(server("22021"))).toBe(false);
    expect(isPostgresDatabaseWide(new Error("user 9 does not exist"))).toBe(false);
  });
});
