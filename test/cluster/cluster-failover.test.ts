/**
 * kill -9 of the node holding a plugin's socket while webhooks keep arriving on the other nodes: no
 * accepted message is lost, and the plugin resumes on another node exactly after its last ack.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, isType, type TestClient } from "../relay/ws-client.ts";
import { Cluster, clusterDescribe } from "./cluster.ts";
import { waitFor } from "./wait.ts";

let cluster: Cluster;

clusterDescribe("3-node cluster: failover", () => {
  beforeAll(async () => {
    cluster = await Cluster.start(3);
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
  });

  test("kill -9 of the node holding the socket while webhooks flow: 0 accepted lost, resumed on another node", async () => {
    const token = await cluster.user("ou_c_failover", 0);
    const accepted: string[] = [];
    const received = new Map<string, number>();
    let acked = 0;
    /** Reads frames as they come, acking each; returns when the socket closes. */
    const consume = async (c: TestClient) => {
      for (;;) {
        const next = c.next(isType("message"), 30_000).catch(() => undefined);
        const f = await Promise.race([next, c.closed.then(() => undefined)]);
        if (!f) return;
        received.set(f.messageId as string, (received.get(f.messageId as string) ?? 0) + 1);
        acked = Math.max(acked, f.seq as number);
        c.send({ type: "ack", seq: f.seq });
      }
    };
    const first = connect(cluster.node(2).ws, { token });
    await first.next(isType("hello"));
    const reading = consume(first);

    let pushing = true;
    const pusher = (async () => {
      for (let i = 0; pushing; i++) {
        const r = await cluster.webhook(i % 2, "ou_c_failover", `m${i}`).catch(() => undefined);
        if (r?.status === 200) accepted.push(r.messageId);
      }
    })();
    await waitFor(() => received.size >= 10, "10 messages on node 3", 10_000);
    await cluster.kill(2);
    const atKill = accepted.length;
    expect((await first.closed).code).toBe(1006);
    await reading;

    const second = connect(cluster.node(0).ws, { token });
    const hello = await second.next(isType("hello"));
    expect(hello.pending).toBeGreaterThanOrEqual(0);
    const resumed = consume(second);
    await waitFor(() => accepted.length >= atKill + 20, "more webhooks after the kill", 10_000);
    pushing = false;
    await pusher;
    await waitFor(() => accepted.every((id) => received.has(id)), "every accepted message", 10_000);
    // At least once across the crash (unacked frames come again); never a message twice once acked.
    const seqs = second.frames.filter((f) => f.type === "message").map((f) => f.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    second.close();
    await second.closed;
    await resumed;
  }, 60_000);

  test("the killed node ages out of the cluster view; started again it rejoins", async () => {
    await waitFor(
      async () => {
        const h = (await (await fetch(`${cluster.node(0).base}/health`)).json()) as {
          cluster: { nodes: Array<{ id: string }> };
        };
        return h.cluster.nodes.map((n) => n.id).join(",") === "node-1,node-2";
      },
      "node-3 to age out",
      15_000,
      250,
    );
    await cluster.startNode(2);
    const h = (await (await fetch(`${cluster.node(0).base}/health`)).json()) as {
      cluster: { nodes: Array<{ id: string }> };
    };
    expect(h.cluster.nodes.map((n) => n.id)).toEqual(["node-1", "node-2", "node-3"]);
  }, 30_000);

  test("a graceful stop takes the node out of the view at once", async () => {
    expect(await cluster.stopNode(1)).toBe(0);
    const h = (await (await fetch(`${cluster.node(0).base}/health`)).json()) as {
      cluster: { nodes: Array<{ id: string }> };
    };
    expect(h.cluster.nodes.map((n) => n.id)).toEqual(["node-1", "node-3"]);
  }, 30_000);
});
