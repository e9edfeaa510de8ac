import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createOutboxStore, type NewSend, type OutboxStore } from "../../src/relay/outbox-store.ts";
import { eachDialect, freshStorage, postgresNodes, postgresReachable } from "./databases.ts";
import { addUser } from "./users.ts";

const LEASE = 60_000;
const T0 = 1_000_000;

const send = (userId: number, uuid: string, more: Partial<NewSend> = {}): NewSend => ({
  userId,
  uuid,
  request: `{"uuid":"${uuid}"}`,
  status: "pending",
  now: T0,
  deadlineAt: T0 + 600_000,
  mediaId: null,
  ...more,
});

eachDialect("outbox store", (dialect) => {
  let close: () => Promise<void>;
  let store: OutboxStore;
  let user: number;
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    store = createOutboxStore(fresh.storage, "node-a", LEASE);
    user = await addUser(fresh.storage, "ou_a");
  });
  afterEach(() => close());

  test("a uuid is stored once per user; the second insert returns nothing and byUuid finds the first", async () => {
    const row = await store.insert(send(user, "u1", { mediaId: "med_1" }));
    expect(row).toMatchObject({ userId: user, uuid: "u1", status: "pending", attempts: 0, mediaKey: null });
    expect(await store.insert(send(user, "u1", { request: "other" }))).toBeUndefined();
    expect((await store.byUuid(user, "u1"))?.request).toBe(row!.request);
    expect(await store.byUuid(user, "nope")).toBeUndefined();
  });

  test("due rows are claimed oldest first up to the limit, once; queued counts and depth follow", async () => {
    for (const uuid of ["a", "b", "c"]) await store.insert(send(user, uuid));
    await store.insert(send(user, "later", { now: T0 + 5000 }));
    expect(await store.dueUsers(T0)).toEqual([user]);
    expect(await store.queuedOf(user)).toEqual({ n: 4, next: T0 });
    const claimed = await store.claimDue(user, T0, 2);
    expect(claimed.map((r) => [r.uuid, r.status])).toEqual([
      ["a", "sending"],
      ["b", "sending"],
    ]);
    expect((await store.claimDue(user, T0, 5)).map((r) => r.uuid)).toEqual(["c"]);
    expect(await store.claimDue(user, T0, 5)).toEqual([]);
    expect(await store.dueUsers(T0)).toEqual([]);
    expect(await store.depth()).toBe(4);
  });

  test("results: sent, retry (due again later), failed; finals lists the final ones; prune forgets them", async () => {
    for (const uuid of ["s", "r", "f"]) await store.insert(send(user, uuid, { status: "sending" }));
    const [s, r, f] = [
      await store.byUuid(user, "s"),
      await store.byUuid(user, "r"),
      await store.byUuid(user, "f"),
    ];
    expect(await store.recordMediaKey(s!.id, "img_1")).toBe(true);
    expect(await store.sent(s!.id, ["om_1"], T0 + 1)).toBe(true);
    expect(await store.retry(r!.id, T0 + 2000, "send_failed", "boom", T0 + 1)).toBe(true);
    expect(await store.failed(f!.id, "feishu_230002", "no", T0 + 1)).toBe(true);
    // A result is written once: the row is no longer this process's claim.
    expect(await store.sent(s!.id, ["om_2"], T0 + 2)).toBe(false);
    expect(await store.byUuid(user, "s")).toMatchObject({
      status: "sent",
      attempts: 1,
      messageIds: '["om_1"]',
      mediaKey: "img_1",
    });
    expect(await store.byUuid(user, "r")).toMatchObject({
      status: "pending",
      attempts: 1,
      nextAttemptAt: T0 + 2000,
      lastErrorCode: "send_failed",
    });
    expect(await store.claimDue(user, T0 + 1999, 5)).toEqual([]);
    expect((await store.claimDue(user, T0 + 2000, 5)).map((x) => x.uuid)).toEqual(["r"]);
    const finals = await store.finals([s!.id, r!.id, f!.id]);
    expect(finals.map((x) => [x.uuid, x.status]).sort()).toEqual([
      ["f", "failed"],
      ["s", "sent"],
    ]);
    expect(await store.finals([])).toEqual([]);
    expect(await store.prune(T0)).toBe(0);
    expect(await store.prune(T0 + 1)).toBe(2);
    expect(await store.depth()).toBe(1);
  });

  test("recover: this process's sends left mid-attempt are due again", async () => {
    await store.insert(send(user, "x", { status: "sending" }));
    expect(await store.claimDue(user, T0, 5)).toEqual([]);
    expect(await store.recover(T0)).toBe(1);
    expect((await store.claimDue(user, T0, 5)).map((r) => r.uuid)).toEqual(["x"]);
  });
});

/** Two relay processes ("nodes") over one PostgreSQL database, each with its own pool. */
async function twoNodes() {
  const { storages, close } = await postgresNodes(2);
  const [a, b] = [
    createOutboxStore(storages[0]!, "node-a", LEASE),
    createOutboxStore(storages[1]!, "node-b", LEASE),
  ];
  const user = await addUser(storages[0]!, "ou_c");
  return {
    a,
    b,
    user,
    close,
  };
}

describe.if(await postgresReachable())("outbox store across nodes [postgres]", () => {
  let n: Awaited<ReturnType<typeof twoNodes>>;
  beforeEach(async () => {
    n = await twoNodes();
  });
  afterEach(() => n.close());

  test("two nodes claiming the same due rows at once: each row is claimed by exactly one", async () => {
    for (let i = 0; i < 40; i++) await n.a.insert(send(n.user, `u${i}`));
    const rounds = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? n.a : n.b).claimDue(n.user, T0, 6)),
    );
    const ids = rounds.flat().map((r) => r.id);
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
  });

  test("an expired lease is retaken by another node; the old claimer's late result is refused", async () => {
    const row = await n.a.insert(send(n.user, "x", { status: "sending" }));
    // Under a live lease nobody else may take it.
    expect(await n.b.claimDue(n.user, T0 + LEASE - 1, 5)).toEqual([]);
    expect(await n.b.dueUsers(T0 + LEASE - 1)).toEqual([]);
    expect(await n.b.dueUsers(T0 + LEASE)).toEqual([n.user]);
    const [retaken] = await n.b.claimDue(n.user, T0 + LEASE, 5);
    expect(retaken?.id).toBe(row!.id);
    // Node A comes back from a long pause: every write of its old claim is refused.
    expect(await n.a.sent(row!.id, ["om_late"], T0 + LEASE + 1)).toBe(false);
    expect(await n.a.retry(row!.id, T0 + LEASE + 5000, "x", "x", T0 + LEASE + 1)).toBe(false);
    expect(await n.a.failed(row!.id, "x", "x", T0 + LEASE + 1)).toBe(false);
    expect(await n.a.recordMediaKey(row!.id, "img_late")).toBe(false);
    expect(await n.b.sent(row!.id, ["om_b"], T0 + LEASE + 2)).toBe(true);
    expect(await n.a.byUuid(n.user, "x")).toMatchObject({
      status: "sent",
      messageIds: '["om_b"]',
      attempts: 1,
    });
  });

  test("a renewed lease holds; recover releases only the node's own claims", async () => {
    const mine = await n.a.insert(send(n.user, "mine", { status: "sending" }));
    await n.b.insert(send(n.user, "theirs", { status: "sending", now: T0 + 50_000 }));
    await n.a.renew([mine!.id], T0 + 50_000);
    expect(await n.b.claimDue(n.user, T0 + LEASE, 5)).toEqual([]);
    expect(await n.a.recover(T0 + LEASE)).toBe(1);
    expect((await n.b.claimDue(n.user, T0 + LEASE, 5)).map((r) => r.uuid)).toEqual(["mine"]);
  });
});
