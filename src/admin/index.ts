/**
 * The admin console feature (M2-5) for `FEATURES` (server.ts): pages, sign-in and its JSON endpoints.
 * Absent (every path 404) unless ADMIN_TOKEN or ADMIN_OPEN_IDS is set.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { consoleApiRoutes, sessionRoutes } from "./api-routes.ts";
import { consolePageRoutes } from "./console-routes.ts";
import { adminEnabled } from "./guard.ts";
import { startRates } from "./rates.ts";

export function adminConsoleFeature(ctx: RelayContext) {
  if (!adminEnabled(ctx.config)) return new Elysia({ name: "admin-console" });
  const recent = ctx.recentLog;
  // Feishu events received (webhook and long connection) and Feishu send/reply calls.
  const events = ctx.metrics.counter("events_received_total", "Feishu events received, by source and type.");
  const sends = ctx.metrics.counter("feishu_sends_total", "Feishu send/reply calls by outcome and code.");
  const rates = startRates(ctx, { events: () => events.total(), sends: () => sends.total() });
  return new Elysia({ name: "admin-console" })
    .use(sessionRoutes(ctx))
    .use(consoleApiRoutes(ctx, { rates, recent }))
    .use(consolePageRoutes(ctx));
}
