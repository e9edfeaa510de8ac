import { api } from "../api.ts";
import { clear, h, when } from "../dom.ts";
import { t } from "../i18n.ts";
import type { UsersResponse } from "../types.ts";

export async function usersView(): Promise<HTMLElement> {
  const list = h("div", { class: "scroll" });
  const notice = h("div", { class: "notice", "data-test": "notice" });
  const search = h("input", {
    type: "search",
    placeholder: t("search"),
    "data-test": "search",
  }) as HTMLInputElement;
  const load = async () => {
    const r = await api<UsersResponse>("GET", `/api/admin/users?q=${encodeURIComponent(search.value)}`);
    clear(list);
    list.append(table(r, load, notice));
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(load, 250);
  });
  await load();
  return h("section", { "data-test": "users" }, createForm(notice, load), notice, search, list);
}

function createForm(notice: HTMLElement, reload: () => Promise<void>): HTMLElement {
  const openId = h("input", {
    placeholder: "ou_…",
    required: true,
    "data-test": "new-open-id",
  }) as HTMLInputElement;
  const name = h("input", { placeholder: t("name"), "data-test": "new-name" }) as HTMLInputElement;
  const form = h(
    "form",
    { class: "row" },
    h("strong", {}, t("createUser")),
    openId,
    name,
    h("button", { type: "submit", "data-test": "create" }, t("create")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(notice);
    try {
      const body = { openId: openId.value.trim(), ...(name.value.trim() ? { name: name.value.trim() } : {}) };
      const r = await api<{ token: string }>("POST", "/api/admin/users", body);
      const pre = h("pre", { "data-test": "new-token" }, r.token);
      const copy = h("button", { type: "button" }, t("copy"));
      copy.addEventListener("click", () =>
        navigator.clipboard.writeText(r.token).then(() => (copy.textContent = t("copied"))),
      );
      notice.append(h("p", {}, t("tokenOnce")), pre, copy);
      openId.value = "";
      name.value = "";
      await reload();
    } catch (err) {
      notice.append(h("p", { class: "bad" }, `${t("failed")}: ${(err as Error).message}`));
    }
  });
  return form;
}

function table(r: UsersResponse, reload: () => Promise<void>, notice: HTMLElement): HTMLElement {
  const fail = (err: unknown) => {
    clear(notice);
    notice.append(h("p", { class: "bad" }, `${t("failed")}: ${(err as Error).message}`));
  };
  const rows = r.users.map((u) => {
    const revoke = h(
      "button",
      { type: "button", class: "danger", "data-test": `revoke-${u.id}` },
      t("revoke"),
    );
    let armed = false;
    revoke.addEventListener("click", async () => {
      // Two clicks: the first asks, the second revokes (no modal dialogs on phones).
      if (!armed) {
        armed = true;
        revoke.textContent = t("confirmRevoke");
        return;
      }
      try {
        await api("POST", `/api/admin/users/${u.id}/revoke`);
        await reload();
      } catch (err) {
        fail(err);
      }
    });
    const llm = h(
      "select",
      { "data-test": `llm-${u.id}` },
      h("option", { value: "" }, t("defaultLlm")),
      ...r.llmProviders.map((p) => h("option", { value: p }, p)),
    ) as HTMLSelectElement;
    llm.value = u.llmProvider ?? "";
    llm.disabled = r.llmProviders.length === 0;
    llm.addEventListener("change", () =>
      api("PUT", `/api/admin/users/${u.id}/llm`, { provider: llm.value || null }).catch(fail),
    );
    return h(
      "tr",
      { "data-test": `user-${u.id}` },
      h("td", {}, u.name || "—", h("div", { class: "mono small" }, `#${u.id} ${u.openId}`)),
      h(
        "td",
        {},
        h(
          "span",
          { class: u.connected ? "status ok" : "status" },
          u.connected ? t("connected") : t("disconnected"),
        ),
        u.revoked ? h("span", { class: "status failing", "data-test": "revoked" }, t("revoked")) : null,
      ),
      h("td", { "data-label": t("lastSeen") }, when(u.lastSeenAt)),
      h("td", { class: "num", "data-label": t("pending") }, u.pending),
      h("td", {}, llm),
      h("td", {}, revoke),
    );
  });
  return h(
    "table",
    { class: "stack-sm" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...[t("name"), t("status"), t("lastSeen"), t("pending"), t("llm"), t("actions")].map((x) =>
          h("th", {}, x),
        ),
      ),
    ),
    h("tbody", {}, ...rows),
  );
}
