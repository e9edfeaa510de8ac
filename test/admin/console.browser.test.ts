/**
 * The admin console in headless Chromium against a listening relay, the fake Feishu (OAuth) and a
 * real plugin WebSocket: sign-in (Feishu, break-glass token, refusal), the overview at desktop and
 * phone width, a revoke round trip, CSRF, and the language toggle.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import {
  distinctColours,
  freePort,
  hasChromium,
  launchChromium,
  NO_CHROMIUM,
  overflowsX,
  screenshotDir,
} from "../chromium.ts";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";
import { connect } from "../relay/ws-client.ts";

const ADMIN_TOKEN = "console-admin-token-0123456789";
const ADMIN_OPEN_ID = "ou_c0ffee00000000000000000000000001";

if (!hasChromium) console.warn(`admin console browser tests skipped: ${NO_CHROMIUM}`);
describe.skipIf(!hasChromium)("admin console in Chromium", () => {
  let fake: FakeFeishu;
  let relay: Awaited<ReturnType<typeof gatewayRelay>>;
  let browser: Browser;
  let base: string;
  const shots = screenshotDir();

  beforeAll(async () => {
    fake = await startFakeFeishu();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    relay = await gatewayRelay({
      PORT: String(port),
      PUBLIC_URL: base,
      ADMIN_TOKEN,
      ADMIN_OPEN_IDS: ADMIN_OPEN_ID,
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
      FEISHU_DOMAIN: fake.url,
      LLM_PROVIDERS: JSON.stringify({ fast: { baseUrl: "http://127.0.0.1:9/v1", apiKey: "k", model: "m" } }),
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await relay?.close();
    await fake?.stop();
  });

  const adminApi = (path: string, init: RequestInit = {}) =>
    fetch(base + path, {
      ...init,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        "content-type": "application/json",
        ...init.headers,
      },
    });

  /** A new browser profile signed in with the break-glass token. */
  async function tokenSession(
    viewport = { width: 1280, height: 900 },
  ): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await page.goto(`${base}/admin`);
    expect(new URL(page.url()).pathname).toBe("/admin/login");
    await page.fill('[data-test="token"]', ADMIN_TOKEN);
    await page.click('[data-test="login-token"]');
    await page.waitForSelector('[data-test="overview"]');
    return { context, page };
  }

  test("break-glass: the admin token, posted once, gives a session cookie (HttpOnly, SameSite=Strict)", async () => {
    const { context, page } = await tokenSession();
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "oc_admin")!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe("Strict");
    expect(session.secure).toBe(false); // plain http here; https PUBLIC_URL sets Secure (sessions test)
    expect(await page.textContent('[data-test="version"]')).toContain(relay.ctx.version);
    // A wrong token is refused with a message, and no cookie.
    const other = await browser.newContext();
    const p2 = await other.newPage();
    await p2.goto(`${base}/admin/login`);
    await p2.fill('[data-test="token"]', "not-the-admin-token");
    await p2.click('[data-test="login-token"]');
    await p2.waitForSelector('[data-test="login-error"]:not(:empty)');
    expect((await other.cookies()).some((c) => c.name === "oc_admin")).toBe(false);
    await other.close();
    await context.close();
  });

  test("an admin signs in with Feishu (fake OAuth) and lands on the overview", async () => {
    fake.setOAuthUser({ openId: ADMIN_OPEN_ID, name: "运维小王" });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/admin/login`);
    await page.click('[data-test="login-feishu"]');
    await page.waitForSelector('[data-test="overview"]');
    expect(new URL(page.url()).pathname).toBe("/admin");
    const session = await page.evaluate(() => fetch("/api/admin/session").then((r) => r.json()));
    expect(session.subject).toBe(ADMIN_OPEN_ID);
    expect(session.name).toBe("运维小王");
    // Signing in as an admin created no relay user.
    const users = await (await adminApi(`/api/admin/users?q=${ADMIN_OPEN_ID}`)).json();
    expect(users.users).toEqual([]);
    await context.close();
  });

  test("a Feishu user who is not in ADMIN_OPEN_IDS is refused (403) and gets no session", async () => {
    fake.setOAuthUser({ openId: "ou_0123456789abcdef0123456789abcdef", name: "Mallory" });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/admin/login`);
    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === "/admin/oauth/callback"),
      page.click('[data-test="login-feishu"]'),
    ]);
    expect(response.status()).toBe(403);
    expect(await page.textContent("h1")).toContain("无权访问 / Not allowed");
    expect(await page.textContent("body")).toContain("ADMIN_OPEN_IDS");
    expect((await context.cookies()).some((c) => c.name === "oc_admin")).toBe(false);
    // The refusal page's CSP allows no fetch: ask with the profile's cookies from outside.
    expect((await context.request.get(`${base}/api/admin/overview`)).status()).toBe(401);
    await page.goto(`${base}/admin`);
    expect(new URL(page.url()).pathname).toBe("/admin/login");
    await context.close();
  });

  test("overview at desktop (1280) and phone (390) width: no sideways scroll, key parts visible, not blank", async () => {
    const { user } = await relay.user("ou_overview_user", "概览用户");
    await relay.store(user.id);
    const { context, page } = await tokenSession();
    // CSP violations and script errors show up here: the console must need nothing inline or remote.
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      await page.goto(`${base}/admin#/overview`);
      await page.waitForSelector('[data-test="chart-events"] canvas');
      await page.waitForSelector('[data-test="chart-sends"] canvas');
      for (const part of ["version", "uptime", "feishu", "plugins", "outbox-backlog", "outbox-failed"])
        expect(await page.isVisible(`[data-test="${part}"]`)).toBe(true);
      expect(await page.textContent('[data-test="overview"]')).toContain("概览用户");
      // M2-6: the cluster's nodes; on SQLite this node alone, named by its id.
      expect(await page.textContent('[data-test="overview"]')).toContain("集群节点");
      expect(await page.textContent('[data-test="node"]')).toContain(relay.ctx.nodeId);
      expect(await overflowsX(page)).toBe(false);
      console.log(`screenshot: ${join(shots, `overview-${width}.png`)}`);
      const png = await page.screenshot({ path: join(shots, `overview-${width}.png`), fullPage: true });
      expect(await distinctColours(page, png)).toBeGreaterThan(8);
    }
    expect(problems).toEqual([]);
    await context.close();
  });

  test("revoke round trip: create a user in the UI, revoke it there; the API says revoked and the socket closes with 4001", async () => {
    const { context, page } = await tokenSession({ width: 390, height: 800 });
    await page.goto(`${base}/admin#/users`);
    await page.waitForSelector('[data-test="users"]');
    await page.fill('[data-test="new-open-id"]', "ou_revoke_me");
    await page.fill('[data-test="new-name"]', "要吊销的人");
    await page.click('[data-test="create"]');
    const token = (await page.textContent('[data-test="new-token"]'))!.trim();
    expect(token.split(".")).toHaveLength(3);
    const id = (await (await adminApi("/api/admin/users?q=ou_revoke_me")).json()).users[0].id;

    const plugin = connect(relay.url, { token });
    await plugin.next((f) => f.type === "hello");
    await page.goto(`${base}/admin#/errors`); // re-render the users page with the live connection
    await page.goto(`${base}/admin#/users`);
    await page.waitForSelector(`[data-test="user-${id}"]`);
    expect(await page.textContent(`[data-test="user-${id}"]`)).toContain("已连接");
    expect(await overflowsX(page)).toBe(false);

    const [assigned] = await Promise.all([
      page.waitForResponse((res) => res.url().endsWith(`/api/admin/users/${id}/llm`)),
      page.selectOption(`[data-test="llm-${id}"]`, "fast"),
    ]);
    expect(assigned.status()).toBe(200);
    expect((await (await adminApi(`/api/admin/users?q=${id}`)).json()).users[0].llmProvider).toBe("fast");

    await page.click(`[data-test="revoke-${id}"]`); // asks
    await page.click(`[data-test="revoke-${id}"]`); // revokes
    expect((await plugin.closed).code).toBe(4001);
    await page.waitForSelector(`[data-test="user-${id}"] [data-test="revoked"]`);
    const after = (await (await adminApi(`/api/admin/users?q=${id}`)).json()).users[0];
    expect(after).toMatchObject({ id, revoked: true, connected: false });
    await context.close();
  });

  test("CSRF: a write with the session cookie but without X-CSRF-Token is refused (403)", async () => {
    const { user } = await relay.user("ou_csrf_target", "CSRF");
    const { context, page } = await tokenSession();
    const status = await page.evaluate(
      (uid) =>
        fetch(`/api/admin/users/${uid}/revoke`, { method: "POST" }).then((r) =>
          r.json().then((b) => [r.status, b.error.code]),
        ),
      user.id,
    );
    expect(status).toEqual([403, "csrf_failed"]);
    const listed = (await (await adminApi(`/api/admin/users?q=${user.id}`)).json()).users[0];
    expect(listed.revoked).toBe(false);
    await context.close();
  });

  test("groups and recent errors pages list what the API has", async () => {
    const { user } = await relay.user("ou_group_owner", "群主");
    const put = await adminApi("/api/admin/chats/oc_console_group_1", {
      method: "PUT",
      body: JSON.stringify({ ownerUserId: user.id }),
    });
    expect(put.status).toBe(200);
    relay.ctx.log.warn("console_test_warning", { detail: "shown on the errors page" });
    const { context, page } = await tokenSession({ width: 390, height: 800 });
    await page.goto(`${base}/admin#/groups`);
    await page.waitForSelector('[data-test="groups"]');
    expect(await page.textContent('[data-test="groups"]')).toContain("oc_console_group_1");
    expect(await page.textContent('[data-test="groups"]')).toContain("群主");
    expect(await overflowsX(page)).toBe(false);
    await page.goto(`${base}/admin#/errors`);
    await page.waitForSelector('[data-test="errors"]');
    expect(await page.textContent('[data-test="errors"]')).toContain("console_test_warning");
    await context.close();
  });

  test("the language toggle switches to English and is remembered", async () => {
    const { context, page } = await tokenSession();
    expect(await page.textContent('[data-test="nav-overview"]')).toBe("概览");
    await page.click('[data-test="lang"]');
    await page.waitForSelector('[data-test="overview"]');
    expect(await page.textContent('[data-test="nav-overview"]')).toBe("Overview");
    await page.reload();
    await page.waitForSelector('[data-test="overview"]');
    expect(await page.textContent('[data-test="nav-overview"]')).toBe("Overview");
    await context.close();
  });
});
