/**
 * `GET /health` (DESIGN §3): real checks, not constants.
 */
import { Elysia, t } from "elysia";
import type { RelayContext } from "../context.ts";

export const HealthResponse = t.Object({
  status: t.Union([t.Literal("ok"), t.Literal("degraded")]),
  version: t.String(),
  uptimeSec: t.Number(),
  db: t.Union([t.Literal("ok"), t.Literal("failing")]),
  feishu: t.Union([t.Literal("ok"), t.Literal("unconfigured"), t.Literal("failing")]),
  connections: t.Integer(),
});

/**
 * `failing` when the database cannot be read, or when its latest write failed (recently): a full disk
 * still answers `SELECT 1` while every message is refused.
 */
export function checkDb(ctx: Pick<RelayContext, "db" | "inbox">): "ok" | "failing" {
  if (ctx.inbox.writeStatus() === "failing") return "failing";
  try {
    const row = ctx.db.$client.query("SELECT 1 AS one").get() as { one: number } | null;
    return row?.one === 1 ? "ok" : "failing";
  } catch {
    return "failing";
  }
}

export function healthRoutes(ctx: RelayContext) {
  return new Elysia({ name: "health" }).get(
    "/health",
    ({ set }) => {
      const db = checkDb(ctx);
      const feishu = ctx.status.feishu();
      const ok = db === "ok" && feishu !== "failing";
      if (db !== "ok") set.status = 503;
      return {
        status: ok ? ("ok" as const) : ("degraded" as const),
        version: ctx.version,
        uptimeSec: Math.floor((ctx.now() - ctx.startedAt) / 1000),
        db,
        feishu,
        connections: ctx.status.connections(),
      };
    },
    { response: { 200: HealthResponse, 503: HealthResponse }, detail: { summary: "Liveness and readiness" } },
  );
}
