/**
 * `GET /health` (DESIGN §3): real checks, not constants. Per node: `node` is this process, `cluster`
 * the cluster as the database sees it (nodes alive, where each connected user's socket is); on
 * SQLite that is this node alone.
 */

// TypeBox's Integer for what the relay sends: Elysia's t.Integer also takes strings and compiles
// a checker as it is built, ~0.6 ms of every start each (docs/architecture.md).
import { Type } from "@sinclair/typebox";
import { Elysia, t } from "elysia";
import type { ClusterView } from "../cluster/nodes.ts";
import type { RelayContext } from "../context.ts";
import { pingStorage } from "../storage/storage.ts";
import { countRequests, failedAnswer, type RawRoute, withRawRoutes } from "./raw-route.ts";

export const ClusterHealth = t.Object({
  nodes: t.Array(
    t.Object({
      id: t.String(),
      version: t.String(),
      startedAt: t.String({ format: "date-time" }),
      seenAt: t.String({ format: "date-time" }),
      connections: Type.Integer(),
    }),
  ),
  users: t.Array(t.Object({ userId: t.String(), nodeId: t.String() })),
});

export const HealthResponse = t.Object({
  status: t.Union([t.Literal("ok"), t.Literal("degraded")]),
  version: t.String(),
  uptimeSec: t.Number(),
  db: t.Union([t.Literal("ok"), t.Literal("failing")]),
  feishu: t.Union([t.Literal("ok"), t.Literal("unconfigured"), t.Literal("failing")]),
  connections: Type.Integer(),
  /** This process's node id. */
  node: t.String(),
  cluster: ClusterHealth,
});

/**
 * `failing` when the database cannot be read, or when its latest write failed (recently): a full disk
 * still answers `SELECT 1` while every message is refused.
 */
export async function checkDb(ctx: Pick<RelayContext, "storage" | "inbox">): Promise<"ok" | "failing"> {
  if (ctx.inbox.writeStatus() === "failing") return "failing";
  return (await pingStorage(ctx.storage)) ? "ok" : "failing";
}

/** The cluster view in JSON terms (ISO times, ids as strings like the rest of the API). */
export function clusterJson(view: ClusterView): typeof ClusterHealth.static {
  return {
    nodes: view.nodes.map((n) => ({
      id: n.id,
      version: n.version,
      startedAt: new Date(n.startedAt).toISOString(),
      seenAt: new Date(n.seenAt).toISOString(),
      connections: n.connections,
    })),
    users: view.users.map((u) => ({ userId: String(u.userId), nodeId: u.nodeId })),
  };
}

export const HEALTH_PATH = "/health";

/** The health report: 503 when the database fails, else 200 (`degraded` in the body while Feishu fails). */
export async function healthReport(
  ctx: RelayContext,
): Promise<{ status: 200 | 503; body: typeof HealthResponse.static }> {
  let db = await checkDb(ctx);
  // Unreadable, the cluster view is empty and the database is what fails.
  const view = await ctx.cluster.view().catch(() => {
    db = "failing";
    return { nodes: [], users: [] };
  });
  const feishu = ctx.status.feishu();
  const ok = db === "ok" && feishu !== "failing";
  return {
    status: db === "ok" ? 200 : 503,
    body: {
      status: ok ? "ok" : "degraded",
      version: ctx.version,
      uptimeSec: Math.floor((ctx.now() - ctx.startedAt) / 1000),
      db,
      feishu,
      connections: ctx.status.connections(),
      node: ctx.nodeId,
      cluster: clusterJson(view),
    },
  };
}

const JSON_HEADERS = { "content-type": "application/json;charset=utf-8" };

/**
 * `/health` as a raw route (ops/raw-route.ts): probes and orchestrators ask for it first, and through
 * Elysia its first answer waited for the route's handler and response checker to be compiled (half
 * of a restart's time to healthy on a slow machine). The body is built from the typed report above;
 * test/ops/health.test.ts checks it against HealthResponse.
 */
export function healthHandler(ctx: RelayContext): RawRoute {
  const count = countRequests(ctx.metrics, "GET", HEALTH_PATH);
  const failed = failedAnswer(ctx.log, HEALTH_PATH, count);
  const answer = async (): Promise<Response> => {
    const { status, body } = await healthReport(ctx);
    count(status);
    return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
  };
  return {
    method: "GET",
    path: HEALTH_PATH,
    handle: () => answer().catch(failed),
  };
}

/** Declared in Elysia (OpenAPI, `app.handle()`), served raw by Bun: one implementation. */
export function healthRoutes(ctx: RelayContext) {
  const route = healthHandler(ctx);
  const plugin = new Elysia({ name: "health" }).get(HEALTH_PATH, ({ request }) => route.handle(request), {
    response: { 200: HealthResponse, 503: HealthResponse },
    detail: { summary: "Liveness and readiness" },
  });
  return withRawRoutes(plugin, [route]);
}
