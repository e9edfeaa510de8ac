import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { escapeHtml, html } from "../../src/web/html.ts";
import { errorPage, signedInPage } from "../../src/web/pages.ts";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { type TestRelay, testRelay } from "../users/helpers.ts";

const XSS = `<script>alert("x")</script>`;

describe("escapeHtml and the html tag", () => {
  test("escapes every character that could open markup or leave an attribute", async () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&\`</a>`)).toBe(
      "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;&lt;/a&gt;",
    );
    expect(html`<p title="${XSS}">${XSS}</p>`.value).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>',
    );
    // Nested fragments stay markup; arrays are joined; null and false vanish.
    expect(html`<ul>${["a", "<b>"].map((x) => html`<li>${x}</li>`)}${null}${false}</ul>`.value).toBe(
      "<ul><li>a</li><li>&lt;b&gt;</li></ul>",
    );
  });

  test("pages never reflect interpolated values raw", async () => {
    const signed = await signedInPage({
      user: { id: "1", openId: "ou_x", name: XSS },
      token: `tok${XSS}`,
      expiresAt: 0,
      relayUrl: "wss://r/openclaw",
    }).text();
    expect(signed).not.toContain(XSS);
    expect(signed).toContain("&lt;script&gt;");
    const err = await errorPage({ status: 400, code: XSS, message: XSS }, "https://r").text();
    expect(err).not.toContain(XSS);
  });
});

describe("sign-in pages escape what Feishu and the browser send", () => {
  let fake: FakeFeishu;
  let relay: TestRelay;
  beforeAll(async () => {
    fake = await startFakeFeishu({ port: 0 });
  });
  afterAll(() => fake.stop());
  afterEach(() => relay?.cleanup());

  const start = async () =>
    (relay = await testRelay({
      PUBLIC_URL: "http://relay.test",
      FEISHU_DOMAIN: fake.url,
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
    }));
  const get = (path: string, headers: Record<string, string> = {}) =>
    relay.app.handle(new Request(`http://localhost${path}`, { headers }));

  test("a <script> in the OAuth error parameter is shown escaped", async () => {
    await start();
    const res = await get(`/oauth/callback?error=${encodeURIComponent(XSS)}&state=s`);
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).not.toContain(XSS);
    expect(page).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'nonce-");
  });

  test("a <script> in the user's Feishu name is shown escaped on the token page", async () => {
    await start();
    fake.setOAuthUser({ openId: "ou_xss", name: XSS });
    const begin = await get("/auth/feishu/login");
    const cookie = begin.headers.get("set-cookie")!.split(";")[0]!;
    const back = await fetch(begin.headers.get("location")!, { redirect: "manual" });
    const callback = new URL(back.headers.get("location")!);
    const res = await get(callback.pathname + callback.search, { cookie });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).not.toContain(XSS);
    expect(page).toContain("你好，&lt;script&gt;");
    // Only our own nonce'd script tag is present.
    expect(page.match(/<script/g)).toHaveLength(1);
  });
});
