import { afterEach, describe, expect, test } from "bun:test";
import { TokenCipher } from "../../src/users/token-crypto.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { databaseText } from "../storage/sql.ts";
import { type TestRelay, testRelay } from "./helpers.ts";

const PUBLIC_URL = "https://relay.example";
const fake = await useFakeFeishu({ port: 0 });
let relay: TestRelay;

afterEach(() => relay?.cleanup());

async function start(raw: Record<string, string> = {}) {
  relay = await testRelay({
    PUBLIC_URL,
    FEISHU_DOMAIN: fake.url,
    FEISHU_APP_ID: fake.appId,
    FEISHU_APP_SECRET: fake.appSecret,
    ...raw,
  });
  return relay;
}

const get = (path: string, headers: Record<string, string> = {}) =>
  relay.app.handle(new Request(`http://localhost${path}`, { headers }));

interface Started {
  authorize: URL;
  cookie: string;
}

/** `/auth/feishu/login` → the authorize URL and the browser-binding cookie. */
async function login(): Promise<Started> {
  const res = await get("/auth/feishu/login");
  expect(res.status).toBe(302);
  const setCookie = res.headers.get("set-cookie")!;
  expect(setCookie).toMatch(
    /^oc_oauth=[\w-]+; Path=\/oauth\/callback; HttpOnly; SameSite=Lax; Max-Age=600; Secure$/,
  );
  return { authorize: new URL(res.headers.get("location")!), cookie: setCookie.split(";")[0]! };
}

/** The fake's authorize page (real HTTP): where it sends the browser back to, as a relay path. */
async function authorize(s: Started): Promise<string> {
  const res = await fetch(s.authorize, { redirect: "manual" });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get("location")!);
  expect(back.origin + back.pathname).toBe(`${PUBLIC_URL}/oauth/callback`);
  return back.pathname + back.search;
}

async function signIn(accept = "text/html") {
  const s = await login();
  const callback = await authorize(s);
  const res = await get(callback, { cookie: s.cookie, accept });
  return { s, callback, res };
}

describe("Feishu sign-in", () => {
  test("the login page links to the Feishu redirect, Chinese first", async () => {
    await start();
    const res = await get("/login");
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain(`href="${PUBLIC_URL}/auth/feishu/login"`);
    expect(page).toContain("使用飞书登录 / Sign in with Feishu");
    expect(page.indexOf("大家共用")).toBeLessThan(page.indexOf("Many people share"));
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  test("redirects to the accounts authorize page with state and PKCE S256", async () => {
    await start();
    const { authorize: url } = await login();
    expect(url.origin + url.pathname).toBe(`${fake.url}/open-apis/authen/v1/authorize`);
    const q = url.searchParams;
    expect(q.get("client_id")).toBe(fake.appId);
    expect(q.get("response_type")).toBe("code");
    expect(q.get("redirect_uri")).toBe(`${PUBLIC_URL}/oauth/callback`);
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("code_challenge")).toMatch(/^[\w-]{43}$/);
    expect(q.get("state")).toMatch(/^[\w-]{32}$/);
  });

  test("the callback creates the user, stores Feishu tokens encrypted, and shows the token and set-up", async () => {
    await start();
    fake.setOAuthUser({ openId: "ou_flow1", name: "Flow One", unionId: "on_flow1", userId: "u_flow1" });
    const { res } = await signIn();
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("set-cookie")).toContain("Max-Age=0");
    const page = await res.text();
    const token = /<pre id="token">([^<]+)<\/pre>/.exec(page)![1]!;
    const verified = await relay.ctx.tokens.verify(token);
    expect(verified?.user).toMatchObject({
      openId: "ou_flow1",
      name: "Flow One",
      unionId: "on_flow1",
      userId: "u_flow1",
    });
    expect(page).toContain("openclaw plugins install openclaw-feishu-relay-channel");
    expect(page).toContain("openclaw config set channels.feishu-relay.relayUrl wss://relay.example/openclaw");
    expect(page).toContain(`openclaw config set channels.feishu-relay.token ${token}`);
    expect(page).toContain("commands.ownerAllowFrom");
    expect(page).toContain("ou_flow1");

    const sealed = (await relay.ctx.users.feishuTokensEnc(verified!.user.id))!;
    expect(sealed.startsWith("v1.")).toBe(true);
    const feishu = new TokenCipher(relay.ctx.config.JWT_SECRET!).openTokens(sealed, verified!.user.id)!;
    const info = await fetch(`${fake.url}/open-apis/authen/v1/user_info`, {
      headers: { authorization: `Bearer ${feishu.accessToken}` },
    });
    expect(((await info.json()) as { data: { open_id: string } }).data.open_id).toBe("ou_flow1");
    expect(feishu.refreshToken).toMatch(/^ur-/);

    // Neither our JWT nor the Feishu token is ever stored in plain text, nor logged.
    const stored = await databaseText(relay.ctx.storage);
    expect(stored).toContain("ou_flow1");
    expect(stored.includes(token)).toBe(false);
    expect(stored.includes(feishu.accessToken)).toBe(false);
    const logs = relay.lines.join("\n");
    expect(logs).toContain('"event":"oauth_signed_in"');
    expect(logs.includes(token) || logs.includes(feishu.accessToken)).toBe(false);
  });

  test("with Accept: application/json the callback answers token, user and relayUrl", async () => {
    await start();
    fake.setOAuthUser({ openId: "ou_flow2", name: "Flow Two" });
    const { res } = await signIn("application/json");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; user: unknown; relayUrl: string };
    expect(body.user).toEqual({
      id: "1",
      openId: "ou_flow2",
      name: "Flow Two",
      unionId: expect.any(String),
      avatarUrl: expect.any(String),
    });
    expect(body.relayUrl).toBe("wss://relay.example/openclaw");
    expect(await relay.ctx.tokens.verify(body.token)).not.toBeNull();
  });

  test("a replayed state is refused", async () => {
    await start();
    const { s, callback, res } = await signIn("application/json");
    expect(res.status).toBe(200);
    const replay = await get(callback, { cookie: s.cookie, accept: "application/json" });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe("invalid_state");
  });

  test("a code used once is refused by Feishu, and the failure is a clear 400 page", async () => {
    await start();
    const first = await signIn();
    expect(first.res.status).toBe(200);
    const code = new URL(first.callback, PUBLIC_URL).searchParams.get("code")!;
    const s2 = await login();
    const state2 = s2.authorize.searchParams.get("state")!;
    const res = await get(`/oauth/callback?code=${code}&state=${state2}`, { cookie: s2.cookie });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain("oauth_exchange_failed");
    expect(page).toContain("飞书拒绝了这次登录");
  });

  test("PKCE: a wrong code_verifier fails the exchange", async () => {
    await start();
    const s = await login();
    const state = s.authorize.searchParams.get("state")!;
    const key = `oauth:state:${state}`;
    const stored = JSON.parse((await relay.ctx.kv.get(key))!);
    await relay.ctx.kv.set(
      key,
      JSON.stringify({ ...stored, verifier: "x".repeat(64) }),
      relay.clock.t + 60_000,
    );
    const res = await get(await authorize(s), { cookie: s.cookie, accept: "application/json" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("oauth_exchange_failed");
    expect(relay.lines.join("\n")).toContain('"feishuCode":20049');
  });

  test("a sign-in finished in another browser (no cookie) is refused", async () => {
    await start();
    const s = await login();
    const res = await get(await authorize(s), { accept: "application/json" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("state_mismatch");
  });

  test("a callback with someone else's state, without their cookie, leaves that state usable", async () => {
    await start();
    const victim = await login();
    const callback = await authorize(victim);
    const attacker = await login();
    for (const headers of [{}, { cookie: attacker.cookie }] as Array<Record<string, string>>) {
      const res = await get(callback, { ...headers, accept: "application/json" });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("state_mismatch");
    }
    const denied = await get(`${callback}&error=access_denied`, { cookie: attacker.cookie });
    expect(denied.status).toBe(403);
    const res = await get(callback, { cookie: victim.cookie, accept: "application/json" });
    expect(res.status).toBe(200);
    // Used up by its owner: a second use is refused.
    const again = await get(callback, { cookie: victim.cookie, accept: "application/json" });
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("invalid_state");
  });

  test("an expired or missing state is refused", async () => {
    await start();
    const s = await login();
    const callback = await authorize(s);
    relay.clock.t += 10 * 60_000 + 1;
    const expired = await get(callback, { cookie: s.cookie, accept: "application/json" });
    expect(expired.status).toBe(400);
    expect(((await expired.json()) as { error: { code: string } }).error.code).toBe("invalid_state");
    const missing = await get("/oauth/callback?code=abc", { cookie: s.cookie });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain("missing_state");
  });

  test("a denied authorization shows a 403 page and consumes the state", async () => {
    await start();
    fake.setOAuthDeny();
    try {
      const s = await login();
      const callback = await authorize(s);
      expect(callback).toContain("error=access_denied");
      const res = await get(callback, { cookie: s.cookie });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain("你在飞书页面上拒绝了授权");
      const state = s.authorize.searchParams.get("state")!;
      expect(await relay.ctx.kv.get(`oauth:state:${state}`)).toBeUndefined();
    } finally {
      fake.setOAuthUser({ openId: "ou_after_deny", name: "After" });
    }
  });

  test("without a Feishu app the login page says so and the redirect answers 503", async () => {
    relay = await testRelay({ PUBLIC_URL });
    expect(await (await get("/login")).text()).toContain(
      "The administrator has not configured the Feishu app",
    );
    const res = await get("/auth/feishu/login", { accept: "application/json" });
    expect(res.status).toBe(503);
  });

  test("callbacks are rate limited per client: the 21st within a minute gets 429", async () => {
    await start();
    for (let i = 0; i < 20; i++) expect((await get("/oauth/callback?state=nope&code=x")).status).toBe(400);
    const limited = await get("/oauth/callback?state=nope&code=x");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBeTruthy();
    expect(await limited.text()).toContain("尝试次数过多");
    relay.clock.t += 61_000;
    expect((await get("/oauth/callback?state=nope&code=x")).status).toBe(400);
  });
});
