import { ApiError } from "../api.ts";
import { h } from "../dom.ts";
import { t } from "../i18n.ts";

export function loginView(opts: { feishu: boolean; token: boolean }): HTMLElement {
  const parts: HTMLElement[] = [h("h1", {}, t("loginTitle"))];
  if (opts.feishu)
    parts.push(
      h("a", { class: "button", href: "/admin/auth/feishu", "data-test": "login-feishu" }, t("loginFeishu")),
    );
  if (opts.token) {
    const input = h("input", {
      type: "password",
      autocomplete: "off",
      "aria-label": t("adminToken"),
      placeholder: t("adminToken"),
      "data-test": "token",
    }) as HTMLInputElement;
    const msg = h("p", { class: "bad", "data-test": "login-error" });
    const form = h(
      "form",
      { class: "stack" },
      h("h2", {}, t("loginToken")),
      input,
      h("button", { type: "submit", "data-test": "login-token" }, t("signIn")),
      msg,
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      msg.textContent = "";
      const res = await fetch("/api/admin/session", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ token: input.value }),
        credentials: "same-origin",
      });
      input.value = "";
      if (res.ok) return location.assign("/admin");
      const data = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
      const err = new ApiError(
        res.status,
        data.error?.code ?? "error",
        data.error?.message ?? res.statusText,
      );
      msg.textContent = `${t("failed")}: ${err.message}`;
    });
    parts.push(form);
  }
  if (!opts.feishu && !opts.token) parts.push(h("p", { class: "bad" }, t("loginNone")));
  return h("main", { class: "login" }, ...parts);
}
