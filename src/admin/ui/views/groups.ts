import { api } from "../api.ts";
import { h, when } from "../dom.ts";
import { t } from "../i18n.ts";
import type { Chat } from "../types.ts";

export async function groupsView(rerender: () => void): Promise<HTMLElement> {
  const { chats } = await api<{ chats: Chat[] }>("GET", "/api/admin/chats");
  if (chats.length === 0)
    return h("section", { "data-test": "groups" }, h("p", { class: "muted" }, t("noGroups")));
  const rows = chats.map((c) => {
    const unbind = h("button", { type: "button", class: "danger" }, t("unbind"));
    unbind.addEventListener("click", async () => {
      await api("DELETE", `/api/admin/chats/${encodeURIComponent(c.chatId)}`);
      rerender();
    });
    return h(
      "tr",
      {},
      h("td", {}, c.name || "—", h("div", { class: "mono small" }, c.chatId)),
      h(
        "td",
        {},
        c.ownerName || "—",
        h("div", { class: "mono small" }, c.ownerOpenId ?? `#${c.ownerUserId}`),
      ),
      h("td", { "data-label": t("mention") }, c.requireMention ? t("yes") : t("no")),
      h("td", { "data-label": t("boundBy") }, c.boundBy),
      h("td", { "data-label": t("updated") }, when(c.updatedAt)),
      h("td", {}, unbind),
    );
  });
  return h(
    "section",
    { "data-test": "groups" },
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { class: "stack-sm" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ...[t("chat"), t("owner"), t("mention"), t("boundBy"), t("updated"), t("actions")].map((x) =>
              h("th", {}, x),
            ),
          ),
        ),
        h("tbody", {}, ...rows),
      ),
    ),
  );
}
