import { api } from "../api.ts";
import { h, when } from "../dom.ts";
import { duration, t } from "../i18n.ts";
import type { Overview } from "../types.ts";
import { rateChart } from "./chart.ts";

const card = (label: string, value: Node | string | number, testId: string, extra?: Node | null) =>
  h(
    "div",
    { class: "card", "data-test": testId },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, value),
    extra ?? null,
  );

export async function overviewView(): Promise<HTMLElement> {
  const o = await api<Overview>("GET", "/api/admin/overview");
  const feishuText = {
    ok: t("feishuOk"),
    failing: t("feishuFailing"),
    unconfigured: t("feishuUnconfigured"),
  }[o.feishu.status];
  const feishuErr = o.feishu.lastError
    ? h(
        "div",
        { class: "small bad" },
        `${t("lastError")}: ${when(o.feishu.lastError.time)} ${o.feishu.lastError.event} ${o.feishu.lastError.message}`,
      )
    : null;
  const plugins = o.plugins.users.length
    ? h("div", { class: "small" }, o.plugins.users.map((u) => u.name || u.openId).join(", "))
    : null;
  const failure = o.outbox.lastFailure
    ? h(
        "div",
        { class: "small bad" },
        `${t("lastFailure")}: ${when(o.outbox.lastFailure.at)} ${o.outbox.lastFailure.code}`,
      )
    : null;
  const pending = o.inboxPending.length
    ? h(
        "div",
        { class: "scroll" },
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", {}, t("name")),
              h("th", {}, "open_id"),
              h("th", { class: "num" }, t("pending")),
            ),
          ),
          h(
            "tbody",
            {},
            ...o.inboxPending.map((u) =>
              h(
                "tr",
                {},
                h("td", {}, u.name || "—"),
                h("td", { class: "mono" }, u.openId),
                h("td", { class: "num" }, u.pending),
              ),
            ),
          ),
        ),
      )
    : h("p", { class: "muted" }, t("none"));
  const nodes = h(
    "div",
    { class: "scroll", "data-test": "nodes" },
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, t("node")),
          h("th", {}, t("version")),
          h("th", {}, t("heartbeat")),
          h("th", { class: "num" }, t("connections")),
        ),
      ),
      h(
        "tbody",
        {},
        ...o.nodes.map((n) =>
          h(
            "tr",
            { "data-test": "node" },
            h("td", { class: "mono" }, n.id),
            h("td", {}, n.version),
            h("td", {}, when(n.seenAt)),
            h("td", { class: "num" }, n.connections),
          ),
        ),
      ),
    ),
  );
  return h(
    "section",
    { "data-test": "overview" },
    h(
      "div",
      { class: "cards" },
      card(t("version"), o.version, "version"),
      card(t("uptime"), duration(o.uptimeSec), "uptime"),
      card(t("feishu"), h("span", { class: `status ${o.feishu.status}` }, feishuText), "feishu", feishuErr),
      card(t("plugins"), o.plugins.connected, "plugins", plugins),
      card(t("outboxBacklog"), o.outbox.backlog, "outbox-backlog"),
      card(t("outboxFailed"), o.outbox.failedLastHour, "outbox-failed", failure),
    ),
    h(
      "div",
      { class: "charts" },
      rateChart(t("eventsPerSec"), o.rates.events, "chart-events"),
      rateChart(t("sendsPerSec"), o.rates.sends, "chart-sends"),
    ),
    h("h2", {}, t("inboxPending")),
    pending,
    h("h2", {}, t("nodes")),
    nodes,
  );
}
