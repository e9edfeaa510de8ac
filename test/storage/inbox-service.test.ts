/**
 * The Inbox service and a plugin connection's delivery over each adapter: on SQLite the reads are
 * synchronous, on PostgreSQL they are awaited; the behaviour a plugin sees must be the same.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { users as pgUsers } from "../../src/db/pg-schema.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { PluginConnection, type SocketLike } from "../../src/relay/connection.ts";
import { Inbox } from "../../src/relay/inbox.ts";
import { registerInboxGauges } from "../../src/relay/inbox-gauges.ts";
import { createInboxStore } from "../../src/relay/inbox-store.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { textMessage } from "../relay/inbound-fixture.ts";
import { eachDialect, freshStorage } from "./databases.ts";

eachDialect("inbox service", (dialect) => {
  let storage: Storage;
  let close: () => Promise<void>;
  let inbox: Inbox;
  let metrics: Registry;

  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    storage = fresh.storage;
    close = fresh.close;
    if (storage.dialect === "sqlite")
      storage.db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1'), (2, 'ou_2')");
    else
      await storage.db.insert(pgUsers).values([
        { id: 1, openId: "ou_1" },
        { id: 2, openId: "ou_2" },
      ]);
    metrics = new Registry();
    const store = createInboxStore(storage, { maxPending: 10_000, maxPendingBytes: 64 * 1024 * 1024 });
    inbox = new Inbox(store, { log: memoryLogger().log, metrics });
  });
  afterEach(async () => {
    await inbox.close();
    await close();
  });

  const accept = (userId: number, id: string, eventId = `e_${id}`) =>
    inbox.accept({ userId, eventId, message: textMessage(id) });

  test("concurrent accepts are answered with gap-free seqs; re-pushes are duplicates", async () => {
    const first = await Promise.all(Array.from({ length: 50 }, (_, i) => accept(1 + (i % 2), `om_${i}`)));
    const later = await Promise.all(Array.from({ length: 50 }, (_, i) => accept(1, `om_x${i}`)));
    const seqs = (results: typeof first, from: number[]) =>
      results.flatMap((r, i) => (r.status === "stored" && from.includes(i) ? [r.seq] : []));
    const evens = Array.from({ length: 25 }, (_, k) => 2 * k);
    expect(seqs(first, evens).sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, k) => k + 1));
    expect(later.map((r) => (r.status === "stored" ? r.seq : 0)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, k) => k + 26),
    );
    expect(await accept(1, "om_0")).toEqual({ status: "duplicate" });
    expect(await accept(1, "om_1", "e_other")).toEqual({ status: "duplicate" });
    expect(metrics.render()).toContain('events_deduped_total{by="event_id"} 1');
    expect(metrics.render()).toContain('events_deduped_total{by="message_id"} 1');
    expect(await inbox.pendingCount(1)).toBe(75);
  });

  test("more messages at once than one commit may carry are committed in several, all stored", async () => {
    const n = Math.min(inbox.store.maxBatch * 2, 2000) + 500;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => accept(1 + (i % 2), `om_${i}`)));
    expect(results.filter((r) => r.status === "stored")).toHaveLength(n);
    expect(await inbox.pendingCount(1)).toBe(n / 2);
    const commits = Number(/inbox_commit_batch_size_count (\d+)/.exec(metrics.render())?.[1]);
    expect(commits).toBeGreaterThanOrEqual(Math.ceil(n / inbox.store.maxBatch));
  });

  test("acks of one turn are written together; reads after them see the new ack", async () => {
    for (let i = 1; i <= 4; i++) await accept(1, `om_${i}`);
    inbox.ack(1, 2);
    inbox.ack(1, 3);
    inbox.ack(1, 1);
    expect(await inbox.ackedSeq(1)).toBe(3);
    expect((await inbox.pending(1)).map((m) => m.seq)).toEqual([4]);
    inbox.ack(1, 99);
    expect(await inbox.pendingCount(1)).toBe(0);
    expect(await inbox.ackedSeq(1)).toBe(4);
    expect(metrics.render()).toContain("inbox_acks_total 2");
  });

  test("event marks: new once, then seen", async () => {
    expect(await inbox.markEventSeen("ev")).toBe(true);
    expect(await inbox.markEventSeen("ev")).toBe(false);
    expect(await inbox.isEventSeen("ev")).toBe(true);
    expect(await inbox.isEventSeen("never")).toBe(false);
  });

  test("a connection gets replay and live messages in seq order, each once, while both interleave", async () => {
    for (let i = 0; i < 230; i++) void accept(1, `om_old_${i}`);
    await accept(1, "om_old_last");
    const written: number[] = [];
    const socket: SocketLike = {
      send: (data) => {
        written.push((JSON.parse(data) as { seq: number }).seq);
        return 1;
      },
      close() {},
    };
    const conn = new PluginConnection(
      socket,
      { id: 1, openId: "ou_1", name: "", tokenVersion: 1 },
      "s",
      false,
      inbox,
      { delivered() {} },
      0,
    );
    inbox.onStored((stored) => conn.deliverLive(stored.filter((m) => m.userId === 1)));
    conn.pump();
    const live = Array.from({ length: 120 }, (_, i) => accept(1, `om_live_${i}`));
    await Promise.all(live);
    const deadline = Date.now() + 5000;
    while (written.length < 351 && Date.now() < deadline) await Bun.sleep(5);
    expect(written).toEqual(Array.from({ length: 351 }, (_, i) => i + 1));
  });

  test("backlog gauges show this scrape's figures on both dialects (PostgreSQL's read awaited first)", async () => {
    registerInboxGauges(metrics, inbox.store, () => 61_000);
    const scrape = async () => {
      await metrics.refresh();
      return Number(/^inbox_pending_messages (\S+)$/m.exec(metrics.render())?.[1]);
    };
    await accept(1, "om_1");
    await accept(2, "om_2");
    expect(await scrape()).toBe(2);
    await accept(1, "om_3");
    expect(await scrape()).toBe(3);
  });

  test("close waits for the commit under way", async () => {
    const pending = accept(2, "om_closing");
    await Bun.sleep(0);
    await inbox.close();
    expect(await pending).toEqual({ status: "stored", seq: 1 });
  });
});
