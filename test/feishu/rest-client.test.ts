import { describe, expect, test } from "bun:test";
import { FeishuApiError } from "../../src/feishu/api-error.ts";
import { apiKind, FeishuRestClient, MAX_TOKEN_RETRIES } from "../../src/feishu/rest-client.ts";
import { TenantTokenManager } from "../../src/feishu/tenant-token.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { clientStack } from "./client-stack.ts";

const fake = await useFakeFeishu();

const botInfo = { method: "GET" as const, path: "/open-apis/bot/v3/info", api: "bot.info" };
/** A raw send through the client: the fake's "send" switches apply to it and not to the token call. */
const sendCall = {
  method: "POST" as const,
  path: "/open-apis/im/v1/messages?receive_id_type=open_id",
  body: { receive_id: "ou_x", msg_type: "text", content: JSON.stringify({ text: "hi" }) },
  api: "im.message.create",
};

describe("REST client", () => {
  test("sends the tenant token as a Bearer and answers the parsed body", async () => {
    const { client } = clientStack(fake);
    const answer = await client.request(botInfo);
    expect((answer.body.bot as { open_id: string }).open_id).toBe(fake.botOpenId);
    expect(answer.logId).toBeTruthy();
  });

  for (const status of [400, 401]) {
    test(`an invalid-token answer (HTTP ${status}) drops the token, fetches a new one once and succeeds`, async () => {
      const { client, tokens } = clientStack(fake);
      await tokens.get();
      fake.failNext(1, { kind: "invalid_token", status }, { scope: "all" });
      await client.request(botInfo);
      expect(fake.tokenFetches).toBe(2);
      expect(fake.calls.filter((c) => c.path === botInfo.path).map((c) => c.code)).toEqual([99991663, 0]);
    });
  }

  test("a token refused forever stops after 2 retries with Feishu's code", async () => {
    const { client, lines } = clientStack(fake);
    fake.failNext(100, { kind: "invalid_token" });
    const err = await client.request(sendCall).catch((e) => e);
    expect(err).toBeInstanceOf(FeishuApiError);
    expect(err).toMatchObject({ code: 99991663, status: 400 });
    expect(fake.calls.filter((c) => c.path === "/open-apis/im/v1/messages")).toHaveLength(
      1 + MAX_TOKEN_RETRIES,
    );
    expect(fake.tokenFetches).toBe(1 + MAX_TOKEN_RETRIES);
    expect(lines.filter((l) => l.includes('"feishu_token_rejected"'))).toHaveLength(3);
  });

  test("errors carry code, msg, HTTP status and the log id", async () => {
    const { client } = clientStack(fake);
    fake.failNext(1, { kind: "code", code: 99991672, msg: "no scope" });
    const err = (await client.request(sendCall).catch((e) => e)) as FeishuApiError;
    expect(err).toMatchObject({
      kind: "api",
      code: 99991672,
      msg: "no scope",
      status: 400,
      retryable: false,
    });
    expect(err.logId).toMatch(/^0202/);
    expect(err.message).toContain("99991672");
  });

  test("a proxy's HTML 502 is a retryable HTTP error", async () => {
    const { client } = clientStack(fake);
    fake.failNext(1, { kind: "server_error", status: 502, body: "<html>bad gateway</html>" });
    const err = await client.request(sendCall).catch((e) => e);
    expect(err).toMatchObject({ kind: "http", code: "feishu_http_502", status: 502, retryable: true });
  });

  test("a call that takes longer than its timeout fails as a retryable timeout", async () => {
    const { client, tokens } = clientStack(fake, { timeoutMs: 50 });
    await tokens.get();
    fake.delay(300, 1, { scope: "all" });
    const err = await client.request(botInfo).catch((e) => e);
    expect(err).toMatchObject({ kind: "timeout", code: "feishu_timeout", retryable: true });
  });

  test("calls reuse pooled keep-alive connections instead of opening one per call", async () => {
    const ports = new Set<number>();
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req, srv) {
        ports.add(srv.requestIP(req)!.port);
        const path = new URL(req.url).pathname;
        if (path.endsWith("/tenant_access_token/internal")) {
          return Response.json({ code: 0, tenant_access_token: "t-pooled", expire: 7200 });
        }
        return Response.json({ code: 0, msg: "ok", bot: { open_id: "ou_b", app_name: "B" } });
      },
    });
    try {
      const { log, metrics } = clientStack(fake);
      const baseUrl = `http://127.0.0.1:${server.port}`;
      const tokens = new TenantTokenManager({ appId: "cli_x", appSecret: "s", baseUrl, fetch, log, metrics });
      const client = new FeishuRestClient({ baseUrl, fetch, tokens, log, metrics });
      for (let i = 0; i < 30; i++) await client.request(botInfo);
      expect(ports.size).toBe(1);
    } finally {
      await server.stop(true);
    }
  });

  test("an unreachable Feishu is a retryable network error", async () => {
    const { log, metrics } = clientStack(fake);
    const client = new FeishuRestClient({
      baseUrl: "http://127.0.0.1:1",
      fetch,
      tokens: { get: async () => "t-x", invalidate: () => {} },
      log,
      metrics,
    });
    const err = await client.request(botInfo).catch((e) => e);
    expect(err).toMatchObject({ kind: "network", code: "feishu_network_error", retryable: true });
  });

  test("calls that spend a budget are counted by kind and result; others are not", async () => {
    const { client, metrics } = clientStack(fake);
    const calls = metrics.counter("feishu_api_calls_total", "");
    await client.request(sendCall);
    fake.failNext(1, { kind: "chat_rate_limit" });
    await client.request(sendCall).catch(() => {});
    fake.failNext(1, { kind: "rate_limit" });
    await client.request(sendCall).catch(() => {});
    fake.failNext(1, { kind: "code", code: 230002 });
    await client.request(sendCall).catch(() => {});
    fake.failNext(1, { kind: "server_error", status: 502, body: "<html>bad gateway</html>" });
    await client.request(sendCall).catch(() => {});
    await client.request({ ...botInfo, kind: "card" });
    await client.request(botInfo);
    expect(calls.get({ kind: "message", result: "ok" })).toBe(1);
    expect(calls.get({ kind: "message", result: "throttled" })).toBe(2);
    expect(calls.get({ kind: "message", result: "error" })).toBe(2);
    // An explicit kind wins; an API outside the budgets (bot info) is not counted.
    expect(calls.get({ kind: "card", result: "ok" })).toBe(1);
    expect(metrics.render().match(/feishu_api_calls_total\{/g)).toHaveLength(4);
    expect(
      [
        "im.message.reply",
        "im.file.create",
        "im.message.reaction.delete",
        "cardkit.card.create",
        "contact.user.get",
      ].map(apiKind),
    ).toEqual(["message", "upload", "reaction", "card", undefined]);
  });
});
