/**
 * Failed-auth limits on the plugin WebSocket, through a real listening relay. The test client is a
 * loopback peer, i.e. what a same-host reverse proxy looks like, so `X-Forwarded-For` names the client.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { CloseCode } from "../../src/relay/protocol.ts";
import { AUTH_FAILURE_LIMIT } from "../../src/users/tokens.ts";
import { gatewayRelay } from "./gateway-fixtures.ts";
import { connect, isType } from "./ws-client.ts";

const r = await gatewayRelay();
afterAll(() => r.close());

const from = (ip: string) => ({ "x-forwarded-for": ip });

/** A bare upgrade request, to see the HTTP answer when the relay refuses to upgrade. */
function upgradeRequest(query: string, headers: Record<string, string>) {
  return fetch(`${r.http}/openclaw${query}`, {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": Buffer.from("0123456789abcdef").toString("base64"),
      ...headers,
    },
  });
}

async function failOnce(ip: string) {
  const c = connect(`${r.url}?token=bad-${ip}`, { headers: from(ip) });
  expect((await c.closed).code).toBe(CloseCode.unauthorized);
}

describe("failed plugin authentication is limited per client, never at the expense of others", () => {
  test("bad tokens from many forwarded addresses lock nobody else out", async () => {
    for (let i = 0; i < AUTH_FAILURE_LIMIT + 5; i++) await failOnce(`198.51.100.${i}`);
    const { token } = await r.user("ou_behind_proxy");
    const viaProxy = connect(r.url, { token, headers: from("203.0.113.5") });
    expect((await viaProxy.next(isType("hello"))).type).toBe("hello");
    viaProxy.close();
    await viaProxy.closed;
    const legacy = connect(r.url, { headers: from("203.0.113.6") });
    legacy.send({ type: "auth", token });
    expect((await legacy.next(isType("auth_success"))).type).toBe("auth_success");
    legacy.close();
    await legacy.closed;
  });

  test("over the limit a bad token gets 429 before any upgrade, and a valid one still connects", async () => {
    const nat = "192.0.2.77";
    for (let i = 0; i < AUTH_FAILURE_LIMIT; i++) await failOnce(nat);

    const refused = await upgradeRequest("?token=still-bad", from(nat));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
    // A WebSocket client sees a failed upgrade, never the terminal 4001.
    const ws = connect(`${r.url}?token=still-bad`, { headers: from(nat) });
    expect((await ws.closed).code).not.toBe(CloseCode.unauthorized);
    expect(ws.frames).toHaveLength(0);

    // The legacy auth frame over the limit: "try again later", not 4001.
    const legacyBad = connect(r.url, { headers: from(nat) });
    legacyBad.send({ type: "auth", token: "still-bad" });
    expect((await legacyBad.closed).code).toBe(CloseCode.tryAgain);

    // Colleagues behind the same NAT are not starved by those failures.
    const { token } = await r.user("ou_same_nat");
    const ok = connect(r.url, { token, headers: from(nat) });
    expect((await ok.next(isType("hello"))).type).toBe("hello");
    ok.close();
    await ok.closed;
    const legacyOk = connect(r.url, { headers: from(nat) });
    legacyOk.send({ type: "auth", token });
    expect((await legacyOk.next(isType("auth_success"))).type).toBe("auth_success");
    legacyOk.close();

    // Other clients are unaffected.
    await failOnce("192.0.2.78");
  });

  test("HTTP and the WebSocket share one budget per client address", async () => {
    const ip = "192.0.2.99";
    for (let i = 0; i < AUTH_FAILURE_LIMIT; i++) {
      const res = await fetch(`${r.http}/api/messages`, {
        method: "POST",
        headers: { authorization: "Bearer bad", "content-type": "application/json", ...from(ip) },
        body: JSON.stringify({ text: "hi" }),
      });
      expect(res.status).toBe(401);
    }
    expect((await upgradeRequest("?token=bad", from(ip))).status).toBe(429);
    await failOnce("192.0.2.100");
  });
});
