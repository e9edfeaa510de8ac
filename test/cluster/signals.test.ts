import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { createSignals, type Signal, type Signals } from "../../src/cluster/signals.ts";
import { SIGNAL_CHANNEL } from "../../src/cluster/signals-postgres.ts";
import { Logger } from "../../src/ops/logger.ts";
import { closeStorage, openStorage, type Storage } from "../../src/storage/storage.ts";
import { eachDialect, freshPostgresUrl, freshStorage, postgresReachable } from "../storage/databases.ts";
import { waitFor } from "./wait.ts";

const quiet = new Logger("error");
type Seen = Array<{ signal: Signal; fromSelf: boolean }>;

function record(signals: Signals): Seen {
  const seen: Seen = [];
  signals.onSignal((signal, fromSelf) => seen.push({ signal, fromSelf }));
  return seen;
}

eachDialect("signals port", (dialect) => {
  let close: () => Promise<void>;
  let signals: Signals;
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    signals = createSignals(fresh.storage, "node-a", quiet);
    await signals.start();
    close = async () => {
      await signals.stop();
      await fresh.close();
    };
  });
  afterEach(() => close());

  test("a published signal reaches this node's handlers, marked as its own", async () => {
    const seen = record(signals);
    await signals.publish({ type: "inbox", userId: 7 });
    await waitFor(() => seen.length === 1, "the signal");
    expect(seen).toEqual([{ signal: { type: "inbox", userId: 7 }, fromSelf: true }]);
  });

  test("signals published in one tick arrive in order, each once", async () => {
    const seen = record(signals);
    const sent: Signal[] = [
      { type: "connected", userId: 1, nodeId: "node-a", sessionId: "s1", at: 1_700_000_000_000 },
      { type: "inbox", userId: 1 },
      { type: "revoked", userId: 2 },
      { type: "revoked", userId: 3 },
      ...Array.from({ length: 50 }, (_, i): Signal => ({ type: "inbox", userId: 100 + i })),
    ];
    await Promise.all(sent.map((s) => signals.publish(s)));
    await waitFor(() => seen.length >= sent.length, "every signal");
    expect(seen.map((s) => s.signal)).toEqual(sent);
  });

  test("handlers never run inside publish (no re-entry)", async () => {
    const seen = record(signals);
    const p = signals.publish({ type: "inbox", userId: 1 });
    expect(seen).toEqual([]);
    await p;
  });
});

const pgUp = await postgresReachable();
const pgDescribe = pgUp ? describe : describe.skip;

pgDescribe("signals between nodes [postgres]", () => {
  let url: string;
  let drop: () => Promise<void>;
  const opened: Array<{ storage: Storage; signals: Signals }> = [];
  async function node(id: string) {
    const storage = await openStorage({ DATABASE_URL: url });
    const signals = createSignals(storage, id, quiet);
    await signals.start();
    opened.push({ storage, signals });
    return signals;
  }
  beforeEach(async () => {
    ({ url, drop } = await freshPostgresUrl());
  });
  afterEach(async () => {
    for (const { storage, signals } of opened.splice(0)) {
      await signals.stop();
      await closeStorage(storage);
    }
    await drop();
  });

  test("a signal from node A reaches node B (not its own) and A (its own)", async () => {
    const a = await node("node-a");
    const b = await node("node-b");
    const seenA = record(a);
    const seenB = record(b);
    await a.publish({ type: "revoked", userId: 3 });
    await waitFor(() => seenA.length === 1 && seenB.length === 1, "delivery on both nodes");
    expect(seenA).toEqual([{ signal: { type: "revoked", userId: 3 }, fromSelf: true }]);
    expect(seenB).toEqual([{ signal: { type: "revoked", userId: 3 }, fromSelf: false }]);
  });

  test("every node sees the signals of all nodes in the same order (commit order)", async () => {
    const nodes = [await node("n1"), await node("n2"), await node("n3")];
    const seen = nodes.map(record);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      const from = nodes[i % 3]!;
      sends.push(
        from.publish({ type: "connected", userId: 1, nodeId: `n${(i % 3) + 1}`, sessionId: `s${i}`, at: i }),
      );
      if (i % 7 === 0) await Bun.sleep(1);
    }
    await Promise.all(sends);
    await waitFor(() => seen.every((s) => s.length === 60), "60 signals on every node");
    const order = (s: Seen) => s.map((x) => (x.signal as { sessionId: string }).sessionId).join(",");
    expect(order(seen[1]!)).toBe(order(seen[0]!));
    expect(order(seen[2]!)).toBe(order(seen[0]!));
  });

  test("after the listening connection drops, the node re-listens, says so once, and receives again", async () => {
    const a = await node("node-a");
    const seen = record(a);
    let resubscribed = 0;
    a.onResubscribed(() => resubscribed++);
    const admin = new SQL(url, { max: 1 });
    try {
      const killed = await admin`
        SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
        WHERE datname = current_database() AND query ILIKE ${`LISTEN%${SIGNAL_CHANNEL}%`}`;
      expect(killed.length).toBe(1);
      await waitFor(() => resubscribed === 1, "the re-listen", 10_000);
      await a.publish({ type: "inbox", userId: 9 });
      await waitFor(() => seen.length === 1, "a signal after the re-listen");
      expect(resubscribed).toBe(1);
    } finally {
      await admin.close();
    }
  });

  test("a payload that is not a signal is ignored", async () => {
    const a = await node("node-a");
    const seen = record(a);
    const admin = new SQL(url, { max: 1 });
    try {
      await admin`SELECT pg_notify(${SIGNAL_CHANNEL}, ${"not json"})`;
      await admin`SELECT pg_notify(${SIGNAL_CHANNEL}, ${JSON.stringify({ type: "inbox", from: "x" })})`;
      await a.publish({ type: "revoked", userId: 4 });
      await waitFor(() => seen.length === 1, "the valid signal");
      expect(seen).toEqual([{ signal: { type: "revoked", userId: 4 }, fromSelf: true }]);
    } finally {
      await admin.close();
    }
  });
});
