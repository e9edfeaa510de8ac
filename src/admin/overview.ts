/** The overview page's data, gathered from live state; no request context here. */
import type { RelayContext } from "../context.ts";
import { clusterJson } from "../ops/health.ts";
import type { Rates } from "./rates.ts";
import type { RecentLog } from "./recent-log.ts";

export interface OverviewDeps {
  rates: Rates;
  recent: RecentLog;
}

export async function overview(ctx: RelayContext, deps: OverviewDeps) {
  const now = ctx.now();
  const stats = ctx.consoleStats;
  deps.rates.sample();
  const connected = (await stats.users("", ctx.hub.isConnected)) // only who is connected matters here
    .filter((u) => u.connected)
    .map((u) => ({ id: u.id, name: u.name, openId: u.openId }));
  const series = (c: Rates["events"]) => {
    const s = c.series(now);
    return { start: s.start, perMinute: s.counts };
  };
  return {
    version: ctx.version,
    uptimeSec: Math.floor((now - ctx.startedAt) / 1000),
    startedAt: new Date(ctx.startedAt).toISOString(),
    feishu: { status: ctx.status.feishu(), lastError: lastFeishuError(deps.recent) },
    plugins: { connected: ctx.status.connections(), users: connected },
    rates: { events: series(deps.rates.events), sends: series(deps.rates.sends) },
    outbox: await stats.outbox(now),
    inboxPending: await stats.pendingByUser(),
    // M2-6: the cluster's nodes (this one alone on SQLite).
    nodes: clusterJson(await ctx.cluster.view()).nodes,
  };
}

/** The newest warn/error line of the Feishu modules (their logger carries `module: "feishu"`). */
function lastFeishuError(recent: RecentLog) {
  const e = recent.list().find((x) => x.fields.module === "feishu" || x.event.startsWith("feishu_"));
  if (!e) return null;
  const err = e.fields.err as { message?: unknown } | undefined;
  const message =
    typeof err?.message === "string" ? err.message : String(e.fields.code ?? e.fields.feishuCode ?? "");
  return { time: e.time, event: e.event, message };
}
