import { afterEach, beforeEach, expect, test } from "bun:test";
import { nodes as pgNodes, sessions as pgSessions, users as pgUsers } from "../../src/db/pg-schema.ts";
import { createSessionStore, NODE_GONE_MS, type SessionWrite } from "../../src/relay/session-store.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { eachDialect, freshStorage } from "./databases.ts";
import { insertSession } from "./rows.ts";

const open = (id: string, userId: number, at: number): SessionWrite => ({
  kind: "open",
  id,
  userId,
  at,
  remoteAddress: "10.0.0.1",
  userAgent: "openclaw-feishu-relay-channel/1.2.3",
  pluginVersion: "1.2.3",
  protocol: "v1",
});

interface Row {
  id: string;
  nodeId: string | null;
  code: number | null;
  disconnectedAt: number | null;
}

async function rows(storage: Storage): Promise<Row[]> {
  if (storage.dialect === "sqlite")
    return storage.db.$client
      .query<Row, []>(
        "SELECT id, node_id AS nodeId, close_code AS code, disconnected_at AS disconnectedAt FROM sessions ORDER BY id",
      )
      .all();
  const all = await storage.db.select().from(pgSessions).orderBy(pgSessions.id);
  return all.map((r) => ({
    id: r.id,
    nodeId: r.nodeId,
    code: r.closeCode,
    disconnectedAt: r.disconnectedAt,
  }));
}

async function lastSeen(storage: Storage, userId: number): Promise<number | null> {
  if (storage.dialect === "sqlite")
    return (
      storage.db.$client
        .query<{ at: number | null }, [number]>("SELECT last_seen_at AS at FROM users WHERE id = ?")
        .get(userId)?.at ?? null
    );
  const [row] = await storage.db.select({ at: pgUsers.lastSeenAt }).from(pgUsers);
  return row?.at ?? null;
}

eachDialect("session store", (dialect) => {
  let storage: Storage;
  let close: () => Promise<void>;

  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    storage = fresh.storage;
    close = fresh.close;
    if (storage.dialect === "sqlite")
      storage.db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1')");
    else await storage.db.insert(pgUsers).values({ id: 1, openId: "ou_1" });
  });
  afterEach(() => close());

  test("openSessionUsers: users with a session nobody closed, each once", async () => {
    if (storage.dialect === "sqlite")
      storage.db.$client.run("INSERT INTO users (id, open_id) VALUES (2, 'ou_2')");
    else await storage.db.insert(pgUsers).values({ id: 2, openId: "ou_2" });
    await insertSession(storage, { id: "s1", userId: 1, connectedAt: 1 });
    await insertSession(storage, { id: "s2", userId: 1, connectedAt: 2 });
    await insertSession(storage, { id: "s3", userId: 2, connectedAt: 1, disconnectedAt: 2 });
    expect([...(await createSessionStore(storage).openSessionUsers())]).toEqual([1]);
  });

  test("opens carry the node id; a close in the same batch ends the row; last seen follows", async () => {
    const store = createSessionStore(storage, "node-a");
    await store.write([
      open("s1", 1, 100),
      open("s2", 1, 110),
      { kind: "close", id: "s1", userId: 1, at: 120, code: 4002 },
    ]);
    expect(await rows(storage)).toEqual([
      { id: "s1", nodeId: "node-a", code: 4002, disconnectedAt: 120 },
      { id: "s2", nodeId: "node-a", code: null, disconnectedAt: null },
    ]);
    expect(await lastSeen(storage, 1)).toBe(120);
    expect(await store.openSessionUsers()).toEqual(new Set([1]));
    // A second close of a closed row changes nothing.
    await store.write([{ kind: "close", id: "s1", userId: 1, at: 130, code: 1000 }]);
    expect((await rows(storage))[0]).toMatchObject({ code: 4002, disconnectedAt: 120 });
    expect(await store.closeOpen(200, 1012, "own")).toBe(1);
    expect(await store.openSessionUsers()).toEqual(new Set());
  });

  if (dialect === "sqlite") {
    test("one process: at start-up every row still open was a crash's", async () => {
      await createSessionStore(storage, "old-node").write([open("s_old", 1, 100)]);
      expect(await createSessionStore(storage, "new-node").closeOpen(500, 1006, "stale")).toBe(1);
      expect((await rows(storage))[0]).toMatchObject({ code: 1006, disconnectedAt: 500 });
    });
    return;
  }

  test("cluster: start-up closes this node's rows and those of nodes gone, never a live node's", async () => {
    const now = 1_000_000;
    if (storage.dialect !== "postgres") throw new Error("unreachable");
    await storage.db.insert(pgNodes).values([
      { id: "live", version: "1", startedAt: 0, seenAt: now - 1000 },
      { id: "silent", version: "1", startedAt: 0, seenAt: now - NODE_GONE_MS - 1 },
    ]);
    await createSessionStore(storage, "live").write([open("s_live", 1, 10)]);
    await createSessionStore(storage, "silent").write([open("s_silent", 1, 10)]);
    await createSessionStore(storage, "vanished").write([open("s_vanished", 1, 10)]);
    await createSessionStore(storage, "me").write([open("s_me", 1, 10)]);
    await createSessionStore(storage, null).write([open("s_unknown", 1, 10)]);
    const me = createSessionStore(storage, "me");
    expect(await me.closeOpen(now, 1006, "stale")).toBe(4);
    expect((await rows(storage)).map((r) => [r.id, r.code])).toEqual([
      ["s_live", null],
      ["s_me", 1006],
      ["s_silent", 1006],
      ["s_unknown", 1006],
      ["s_vanished", 1006],
    ]);
  });

  test("cluster: shutdown closes only this node's rows", async () => {
    await createSessionStore(storage, "other").write([open("s_other", 1, 10)]);
    const me = createSessionStore(storage, "me");
    await me.write([open("s_me", 1, 10)]);
    expect(await me.closeOpen(100, 1012, "own")).toBe(1);
    expect((await rows(storage)).map((r) => [r.id, r.code])).toEqual([
      ["s_me", 1012],
      ["s_other", null],
    ]);
    expect(await me.openSessionUsers()).toEqual(new Set([1]));
  });
});
