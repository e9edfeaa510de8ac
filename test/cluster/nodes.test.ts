import { afterEach, beforeEach, expect, test } from "bun:test";
import {
  createNodeRegistry,
  NODE_ALIVE_MS,
  type NodeRegistry,
  type Timers,
} from "../../src/cluster/nodes.ts";
import { sessions, users } from "../../src/db/pg-schema.ts";
import { Logger } from "../../src/ops/logger.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { eachDialect, freshStorage } from "../storage/databases.ts";
import { waitFor } from "./wait.ts";

const quiet = new Logger("error");

/** Timers the test fires by hand: no sleeping for heartbeats. */
function manualTimers() {
  const fns: Array<() => void> = [];
  const timers: Timers = {
    every(_ms, fn) {
      fns.push(fn);
      return () => fns.splice(fns.indexOf(fn), 1);
    },
  };
  return {
    timers,
    tick: () => {
      for (const f of fns) f();
    },
    count: () => fns.length,
  };
}

eachDialect("node registry", (dialect) => {
  let storage: Storage;
  let close: () => Promise<void>;
  const clock = { t: 1_700_000_000_000 };
  const local: number[] = [];
  const registry = (id: string, timers = manualTimers().timers): NodeRegistry =>
    createNodeRegistry(
      storage,
      { id, version: "1.2.3", startedAt: clock.t },
      { now: () => clock.t, log: quiet, localUsers: () => local, timers },
    );
  const pg = () => {
    if (storage.dialect !== "postgres") throw new Error("PostgreSQL only");
    return storage.db;
  };
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    storage = fresh.storage;
    close = fresh.close;
    local.splice(0);
  });
  afterEach(() => close());

  test("a started node is in the view with its version and connections", async () => {
    const a = registry("node-a");
    await a.start();
    if (dialect === "postgres") {
      // In a cluster the sockets are read from the open sessions this node wrote.
      const [u] = await pg()
        .insert(users)
        .values({ openId: "ou_1", name: "U", createdAt: clock.t })
        .returning();
      await pg().insert(sessions).values({ id: "s1", userId: u!.id, connectedAt: clock.t, nodeId: "node-a" });
    } else local.push(1);
    const view = await a.view();
    expect(view.nodes.map(({ id, version, connections }) => ({ id, version, connections }))).toEqual([
      { id: "node-a", version: "1.2.3", connections: 1 },
    ]);
    expect(view.users.map((u) => u.nodeId)).toEqual(["node-a"]);
    expect(a.aliveCount).toBe(1);
    await a.stop();
  });

  if (dialect === "postgres") {
    test("nodes refresh every heartbeat; one silent for 10 s is dead; a stopped one leaves at once", async () => {
      const ta = manualTimers();
      const tb = manualTimers();
      const a = registry("node-a", ta.timers);
      const b = registry("node-b", tb.timers);
      const c = registry("node-c");
      await a.start();
      await b.start();
      await c.start();
      expect((await a.view()).nodes.map((n) => n.id)).toEqual(["node-a", "node-b", "node-c"]);

      clock.t += NODE_ALIVE_MS - 1;
      ta.tick(); // a's heartbeat; b's timer does not fire: b is silent from here
      const seenA = async () => (await a.view()).nodes.find((n) => n.id === "node-a")?.seenAt;
      await waitFor(async () => (await seenA()) === clock.t, "a's timed heartbeat");
      expect(a.aliveCount).toBe(3);
      clock.t += 2;
      await a.beat();
      expect((await a.view()).nodes.map((n) => n.id)).toEqual(["node-a"]);
      expect(a.aliveCount).toBe(1);

      await b.beat(); // b comes back
      expect((await a.view()).nodes.map((n) => n.id)).toEqual(["node-a", "node-b"]);
      await b.stop();
      expect(tb.count()).toBe(0);
      expect((await a.view()).nodes.map((n) => n.id)).toEqual(["node-a"]);
      await a.stop();
      await c.stop();
    });

    test("users are placed on the node of their open session; closed sessions and dead nodes do not count", async () => {
      const a = registry("node-a");
      const b = registry("node-b");
      await a.start();
      await b.start();
      const made = await pg()
        .insert(users)
        .values([1, 2, 3].map((i) => ({ openId: `ou_${i}`, name: `U${i}`, createdAt: clock.t })))
        .returning();
      const [u1, u2, u3] = made.map((u) => u.id);
      await pg()
        .insert(sessions)
        .values([
          { id: "s1", userId: u1!, connectedAt: clock.t, nodeId: "node-a" },
          { id: "s2", userId: u2!, connectedAt: clock.t, nodeId: "node-b" },
          { id: "s3", userId: u3!, connectedAt: clock.t, nodeId: "node-b", disconnectedAt: clock.t },
          { id: "s4", userId: u3!, connectedAt: clock.t, nodeId: "node-gone" },
        ]);
      const view = await a.view();
      expect(view.users).toEqual([
        { userId: u1!, nodeId: "node-a" },
        { userId: u2!, nodeId: "node-b" },
      ]);
      expect(view.nodes.map((n) => [n.id, n.connections])).toEqual([
        ["node-a", 1],
        ["node-b", 1],
      ]);
      await a.stop();
      await b.stop();
    });
  }
});
