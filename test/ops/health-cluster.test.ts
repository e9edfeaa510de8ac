import { afterAll, expect, test } from "bun:test";
import { waitFor } from "../cluster/wait.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";
import { connect, isType } from "../relay/ws-client.ts";

const r = await gatewayRelay();
afterAll(() => r.close());

test("/health names this node and, on one process, a cluster of one with its connected users", async () => {
  const { user, token } = await r.user("ou_health_node");
  const c = connect(r.url, { token });
  await c.next(isType("hello"));
  // On PostgreSQL the view reads the sessions table, written a moment after the hello.
  const health = await waitFor(async () => {
    const h = (await (await fetch(`${r.http}/health`)).json()) as Record<string, unknown>;
    return (h.cluster as { users: unknown[] }).users.length > 0 && h;
  }, "the socket in the cluster view");
  expect(health).toMatchObject({ status: "ok", db: "ok", connections: 1, node: r.ctx.nodeId });
  expect(health.cluster).toEqual({
    nodes: [
      {
        id: r.ctx.nodeId,
        version: r.ctx.version,
        startedAt: new Date(r.ctx.startedAt).toISOString(),
        seenAt: expect.any(String),
        connections: 1,
      },
    ],
    users: [{ userId: String(user.id), nodeId: r.ctx.nodeId }],
  });
  c.close();
  await c.closed;
});

test("/metrics has the node's id and the number of nodes alive", async () => {
  const text = await (await fetch(`${r.http}/metrics`)).text();
  expect(text).toContain(`openclaw_relay_node_info{node="${r.ctx.nodeId}"} 1`);
  expect(text).toMatch(/^openclaw_relay_cluster_nodes_alive 1$/m);
});
