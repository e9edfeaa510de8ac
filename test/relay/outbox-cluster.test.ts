/** Cluster mode: two outboxes ("nodes") over one PostgreSQL database share the sends. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { Outbox, type OutboxOptions, type SendPort } from "../../src/relay/outbox.ts";
import { createOutboxStore, OUTBOX_LEASE_MS } from "../../src/relay/outbox-store.ts";
import type { DeliveryTarget } from "../../src/relay/targets.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { postgresNodes, postgresReachable } from "../storage/databases.ts";
import { addUser } from "../storage/users.ts";

const target: DeliveryTarget = { kind: "create", receiveIdType: "open_id", receiveId: "ou_o" };
/** Waits (polling) until `ready()` holds; the database answers at its own pace on a loaded machine. */
async function until(ready: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ready())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await Bun.sleep(5);
  }
}

const transient = () => Object.assign(new Error("bad gateway"), { code: 502, retryable: true });

describe.if(await postgresReachable())("outbox across nodes [postgres]", () => {
  let storages: Storage[];
  let closeNodes: () => Promise<void>;
  let user: number;
  const clock = { t: 1_000_000 };
  const outboxes: Outbox[] = [];
  beforeEach(async () => {
    ({ storages, close: closeNodes } = await postgresNodes(2));
    user = await addUser(storages[0]!, "ou_o");
  });
  afterEach(async () => {
    for (const o of outboxes.splice(0)) await o.stop();
    await closeNodes();
  });

  function node(i: number, port: SendPort, more: Partial<OutboxOptions> = {}) {
    const { log, lines } = memoryLogger();
    const outbox = new Outbox(createOutboxStore(storages[i]!, `node-${i}`), {
      now: () => clock.t,
      log,
      metrics: new Registry(),
      port: () => port,
      deadlineMs: 600_000,
      random: () => 1,
      tickMs: 3_600_000,
      ...more,
    });
    outboxes.push(outbox);
    return { outbox, lines };
  }

  test("one user's sends submitted back to back start in their order, still four at a time", async () => {
    const started: string[] = [];
    const gate = Promise.withResolvers<void>();
    const port: SendPort = async (_t, req) => {
      started.push(req.text!);
      await gate.promise;
      return [`om_${req.text}`];
    };
    const a = node(0, port, { concurrencyPerUser: 4 });
    const texts = Array.from({ length: 8 }, (_, i) => `m${i}`);
    // Each submit's store steps are round trips that could overtake one another.
    const outcomes = texts.map((text) => a.outbox.submit(user, target, { text, msgType: "text" }));
    await until(() => started.length === 4);
    expect(started).toEqual(texts.slice(0, 4));
    gate.resolve();
    for (let round = 0; round < 500 && started.length < 8; round++) {
      await a.outbox.runDue();
      await Bun.sleep(5);
    }
    expect(started).toEqual(texts);
    expect((await Promise.all(outcomes)).every((o) => o.ok)).toBe(true);
  });

  test("both nodes scanning the same due sends: each is sent once", async () => {
    const sent: string[] = [];
    const port: SendPort = async (_t, req) => {
      sent.push(req.text!);
      return [`om_${req.text}`];
    };
    // Stored as waiting (concurrency 0 at submit), then both nodes scan at once.
    const a = node(0, port, { concurrencyPerUser: 0 });
    const pending = Array.from({ length: 30 }, (_, i) =>
      a.outbox.submit(user, target, { text: `m${i}`, msgType: "text" }),
    );
    await until(async () => (await a.outbox.depth()) === 30);
    const scanners = [node(0, port, { concurrencyPerUser: 4 }), node(1, port, { concurrencyPerUser: 4 })];
    // A finished send starts the user's next ones in the background; scan until all went out.
    for (let round = 0; round < 500 && sent.length < 30; round++) {
      await Promise.all(scanners.map((s) => s.outbox.runDue()));
      await Bun.sleep(5);
    }
    await Bun.sleep(50);
    expect(sent.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`).sort());
    // The submitting node's callers learn the outcomes the other nodes wrote.
    await a.outbox.runDue();
    const outcomes = await Promise.all(pending);
    expect(outcomes.every((o) => o.ok)).toBe(true);
  });

  test("a node that stops mid-send loses its claim after the lease; another node sends, the late result is refused", async () => {
    let finishA: ((ids: string[]) => void) | undefined;
    const a = node(0, () => new Promise<string[]>((resolve) => (finishA = resolve)));
    const b = node(1, async () => ["om_b"]);
    const outcome = a.outbox.submit(user, target, { text: "x", msgType: "text" }, "u-x");
    await until(() => finishA !== undefined);
    // Node A hangs (a long GC pause, a network partition); under its lease B may not take the row.
    expect(await b.outbox.runDue()).toBe(0);
    clock.t += OUTBOX_LEASE_MS;
    expect(await b.outbox.runDue()).toBe(1);
    // A comes back: its result is not written over B's, and its caller still gets an answer.
    finishA?.(["om_a"]);
    expect(await outcome).toEqual({ ok: true, messageIds: ["om_a"] });
    expect(a.lines.some((l) => l.includes("outbox_claim_lost"))).toBe(true);
    const pg = storages[0]!;
    if (pg.dialect !== "postgres") throw new Error("expected PostgreSQL");
    const [row] = await pg.db.$client`SELECT message_ids, claimed_by FROM outbox WHERE uuid = 'u-x'`;
    expect(row).toEqual({ message_ids: '["om_b"]', claimed_by: "node-1" });
  });

  test("a retry taken by another node: the caller waiting on the first node learns the outcome", async () => {
    const a = node(0, async () => {
      throw transient();
    });
    const b = node(1, async () => ["om_retry"]);
    const queued: number[] = [];
    const outcome = a.outbox.submit(user, target, { text: "y", msgType: "text" }, "u-y", {
      onQueued: (q) => queued.push(q.retryAt),
    });
    await until(() => queued.length > 0);
    expect(queued).toHaveLength(1);
    clock.t += 1000;
    expect(await b.outbox.runDue()).toBe(1);
    await a.outbox.runDue();
    expect(await outcome).toEqual({ ok: true, messageIds: ["om_retry"] });
  });

  test("an attempt longer than the lease keeps its claim: the lease is renewed while it runs", async () => {
    let finishA: ((ids: string[]) => void) | undefined;
    const a = node(0, () => new Promise<string[]>((resolve) => (finishA = resolve)));
    const b = node(1, async () => ["om_b"]);
    const outcome = a.outbox.submit(user, target, { text: "z", msgType: "text" }, "u-z");
    await until(() => finishA !== undefined);
    for (let i = 0; i < 8; i++) {
      clock.t += OUTBOX_LEASE_MS / 4;
      await a.outbox.runDue(); // A's scan renews the leases of its running attempts
      expect(await b.outbox.runDue()).toBe(0);
    }
    finishA?.(["om_a"]);
    expect(await outcome).toEqual({ ok: true, messageIds: ["om_a"] });
  });

  test("the same uuid submitted on two nodes at once is stored and sent once; both callers get its outcome", async () => {
    let calls = 0;
    const port: SendPort = async () => {
      calls++;
      return ["om_once"];
    };
    const [a, b] = [node(0, port), node(1, port)];
    const req = { text: "same", msgType: "text" as const };
    const outcomes = [
      a.outbox.submit(user, target, req, "u-same"),
      b.outbox.submit(user, target, req, "u-same"),
    ];
    // Whichever node lost the insert learns the outcome from its scan.
    let settled = false;
    const all = Promise.all(outcomes).finally(() => {
      settled = true;
    });
    await until(async () => {
      await Promise.all([a.outbox.runDue(), b.outbox.runDue()]);
      return settled;
    });
    expect(await all).toEqual([
      { ok: true, messageIds: ["om_once"] },
      { ok: true, messageIds: ["om_once"] },
    ]);
    expect(calls).toBe(1);
  });
});
