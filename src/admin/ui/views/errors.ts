import { api } from "../api.ts";
import { h, when } from "../dom.ts";
import { t } from "../i18n.ts";
import type { RecentEntry } from "../types.ts";

export async function errorsView(): Promise<HTMLElement> {
  const { entries } = await api<{ entries: RecentEntry[] }>("GET", "/api/admin/errors");
  if (entries.length === 0)
    return h("section", { "data-test": "errors" }, h("p", { class: "muted" }, t("noErrors")));
  return h(
    "section",
    { "data-test": "errors" },
    ...entries.map((e) =>
      h(
        "div",
        { class: `entry ${e.level}` },
        h(
          "div",
          {},
          h("span", { class: `status ${e.level === "error" ? "failing" : "warn"}` }, e.level),
          " ",
          h("strong", { class: "mono" }, e.event),
          " ",
          h("span", { class: "muted small" }, when(e.time)),
        ),
        Object.keys(e.fields).length ? h("pre", {}, JSON.stringify(e.fields, null, 1)) : null,
      ),
    ),
  );
}
