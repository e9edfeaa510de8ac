/**
 * Cluster behaviour, black-box: three relay processes on one PostgreSQL database (cluster.ts).
 * Webhooks, plugin sockets and replies each on a different node; replace and revocation across nodes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, isType, type TestClient } from "../relay/ws-client.ts";
import { Cluster, clusterDescribe } from "./cluster.ts";
import { waitFor } from "./wait.ts";

let cluster: Cluster;
const clients: TestClient[] = [];
const plugin = (node: number, token: string) => {
  const c = connect(cluster.node(node).ws, { token });
  clients.push(c);
  return c;
};

clusterDescribe("3-node cluster: delivery across nodes", () => {
  beforeAll(async () => {
    cluster = await Cluster.start(3);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.close();
  });

  test("every node lists the three nodes in /health", async () => {
    for (let i = 0; i < 3; i++) {
      const health = (await (await fetch(`${cluster.node(i).base}/health`)).json()) as {
        node: string;
        cluster: { nodes: Array<{ id: string }> };
      };
      expect(health.node).toBe(cluster.nodeId(i));
      expect(health.cluster.nodes.map((n) => n.id)).toEqual(["node-1", "node-2", "node-3"]);
    }
    const metrics = await (await cluster.admin(0, "/metrics")).text();
    expect(metrics).toMatch(/^openclaw_relay_cluster_nodes_alive 3$/m);
  });

  test("webhook on node 1, plugin on node 2, reply via node 3", async () => {
    const token = await cluster.user("ou_c_path", 0);
    const c = plugin(1, token);
    await c.next(isType("hello"));
    const pushed = await cluster.webhook(0, "ou_c_path", "from node 1");
    expect(pushed.status).toBe(200);
    const m = await c.next(isType("message"), 3000);
    expect(m).toMatchObject({ messageId: pushed.messageId, text: "from node 1" });
    c.send({ type: "ack", seq: m.seq });
    const res = await fetch(`${cluster.node(2).base}/api/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ replyTo: pushed.messageId, text: "answer via node 3" }),
    });
    expect(res.status).toBe(200);
    const sent = await cluster.feishu.waitForSent((s) => s.text === "answer via node 3", 5000);
    expect(sent.replyTo).toBe(pushed.messageId);
    // /health on node 3 sees the socket on node 2 (sessions are written a moment after the hello).
    await waitFor(async () => {
      const health = (await (await fetch(`${cluster.node(2).base}/health`)).json()) as {
        cluster: { users: Array<{ nodeId: string }> };
      };
      return health.cluster.users.some((u) => u.nodeId === "node-2");
    }, "node 3 to see the socket on node 2");
    c.close();
    await c.closed;
  });

  test("reconnecting to another node resumes exactly after the last ack", async () => {
    const token = await cluster.user("ou_c_resume", 1);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await cluster.webhook(i % 3, "ou_c_resume", `m${i}`)).messageId);
    const c1 = plugin(0, token);
    expect((await c1.next(isType("hello"))).pending).toBe(5);
    const first: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 5; i++) first.push(await c1.next(isType("message")));
    expect(first.map((f) => f.messageId)).toEqual(ids);
    c1.send({ type: "ack", seq: first[2]!.seq });
    c1.send({ type: "ping" });
    await c1.next(isType("pong"));
    c1.close();
    await c1.closed;
    const c2 = plugin(2, token);
    expect((await c2.next(isType("hello"))).pending).toBe(2);
    const rest = [await c2.next(isType("message")), await c2.next(isType("message"))];
    expect(rest.map((f) => f.seq)).toEqual([first[3]!.seq, first[4]!.seq]);
    expect(rest.map((f) => f.messageId)).toEqual(ids.slice(3));
    c2.close();
    await c2.closed;
  });

  test("a re-push of the same event to a different node is a duplicate", async () => {
    const token = await cluster.user("ou_c_dedupe", 2);
    const c = plugin(1, token);
    await c.next(isType("hello"));
    const pushed = await cluster.webhook(0, "ou_c_dedupe", "once");
    expect(await cluster.repush(2, pushed.envelope)).toBe(200);
    expect(await cluster.repush(1, pushed.envelope)).toBe(200);
    const after = await cluster.webhook(2, "ou_c_dedupe", "marker");
    const frames = [await c.next(isType("message")), await c.next(isType("message"))];
    expect(frames.map((f) => f.messageId)).toEqual([pushed.messageId, after.messageId]);
    expect(frames[1]!.seq).toBe((frames[0]!.seq as number) + 1);
    c.close();
    await c.closed;
  });

  test("a new connection on node 2 replaces the one on node 1: 4002 there, exactly once", async () => {
    const token = await cluster.user("ou_c_replace", 0);
    const old = plugin(0, token);
    await old.next(isType("hello"));
    const fresh = plugin(1, token);
    await fresh.next(isType("hello"));
    expect((await old.closed).code).toBe(4002);
    // The newer socket stays and receives.
    const pushed = await cluster.webhook(2, "ou_c_replace", "to the new socket");
    expect((await fresh.next(isType("message"), 3000)).messageId).toBe(pushed.messageId);
    fresh.send({ type: "ping" });
    await fresh.next(isType("pong"));
    expect(old.frames.filter((f) => f.type === "message")).toHaveLength(0);
    fresh.close();
    expect((await fresh.closed).code).not.toBe(4002);
  });

  test("revocation on node 1 closes the socket on node 3 within a second", async () => {
    const token = await cluster.user("ou_c_revoke", 0);
    const c = plugin(2, token);
    await c.next(isType("hello"));
    // The socket is registered on node 3 once /health there counts it.
    await waitFor(async () => {
      const h = (await (await fetch(`${cluster.node(2).base}/health`)).json()) as { connections: number };
      return h.connections > 0;
    }, "the socket on node 3");
    const t0 = performance.now();
    const res = await cluster.admin(0, "/api/admin/users/ou_c_revoke/revoke", { method: "POST" });
    expect(res.status).toBe(200);
    const closed = await c.closed;
    const ms = performance.now() - t0;
    expect(closed.code).toBe(4001);
    expect(ms).toBeLessThan(1000);
  });
});
