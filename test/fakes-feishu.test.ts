import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createDecipheriv, createHash } from "node:crypto";
import * as lark from "@larksuiteoapi/node-sdk";
import { encryptFeishu, type FakeFeishu, signFeishu, startFakeFeishu } from "./fakes/feishu.ts";
import { decodeFrame, encodeFrame } from "./fakes/pbbp2.ts";

/** Independent receiver-side decrypt, written from the reference (§1.3). */
function decrypt(encrypted: string, key: string): string {
  const buf = Buffer.from(encrypted, "base64");
  const aesKey = createHash("sha256").update(key).digest();
  const decipher = createDecipheriv("aes-256-cbc", aesKey, buf.subarray(0, 16));
  return Buffer.concat([decipher.update(buf.subarray(16)), decipher.final()]).toString("utf8");
}

type Json = Record<string, unknown>;

let fake: FakeFeishu;

beforeAll(async () => {
  fake = await startFakeFeishu({ ws: { ReconnectNonce: 0.05, ReconnectInterval: 0.2 } });
});
afterAll(async () => {
  await fake.stop();
});
beforeEach(() => fake.reset());

async function post(
  path: string,
  body: unknown,
  token?: string,
): Promise<{ status: number; json: Json; res: Response }> {
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(fake.url + path, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Json, res };
}

async function get(path: string, token?: string): Promise<{ status: number; json: Json }> {
  const res = await fetch(fake.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, json: (await res.json()) as Json };
}

async function tenantToken(): Promise<string> {
  const { json } = await post("/open-apis/auth/v3/tenant_access_token/internal", {
    app_id: fake.appId,
    app_secret: fake.appSecret,
  });
  return json.tenant_access_token as string;
}

function sendText(token: string | undefined, openId: string, text: string, uuid?: string) {
  return post(
    "/open-apis/im/v1/messages?receive_id_type=open_id",
    { receive_id: openId, msg_type: "text", content: JSON.stringify({ text }), uuid },
    token,
  );
}

describe("crypto helpers", () => {
  test("official test vector decrypts to 'hello world'", () => {
    expect(decrypt("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=", "test key")).toBe("hello world");
  });

  test("encryptFeishu round-trips and uses a fresh IV", () => {
    const a = encryptFeishu('{"x":"中文"}', "k");
    expect(decrypt(a, "k")).toBe('{"x":"中文"}');
    expect(encryptFeishu('{"x":"中文"}', "k")).not.toBe(a);
  });

  test("signFeishu hashes timestamp+nonce+key+raw body", () => {
    const expected = createHash("sha256").update('1700000000123key{"encrypt":"x"}').digest("hex");
    expect(signFeishu("1700000000", "123", "key", '{"encrypt":"x"}')).toBe(expected);
  });
});

describe("pbbp2 codec", () => {
  test("round-trips a frame and always writes fields 1-4", () => {
    const bytes = encodeFrame({ seqId: 0n, logId: 0n, service: 0, method: 0, headers: [] });
    expect(bytes.length).toBe(8);
    const frame = {
      seqId: 3n,
      logId: 2n ** 63n + 5n,
      service: -1,
      method: 1,
      headers: [{ key: "type", value: "event" }],
      payload: new TextEncoder().encode("{}"),
      logIdNew: "x",
    };
    expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
    expect(() => decodeFrame(new Uint8Array([0x08, 0x01]))).toThrow(/required/);
  });
});

describe("tenant_access_token", () => {
  test("same token until < 30 min remain, then a new one; the old stays valid until expiry", async () => {
    const first = await post("/open-apis/auth/v3/tenant_access_token/internal", {
      app_id: fake.appId,
      app_secret: fake.appSecret,
    });
    expect(first.json).toMatchObject({ code: 0, msg: "ok", expire: 7200 });
    const t1 = first.json.tenant_access_token as string;
    expect(t1).toStartWith("t-");
    fake.advanceTime(60_000);
    const again = await post("/open-apis/auth/v3/tenant_access_token/internal", {
      app_id: fake.appId,
      app_secret: fake.appSecret,
    });
    expect(again.json.tenant_access_token).toBe(t1);
    // Seconds remaining, floored; real time also moves a little during the test.
    expect(again.json.expire as number).toBeWithin(7139, 7141);
    fake.advanceTime((7200 - 60 - 1799) * 1000);
    const t2 = await tenantToken();
    expect(t2).not.toBe(t1);
    expect(fake.validTokens()).toEqual([t1, t2]);
    expect((await get("/open-apis/bot/v3/info", t1)).status).toBe(200);
    fake.advanceTime(1800 * 1000);
    expect((await get("/open-apis/bot/v3/info", t1)).json.code).toBe(99991663);
    expect(fake.tokenFetches).toBe(3);
  });

  test("wrong secret → 400 / 10014; revokeToken and expireAllTokens invalidate", async () => {
    const bad = await post("/open-apis/auth/v3/tenant_access_token/internal", {
      app_id: fake.appId,
      app_secret: "x",
    });
    expect(bad.status).toBe(400);
    expect(bad.json.code).toBe(10014);
    const token = await tenantToken();
    fake.revokeToken(token);
    expect((await get("/open-apis/bot/v3/info", token)).json.code).toBe(99991663);
    const next = await tenantToken();
    expect(next).not.toBe(token);
    fake.expireAllTokens();
    expect((await get("/open-apis/bot/v3/info", next)).status).toBe(400);
  });
});

describe("send and reply", () => {
  test("auth errors: missing → 99991661, invalid → 99991663, status configurable", async () => {
    expect((await sendText(undefined, "ou_x", "hi")).json.code).toBe(99991661);
    const invalid = await sendText("t-nope", "ou_x", "hi");
    expect(invalid.status).toBe(400);
    expect(invalid.json.code).toBe(99991663);
    expect(invalid.res.headers.get("x-tt-logid")).toBeTruthy();
    expect((invalid.json.error as Json).log_id).toBeTruthy();
    fake.setAuthErrorStatus(401);
    expect((await sendText("t-nope", "ou_x", "hi")).status).toBe(401);
    fake.setAuthErrorStatus(400);
  });

  test("create: response shape, record, p2p chat id, uuid dedupe", async () => {
    const token = await tenantToken();
    const res = await sendText(token, "ou_alice", "hello", "u-1");
    expect(res.status).toBe(200);
    const data = res.json.data as Json;
    expect(res.json).toMatchObject({ code: 0, msg: "success" });
    expect(data).toMatchObject({
      msg_type: "text",
      chat_id: "oc_p2p_ou_alice",
      sender: { id: fake.appId, id_type: "app_id", sender_type: "app" },
      body: { content: '{"text":"hello"}' },
    });
    expect(data.message_id as string).toStartWith("om_");
    const dup = await sendText(token, "ou_alice", "hello", "u-1");
    expect((dup.json.data as Json).message_id).toBe(data.message_id);
    expect(fake.sent).toHaveLength(1);
    expect(fake.sent[0]).toMatchObject({
      kind: "create",
      receiveIdType: "open_id",
      text: "hello",
      uuid: "u-1",
    });
    fake.advanceTime(3600_001);
    await sendText(token, "ou_alice", "hello", "u-1");
    expect(fake.sent).toHaveLength(2);
  });

  test("validation: content must be a JSON string, msg_type known, size limits", async () => {
    const token = await tenantToken();
    const path = "/open-apis/im/v1/messages?receive_id_type=chat_id";
    const notString = await post(
      path,
      { receive_id: "oc_1", msg_type: "text", content: { text: "x" } },
      token,
    );
    expect(notString.json.code).toBe(99992402);
    const notJson = await post(path, { receive_id: "oc_1", msg_type: "text", content: "hi" }, token);
    expect(notJson.json.code).toBe(230001);
    const badType = await post(path, { receive_id: "oc_1", msg_type: "markdown", content: "{}" }, token);
    expect(badType.json.code).toBe(230001);
    const bigText = JSON.stringify({ text: "x".repeat(150 * 1024) });
    expect(
      (await post(path, { receive_id: "oc_1", msg_type: "text", content: bigText }, token)).json.code,
    ).toBe(230025);
    const post31k = JSON.stringify({
      zh_cn: { title: "", content: [[{ tag: "text", text: "y".repeat(31_000) }]] },
    });
    expect(
      (await post(path, { receive_id: "oc_1", msg_type: "post", content: post31k }, token)).json.code,
    ).toBe(230025);
    const okText = JSON.stringify({ text: "x".repeat(100 * 1024) });
    expect((await post(path, { receive_id: "oc_1", msg_type: "text", content: okText }, token)).status).toBe(
      200,
    );
    expect(fake.sent).toHaveLength(1);
  });

  test("reply resolves the chat of known messages, else oc_unknown; waitForSent", async () => {
    const token = await tenantToken();
    const event = fake.messageEvent({
      chatType: "group",
      chatId: "oc_grp",
      senderOpenId: "ou_bob",
      text: "q",
    });
    const messageId = (event.event.message as Json).message_id as string;
    const waiting = fake.waitForSent((m) => m.replyTo === messageId);
    const content = JSON.stringify({ zh_cn: { title: "T", content: [[{ tag: "md", text: "**a**" }]] } });
    const r = await post(
      `/open-apis/im/v1/messages/${messageId}/reply`,
      { msg_type: "post", content, reply_in_thread: true },
      token,
    );
    expect(r.json.data).toMatchObject({ chat_id: "oc_grp", parent_id: messageId, root_id: messageId });
    const sent = await waiting;
    expect(sent).toMatchObject({ kind: "reply", chatId: "oc_grp", replyInThread: true, text: "T\n**a**" });
    expect(sent.threadId).toStartWith("omt_");
    const unknown = await post(
      "/open-apis/im/v1/messages/om_unknown/reply",
      { msg_type: "text", content: '{"text":"x"}' },
      token,
    );
    expect((unknown.json.data as Json).chat_id).toBe("oc_unknown");
    await expect(fake.waitForSent((m) => m.text === "never", 20)).rejects.toThrow(/timed out/);
  });

  test("the official SDK client can fetch a token, send and get users through the fake", async () => {
    fake.addUser({ openId: "ou_carol", name: "Carol" });
    const client = new lark.Client({
      appId: fake.appId,
      appSecret: fake.appSecret,
      domain: fake.url,
      loggerLevel: lark.LoggerLevel.error,
    });
    const res = await client.im.v1.message.create({
      params: { receive_id_type: "open_id" },
      data: { receive_id: "ou_carol", msg_type: "text", content: JSON.stringify({ text: "via sdk" }) },
    });
    expect(res.code).toBe(0);
    const user = await client.contact.v3.user.get({
      path: { user_id: "ou_carol" },
      params: { user_id_type: "open_id" },
    });
    expect(user.data?.user?.name).toBe("Carol");
    expect(fake.sent[0].text).toBe("via sdk");
  });
});

describe("switches and limiters", () => {
  test("failNext kinds, in order, then success", async () => {
    const token = await tenantToken();
    fake.failNext(1, { kind: "rate_limit", resetSec: 3 });
    fake.failNext(1, { kind: "chat_rate_limit" });
    fake.failNext(1, { kind: "server_error", status: 502 });
    fake.failNext(1, { kind: "code", code: 230002 });
    fake.failNext(1, { kind: "invalid_token" });
    const r1 = await sendText(token, "ou_a", "1");
    expect(r1.status).toBe(429);
    expect(r1.json).toMatchObject({ code: 99991400, msg: "request trigger frequency limit" });
    expect(r1.res.headers.get("x-ogw-ratelimit-reset")).toBe("3");
    expect(r1.res.headers.get("x-ogw-ratelimit-limit")).toBeTruthy();
    expect((await sendText(token, "ou_a", "2")).json.code).toBe(230020);
    expect((await sendText(token, "ou_a", "3")).status).toBe(502);
    expect((await sendText(token, "ou_a", "4")).json.code).toBe(230002);
    expect((await sendText(token, "ou_a", "5")).json.code).toBe(99991663);
    expect((await sendText(token, "ou_a", "6")).status).toBe(200);
    expect(fake.rateLimited).toBe(2);
    expect(fake.calls.filter((c) => c.path === "/open-apis/im/v1/messages").map((c) => c.status)).toEqual([
      429, 400, 502, 400, 400, 200,
    ]);
  });

  test("enforceChatQps(5) answers 230020 for the 6th send in a second; enforceAppQps answers 429", async () => {
    const token = await tenantToken();
    fake.enforceChatQps(5);
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await sendText(token, "ou_q", `m${i}`)).json.code as number);
    expect(codes).toEqual([0, 0, 0, 0, 0, 230020]);
    expect((await sendText(token, "ou_other", "x")).json.code).toBe(0);
    fake.advanceTime(1001);
    expect((await sendText(token, "ou_q", "later")).json.code).toBe(0);
    fake.enforceChatQps(null);
    fake.enforceAppQps(2);
    await sendText(token, "ou_1", "a");
    await sendText(token, "ou_2", "b");
    const throttled = await sendText(token, "ou_3", "c");
    expect(throttled.status).toBe(429);
    expect(throttled.res.headers.get("x-ogw-ratelimit-reset")).toBe("1");
    expect(fake.rateLimited).toBe(2);
  });

  test("delay holds the answer", async () => {
    const token = await tenantToken();
    fake.delay(80);
    const started = performance.now();
    await sendText(token, "ou_d", "slow");
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
  });
});

describe("contact and bot info", () => {
  test("user lookup by open_id / union_id, unknown → 41050, bot info", async () => {
    const token = await tenantToken();
    const user = fake.addUser({ openId: "ou_dave", name: "Dave", unionId: "on_dave" });
    const byOpen = await get("/open-apis/contact/v3/users/ou_dave?user_id_type=open_id", token);
    expect(byOpen.json).toMatchObject({
      code: 0,
      data: { user: { open_id: "ou_dave", name: "Dave", union_id: "on_dave" } },
    });
    expect(((byOpen.json.data as Json).user as Json).avatar).toHaveProperty("avatar_72");
    const byUnion = await get("/open-apis/contact/v3/users/on_dave?user_id_type=union_id", token);
    expect(((byUnion.json.data as Json).user as Json).user_id).toBe(user.userId);
    const unknown = await get("/open-apis/contact/v3/users/ou_nobody", token);
    expect([unknown.status, unknown.json.code]).toEqual([400, 41050]);
    const bot = await get("/open-apis/bot/v3/info", token);
    expect(bot.json).toMatchObject({
      code: 0,
      bot: { open_id: fake.botOpenId, app_name: fake.botName, activate_status: 2 },
    });
    expect((await get("/open-apis/bot/v3/info")).json.code).toBe(99991661);
  });
});

describe("OAuth", () => {
  const redirectUri = "http://127.0.0.1:1/cb";
  const verifier = "v".repeat(43);
  const challenge = createHash("sha256").update(verifier).digest("base64url");

  async function authorize(state: string): Promise<URL> {
    const q = new URLSearchParams({
      client_id: fake.appId,
      redirect_uri: redirectUri,
      response_type: "code",
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    const res = await fetch(`${fake.url}/open-apis/authen/v1/authorize?${q}`, { redirect: "manual" });
    expect(res.status).toBe(302);
    return new URL(res.headers.get("location") ?? "");
  }

  const exchange = (code: string, codeVerifier = verifier) =>
    post("/open-apis/authen/v2/oauth/token", {
      grant_type: "authorization_code",
      client_id: fake.appId,
      client_secret: fake.appSecret,
      code,
      redirect_uri: redirectUri,
      code_verifier: codeVerifier,
    });

  test("authorize → code → token → user_info; codes are single use and PKCE-bound", async () => {
    fake.setOAuthUser({ openId: "ou_erin", name: "Erin" });
    const location = await authorize("s1");
    expect(location.searchParams.get("state")).toBe("s1");
    const code = location.searchParams.get("code") ?? "";
    expect(code.length).toBeGreaterThanOrEqual(64);
    const badPkce = await exchange(code, "w".repeat(43));
    expect([badPkce.status, badPkce.json.code]).toEqual([400, 20049]);
    const tok = await exchange(code);
    expect(tok.json).toMatchObject({
      code: 0,
      expires_in: 7200,
      token_type: "Bearer",
      refresh_token_expires_in: 604800,
    });
    expect(tok.json.access_token as string).toStartWith("u-");
    expect((await exchange(code)).json.code).toBe(20065);
    const info = await get("/open-apis/authen/v1/user_info", tok.json.access_token as string);
    expect(info.json).toMatchObject({ code: 0, msg: "success", data: { open_id: "ou_erin", name: "Erin" } });
    const expired = (await authorize("s2")).searchParams.get("code") ?? "";
    fake.advanceTime(5 * 60 * 1000 + 1);
    expect((await exchange(expired)).json.code).toBe(20004);
  });

  test("deny redirects with error=access_denied", async () => {
    fake.setOAuthDeny();
    const location = await authorize("s3");
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toBe("s3");
    fake.setOAuthUser({ openId: "ou_erin", name: "Erin" });
  });
});

describe("webhook pusher", () => {
  test("encrypted, signed push verifies with the SDK dispatcher; repush keeps or renews event_id", async () => {
    const received: Json[] = [];
    const dispatcher = new lark.EventDispatcher({
      encryptKey: "ek",
      loggerLevel: lark.LoggerLevel.error,
    }).register({
      "im.message.receive_v1": async (data) => {
        received.push(data as unknown as Json);
      },
    });
    const seen: { headers: Headers; raw: string }[] = [];
    const receiver = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const raw = await req.text();
        seen.push({ headers: req.headers, raw });
        const headers: Record<string, string> = {};
        req.headers.forEach((value, key) => {
          headers[key] = value;
        });
        await dispatcher.invoke(Object.assign(Object.create({ headers }), JSON.parse(raw)));
        return Response.json({ msg: "success" });
      },
    });
    try {
      const target = `http://127.0.0.1:${receiver.port}/webhook`;
      const first = await fake.pushEvent(
        target,
        { senderOpenId: "ou_frank", text: "hi" },
        { encryptKey: "ek" },
      );
      expect(first.status).toBe(200);
      const h = seen[0].headers;
      expect(h.get("user-agent")).toBe("Go-http-client/1.1");
      expect(h.get("x-lark-request-nonce")).toMatch(/^\d+$/);
      expect(h.get("x-lark-request-timestamp")).toMatch(/^\d{10}$/);
      expect(h.get("x-lark-signature")).toBe(
        signFeishu(
          h.get("x-lark-request-timestamp") ?? "",
          h.get("x-lark-request-nonce") ?? "",
          "ek",
          seen[0].raw,
        ),
      );
      const plain = JSON.parse(
        decrypt((JSON.parse(seen[0].raw) as { encrypt: string }).encrypt, "ek"),
      ) as Json;
      expect(plain).toMatchObject({
        schema: "2.0",
        header: { event_type: "im.message.receive_v1", app_id: fake.appId },
      });
      expect(typeof ((plain.event as Json).message as Json).content).toBe("string");
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ message: { chat_type: "p2p", chat_id: "oc_p2p_ou_frank" } });

      await fake.repush(first);
      await fake.repush(first, { newEventId: true });
      const bad = await fake.pushEvent(
        target,
        { senderOpenId: "ou_frank" },
        { encryptKey: "ek", badSignature: true },
      );
      expect(bad.status).toBe(200);
      expect(received).toHaveLength(3); // the SDK drops the bad signature
      expect(received[1].event_id).toBe(received[0].event_id);
      expect(received[2].event_id).not.toBe(received[0].event_id);
      expect((received[2].message as Json).message_id).toBe((received[0].message as Json).message_id);

      const replay = await fake.repush(first, { sameBytes: true });
      expect(replay.request.rawBody).toBe(first.request.rawBody);
      const challenge = await fake.pushEvent(target, fake.urlVerification("abc"), { encryptKey: "" });
      expect(challenge.status).toBe(200);
      expect(JSON.parse(seen[seen.length - 1].raw)).toEqual({
        challenge: "abc",
        token: fake.verificationToken,
        type: "url_verification",
      });
      expect(seen[seen.length - 1].headers.get("x-lark-signature")).toBeNull();
    } finally {
      await receiver.stop(true);
    }
  });

  test("unreachable target reports status 0; v1 envelope shape", async () => {
    const r = await fake.pushEvent("http://127.0.0.1:1/x", fake.urlVerification(), { timeoutMs: 500 });
    expect(r.status).toBe(0);
    const v1 = fake.v1Event("p2p_chat_create", { chat_id: "oc_1" });
    expect(v1).toMatchObject({
      type: "event_callback",
      token: fake.verificationToken,
      event: { type: "p2p_chat_create" },
    });
    expect(v1.ts).toMatch(/^\d+\.\d+$/);
  });
});

describe("long-connection gateway with the official WSClient", () => {
  test("endpoint rejects a wrong secret with a non-retryable code", async () => {
    const { json } = await post("/callback/ws/endpoint", { AppID: fake.appId, AppSecret: "nope" });
    expect(json.code).toBe(514);
    const good = await post("/callback/ws/endpoint", { AppID: fake.appId, AppSecret: fake.appSecret });
    const url = (good.json.data as Json).URL as string;
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws\/v2\?fpid=1&.*service_id=7/);
  });

  test("delivers events after the first ping, records acks, survives a dropped connection", async () => {
    const got: Json[] = [];
    const onEvent: () => void = () => {};
    const dispatcher = new lark.EventDispatcher({ loggerLevel: lark.LoggerLevel.error }).register({
      "im.message.receive_v1": async (data) => {
        got.push(data as unknown as Json);
        onEvent();
        return { handled: true };
      },
    });
    const ws = new lark.WSClient({
      appId: fake.appId,
      appSecret: fake.appSecret,
      domain: fake.url,
      loggerLevel: lark.LoggerLevel.error,
    });
    try {
      // Pushed before any client exists: queued until the first ping.
      const envelope = fake.messageEvent({ senderOpenId: "ou_gina", text: "over ws" });
      const acked = fake.wsPushEvent(envelope);
      await ws.start({ eventDispatcher: dispatcher });
      const ack = await acked;
      expect(ack.code).toBe(200);
      expect(ack.data).toEqual({ handled: true });
      expect(ack.headers.map((h) => h.key)).toContain("biz_rt");
      expect(got[0]).toMatchObject({
        event_type: "im.message.receive_v1",
        message: { content: '{"text":"over ws"}' },
      });
      expect(fake.wsConnections).toBe(1);

      const since = Date.now();
      fake.wsDropConnections();
      await fake.wsWaitForReady(1, 3000, since);
      const again = await fake.wsPushEvent(envelope, { fragments: 2 });
      expect(again.code).toBe(200);
      expect(again.headers).toContainEqual({ key: "sum", value: "2" });
      expect(got).toHaveLength(2);
      expect(got[1].event_id).toBe(got[0].event_id);
      expect(fake.wsAcks).toHaveLength(2);
      expect(fake.ws.endpointCalls).toBe(2);

      const sinceAbrupt = Date.now();
      fake.wsDropConnections({ abrupt: true });
      await fake.wsWaitForReady(1, 3000, sinceAbrupt);
      expect((await fake.wsPushEvent({ senderOpenId: "ou_gina", text: "third" })).code).toBe(200);
      expect(got).toHaveLength(3);
    } finally {
      ws.close({ force: true });
    }
  });
});

describe("feishu-main process", () => {
  test("prints its url and stops on SIGTERM", async () => {
    const proc = Bun.spawn(["bun", "test/fakes/feishu-main.ts", "--port", "0"], {
      stdout: "pipe",
      stderr: "inherit",
    });
    const reader = proc.stdout.getReader();
    const { value } = await reader.read();
    const info = JSON.parse(new TextDecoder().decode(value).split("\n")[0]) as Json;
    expect(info.appId).toMatch(/^cli_[0-9a-f]{16}$/);
    const state = await fetch(`${info.url}/_fake/state`).then((r) => r.json());
    expect(state).toMatchObject({ tokenFetches: 0, sent: 0 });
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  });
});
