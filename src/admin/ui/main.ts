/**
 * The admin console in the browser: a hash-routed single page (overview, users, groups, recent
 * errors) over `/api/admin/*`, or the sign-in form. Built into src/admin/assets.generated.ts by
 * scripts/build-console.ts; the server embeds that file, so the binary carries the console.
 */
import { api, setCsrf } from "./api.ts";
import { clear, h } from "./dom.ts";
import { currentLang, type Key, setLang, t } from "./i18n.ts";
import { errorsView } from "./views/errors.ts";
import { groupsView } from "./views/groups.ts";
import { loginView } from "./views/login.ts";
import { overviewView } from "./views/overview.ts";
import { usersView } from "./views/users.ts";

const root = document.getElementById("app")!;
const ROUTES: Record<string, { label: Key; view: (rerender: () => void) => Promise<HTMLElement> }> = {
  overview: { label: "overview", view: overviewView },
  users: { label: "users", view: usersView },
  groups: { label: "groups", view: groupsView },
  errors: { label: "errors", view: errorsView },
};

const route = () => {
  const name = location.hash.replace(/^#\/?/, "");
  return name in ROUTES ? name : "overview";
};

let refreshTimer: ReturnType<typeof setInterval> | undefined;

async function renderConsole(): Promise<void> {
  setLang(currentLang());
  const current = route();
  const langButton = h("button", { type: "button", class: "link", "data-test": "lang" }, t("switchLang"));
  langButton.addEventListener("click", () => {
    setLang(currentLang() === "zh" ? "en" : "zh");
    void renderConsole();
  });
  const signOut = h("button", { type: "button", class: "link", "data-test": "sign-out" }, t("signOut"));
  signOut.addEventListener("click", async () => {
    await api("DELETE", "/api/admin/session").catch(() => {});
    location.assign("/admin/login");
  });
  const nav = h(
    "nav",
    {},
    ...Object.entries(ROUTES).map(([name, r]) =>
      h(
        "a",
        { href: `#/${name}`, class: name === current ? "active" : "", "data-test": `nav-${name}` },
        t(r.label),
      ),
    ),
  );
  const content = h("main", { "data-test": "content" }, h("p", { class: "muted" }, "…"));
  clear(root);
  root.append(
    h(
      "header",
      {},
      h("strong", { class: "brand" }, `OpenClaw · ${t("title")}`),
      nav,
      h("span", { class: "tools" }, langButton, signOut),
    ),
    content,
  );
  try {
    const view = await ROUTES[current]!.view(() => void renderConsole());
    clear(content);
    content.append(view);
  } catch (err) {
    clear(content);
    content.append(h("p", { class: "bad" }, `${t("failed")}: ${(err as Error).message}`));
  }
  clearInterval(refreshTimer);
  if (current === "overview") refreshTimer = setInterval(() => void renderConsole(), 30_000);
}

async function start(): Promise<void> {
  setLang(currentLang());
  if (root.dataset.view === "login") {
    const langButton = h("button", { type: "button", class: "link", "data-test": "lang" }, t("switchLang"));
    const draw = () => {
      clear(root);
      langButton.textContent = t("switchLang");
      root.append(
        h(
          "header",
          {},
          h("strong", { class: "brand" }, "OpenClaw Relay"),
          h("span", { class: "tools" }, langButton),
        ),
        loginView({ feishu: root.dataset.feishu === "1", token: root.dataset.token === "1" }),
      );
    };
    langButton.addEventListener("click", () => {
      setLang(currentLang() === "zh" ? "en" : "zh");
      draw();
    });
    draw();
    return;
  }
  const session = await api<{ csrfToken: string }>("GET", "/api/admin/session");
  setCsrf(session.csrfToken);
  window.addEventListener("hashchange", () => void renderConsole());
  await renderConsole();
}

void start();
