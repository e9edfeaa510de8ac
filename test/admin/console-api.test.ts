/**
 * The console's server side through `app.handle`: which routes exist, the session cookie, CSRF, the
 * overview's numbers and the recent errors. The browser side is in console.browser.test.ts.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { SESSION_TTL_MS } from "../../src/admin/sessions.ts";
import { ConfigError, resolveConfig } from "../../src/config/definition.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { sqlRun } from "../storage/sql.ts";
import { ADMIN, json, req, type TestRelay, testRelay } from "../users/helpers.ts";

const ADMIN_OPEN_ID = "ou_c0ffee00000000000000000000000001";
const fake = await useFakeFeishu({ port: 0 });
let relay: TestRelay;
afterEach(() => relay?.cleanup());

const call = (r: Request) => relay.app.handle(r);

/** Signs in with the admin token: the cookie to send back and the session's CSRF token. */
async function signIn(): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await call(req("/api/admin/session", { body: { token: ADMIN } }));
  expect(res.status).toBe(200);
  const setCookie = res.headers.get("set-cookie")!;
  return { cookie: setCookie.split(";")[0]!, csrf: (await json(res)).csrfToken, setCookie };
}

describe("admin console server side", () => {
  test("without ADMIN_TOKEN and ADMIN_OPEN_IDS the console and its API do not exist", async () => {
    relay = await testRelay();
    for (const path of [
      "/admin",
      "/admin/login",
      "/api/admin/overview",
      "/api/admin/users",
      "/api/admin/session",
    ])
      expect((await call(req(path))).status).toBe(404);
  });

  test("ADMIN_OPEN_IDS alone turns the admin API on for sessions; token sign-in is then off", async () => {
    relay = await testRelay({ ADMIN_OPEN_IDS: ADMIN_OPEN_ID });
    expect((await call(req("/api/admin/users"))).status).toBe(401);
    expect((await call(req("/api/admin/users", { token: "anything-at-all-here" }))).status).toBe(401);
    const res = await call(req("/api/admin/session", { body: { token: "anything-at-all-here" } }));
    expect(res.status).toBe(403);
    expect((await json(res)).error.code).toBe("token_sign_in_off");
  });

  test("ADMIN_OPEN_IDS must list open_ids", async () => {
    expect(() => resolveConfig({ ADMIN_OPEN_IDS: "ou_abc, admin@example.com" })).toThrow(ConfigError);
    expect(resolveConfig({ ADMIN_OPEN_IDS: " ou_a1 ,ou_b2,, " }).ADMIN_OPEN_IDS).toEqual(["ou_a1", "ou_b2"]);
  });

  test("the session cookie is HttpOnly, SameSite=Strict, bounded, and Secure behind https", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN, PUBLIC_URL: "https://relay.example" });
    const { setCookie } = await signIn();
    expect(setCookie).toMatch(
      /^oc_admin=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure$/,
    );
    await relay.cleanup();
    relay = await testRelay({ ADMIN_TOKEN: ADMIN, PUBLIC_URL: "http://relay.example" });
    // A forwarded proto from a peer that is not a local proxy is not believed.
    const res = await call(
      req("/api/admin/session", { body: { token: ADMIN }, headers: { "x-forwarded-proto": "https" } }),
    );
    expect(res.headers.get("set-cookie")).not.toContain("Secure");
  });

  test("a wrong token gets 401 and no cookie; the session ends after 8 hours and on sign-out", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    const wrong = await call(req("/api/admin/session", { body: { token: "not-the-admin-token" } }));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const { cookie, csrf } = await signIn();
    expect((await call(req("/api/admin/overview", { headers: { cookie } }))).status).toBe(200);
    relay.clock.t += SESSION_TTL_MS;
    expect((await call(req("/api/admin/overview", { headers: { cookie } }))).status).toBe(401);

    const second = await signIn();
    const noCsrf = await call(
      req("/api/admin/session", { method: "DELETE", headers: { cookie: second.cookie } }),
    );
    expect(noCsrf.status).toBe(403);
    const out = await call(
      req("/api/admin/session", {
        method: "DELETE",
        headers: { cookie: second.cookie, "x-csrf-token": second.csrf },
      }),
    );
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
    expect((await call(req("/api/admin/session", { headers: { cookie: second.cookie } }))).status).toBe(401);
    expect(csrf).not.toBe(second.csrf);
  });

  test("pages: /admin needs a session, /admin/login sends a signed-in admin on; strict CSP, own assets only", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    const out = await call(req("/admin"));
    expect([out.status, out.headers.get("location")]).toEqual([302, "/admin/login"]);
    const login = await call(req("/admin/login"));
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('data-token="1"');
    const { cookie } = await signIn();
    const page = await call(req("/admin", { headers: { cookie } }));
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe");
    expect(await page.text()).toContain('<script src="/admin/assets/console.js');
    const again = await call(req("/admin/login", { headers: { cookie } }));
    expect([again.status, again.headers.get("location")]).toEqual([302, "/admin"]);
    const js = await call(req("/admin/assets/console.js"));
    expect(js.headers.get("content-type")).toContain("javascript");
    expect((await js.text()).length).toBeGreaterThan(10_000);
  });

  test("CSRF: session writes need X-CSRF-Token; reads and bearer writes do not", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    const { cookie, csrf } = await signIn();
    const create = (headers: Record<string, string>) =>
      call(req("/api/admin/users", { body: { openId: "ou_csrf" }, headers }));
    const refused = await create({ cookie });
    expect(refused.status).toBe(403);
    expect((await json(refused)).error.code).toBe("csrf_failed");
    expect((await create({ cookie, "x-csrf-token": "guess" })).status).toBe(403);
    expect((await create({ cookie, "x-csrf-token": csrf })).status).toBe(201);
    expect((await call(req("/api/admin/users", { headers: { cookie } }))).status).toBe(200);
    expect((await call(req("/api/admin/users/1/revoke", { method: "POST", token: ADMIN }))).status).toBe(200);
  });

  test("users: search by name, id or open_id; revocation is shown", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    for (const [openId, name] of [
      ["ou_ann", "Ann Lee"],
      ["ou_bo", "王博"],
    ])
      await call(req("/api/admin/users", { token: ADMIN, body: { openId, name } }));
    await call(req("/api/admin/users/2/revoke", { method: "POST", token: ADMIN }));
    const q = async (s: string) =>
      (
        await json(await call(req(`/api/admin/users?q=${encodeURIComponent(s)}`, { token: ADMIN })))
      ).users.map((u: { openId: string; revoked: boolean }) => [u.openId, u.revoked]);
    expect(await q("")).toEqual([
      ["ou_ann", false],
      ["ou_bo", true],
    ]);
    expect(await q("lee")).toEqual([["ou_ann", false]]);
    expect(await q("王")).toEqual([["ou_bo", true]]);
    expect(await q("2")).toEqual([["ou_bo", true]]);
    expect(await q("ou_ann")).toEqual([["ou_ann", false]]);
  });

  test("overview: per-minute event rate, outbox backlog and failures, pending by user", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    const ctx = relay.ctx;
    await call(req("/api/admin/users", { token: ADMIN, body: { openId: "ou_busy", name: "Busy" } }));
    ctx.metrics
      .counter("events_received_total", "")
      .inc({ source: "webhook", type: "im.message.receive_v1" }, 3);
    ctx.metrics.counter("feishu_sends_total", "").inc({ outcome: "ok", code: 0 });
    const add = (uuid: string, status: string, at: number, code: string | null, error: string | null) =>
      sqlRun(
        ctx.storage,
        `INSERT INTO outbox (user_id, uuid, request, status, next_attempt_at, deadline_at, created_at, updated_at,
           last_error_code, last_error) VALUES (1, ?, '{}', ?, 0, 0, ?, ?, ?, ?)`,
        [uuid, status, at, at, code, error],
      );
    const now = relay.clock.t;
    await add("a", "pending", now, null, null);
    await add("b", "failed", now - 1000, "feishu_230002", "bot not in chat");
    await add("c", "failed", now - 2 * 3600_000, "old", "old");
    await sqlRun(ctx.storage, "UPDATE users SET last_seq = 2 WHERE id = 1");
    const insertInbox = (seq: number, id: string) =>
      sqlRun(
        ctx.storage,
        "INSERT INTO inbox (user_id, seq, event_id, message_id, chat_id, payload, received_at) VALUES (1, ?, ?, ?, 'oc_x', '{}', 0)",
        [seq, id, id],
      );
    await insertInbox(1, "m1");
    await insertInbox(2, "m2");

    const o = await json(await call(req("/api/admin/overview", { token: ADMIN })));
    expect(o.version).toBe(ctx.version);
    expect(o.feishu.status).toBe("unconfigured");
    expect(o.rates.events.perMinute).toHaveLength(60);
    expect(o.rates.events.perMinute.at(-1)).toBe(3);
    expect(o.rates.sends.perMinute.at(-1)).toBe(1);
    expect(o.outbox).toEqual({
      backlog: 1,
      failedLastHour: 1,
      lastFailure: {
        at: new Date(now - 1000).toISOString(),
        code: "feishu_230002",
        message: "bot not in chat",
      },
    });
    expect(o.inboxPending).toEqual([{ id: "1", openId: "ou_busy", name: "Busy", pending: 2 }]);
  });

  test("recent errors: warn and error lines, newest first, with secrets redacted", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    relay.ctx.log
      .child({ module: "feishu" })
      .warn("feishu_token_fetch_failed", { appSecret: "s3cret", code: 10014 });
    relay.ctx.log.error("something_broke", { err: new Error("disk full") });
    const { entries } = await json(await call(req("/api/admin/errors", { token: ADMIN })));
    expect(entries.map((e: { event: string }) => e.event).slice(0, 2)).toEqual([
      "something_broke",
      "feishu_token_fetch_failed",
    ]);
    expect(JSON.stringify(entries)).not.toContain("s3cret");
    const o = await json(await call(req("/api/admin/overview", { token: ADMIN })));
    expect(o.feishu.lastError).toMatchObject({ event: "feishu_token_fetch_failed", message: "10014" });
  });

  test("the console's endpoints are in the OpenAPI document", async () => {
    relay = await testRelay({ ADMIN_TOKEN: ADMIN });
    const doc = await json(await call(req("/swagger/json")));
    for (const path of ["/api/admin/overview", "/api/admin/errors", "/api/admin/session", "/api/admin/users"])
      expect(doc.paths[path]).toBeDefined();
    expect(doc.paths["/api/admin/users"].get.parameters.some((p: { name: string }) => p.name === "q")).toBe(
      true,
    );
    expect(doc.paths["/admin/assets/console.js"]).toBeUndefined();
  });
});

describe("admin Feishu sign-in", () => {
  const start = async () =>
    (relay = await testRelay({
      PUBLIC_URL: "https://relay.example",
      ADMIN_OPEN_IDS: ADMIN_OPEN_ID,
      FEISHU_DOMAIN: fake.url,
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
    }));

  /** Follows a sign-in start through the fake's authorize page; the callback path and the binding cookie. */
  async function viaFeishu(startPath: string) {
    const res = await call(req(startPath));
    expect(res.status).toBe(302);
    const cookie = res.headers.get("set-cookie")!.split(";")[0]!;
    const back = await fetch(res.headers.get("location")!, { redirect: "manual" });
    const url = new URL(back.headers.get("location")!);
    return { cookie, callback: url.pathname + url.search, url };
  }

  test("an admin gets a session and no relay user; someone else gets 403", async () => {
    await start();
    fake.setOAuthUser({ openId: ADMIN_OPEN_ID, name: "Admin" });
    const ok = await viaFeishu("/admin/auth/feishu");
    expect(ok.url.origin + ok.url.pathname).toBe("https://relay.example/admin/oauth/callback");
    const res = await call(req(ok.callback, { headers: { cookie: ok.cookie } }));
    expect(res.status).toBe(200);
    expect(res.headers.get("refresh")).toBe("0; url=/admin");
    expect(res.headers.get("set-cookie")).toContain("oc_admin=");
    const users = await json(await call(req("/api/admin/users", { headers: { cookie: sessionOf(res) } })));
    expect(users.users).toEqual([]);

    fake.setOAuthUser({ openId: "ou_0123456789abcdef0123456789abcdef", name: "Mallory" });
    const other = await viaFeishu("/admin/auth/feishu");
    const refused = await call(req(other.callback, { headers: { cookie: other.cookie } }));
    expect(refused.status).toBe(403);
    expect(refused.headers.get("set-cookie")).not.toContain("oc_admin=");
    expect(relay.lines.some((l) => l.includes('"event":"admin_sign_in_refused"'))).toBe(true);
  });

  test("a user sign-in's state cannot complete at the admin callback", async () => {
    await start();
    fake.setOAuthUser({ openId: ADMIN_OPEN_ID, name: "Admin" });
    const user = await viaFeishu("/auth/feishu/login");
    const res = await call(
      req(`/admin/oauth/callback${user.url.search}`, { headers: { cookie: user.cookie } }),
    );
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("invalid_state");
  });
});

function sessionOf(res: Response): string {
  const c = res.headers.getSetCookie().find((v) => v.startsWith("oc_admin="))!;
  return c.split(";")[0]!;
}
