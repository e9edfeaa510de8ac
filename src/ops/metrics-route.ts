/**
 * `GET /metrics` in Prometheus text format; guarded by ADMIN_TOKEN when one is set, unless
 * METRICS_PUBLIC says otherwise.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { HttpError } from "./errors.ts";
import { ADMIN } from "./openapi-detail.ts";
import { bearerToken, secureEqual } from "./secure-compare.ts";

export function metricsRoutes(ctx: RelayContext) {
  return new Elysia({ name: "metrics" }).get(
    "/metrics",
    async ({ request }) => {
      const admin = ctx.config.ADMIN_TOKEN;
      if (admin && !ctx.config.METRICS_PUBLIC) {
        const given = bearerToken(request.headers);
        if (!given || !secureEqual(given, admin))
          throw new HttpError(401, "unauthorized", "metrics need the admin token");
      }
      await ctx.metrics.refresh();
      return new Response(ctx.metrics.render(), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    },
    {
      detail: {
        summary: "Prometheus metrics",
        description: "Needs ADMIN_TOKEN when one is set, unless METRICS_PUBLIC=true.",
        // `{}`: no credentials at all when no ADMIN_TOKEN is configured or METRICS_PUBLIC is set.
        security: [...ADMIN, {}],
        responses: { "200": { description: "Text exposition format 0.0.4", content: { "text/plain": {} } } },
      },
    },
  );
}
