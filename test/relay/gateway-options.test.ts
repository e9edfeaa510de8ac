/** What the gateway is configured with: the bot in `hello`, the legacy auth deadline, Bun's socket limits. */
import { describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { gatewayRoutes } from "../../src/relay/gateway.ts";
import { CloseCode, HEARTBEAT_SEC, MAX_CLIENT_FRAME_BYTES } from "../../src/relay/protocol.ts";
import { createSessionStore } from "../../src/relay/session-store.ts";
import { SessionLog } from "../../src/relay/sessions.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { testRelay } from "../helpers.ts";
import { gatewayRelay } from "./gateway-fixtures.ts";
import { connect, isType } from "./ws-client.ts";

const fake = await useFakeFeishu({ port: 0 });

/** Resolves with `p`, or fails the test after `ms` instead of hanging until the runner's timeout. */
function within<T>(p: Promise<T>, ms = 3000): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms)),
  ]);
}

describe("gateway options", () => {
  test("hello carries the bot the relay serves, as Feishu describes it", async () => {
    const r = await gatewayRelay({
      FEISHU_DOMAIN: fake.url,
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
    });
    try {
      const { token } = await r.user("ou_hello_bot");
      const c = connect(r.url, { token });
      const hello = await c.next(isType("hello"));
      expect(hello.bot).toEqual({ openId: fake.botOpenId, name: fake.botName });
      expect(fake.botOpenId).not.toBe("");
      c.close();
      await c.closed;
    } finally {
      await r.close();
    }
  });

  test("a connection without a token that never sends the auth frame is closed with 4001", async () => {
    const t = await testRelay();
    const { ctx, core } = t.relay;
    const app = new Elysia()
      .use(
        gatewayRoutes(ctx, {
          hub: core.hub,
          outbox: core.outbox,
          sessions: new SessionLog(createSessionStore(ctx.storage, ctx.nodeId), ctx.now),
          bot: async () => ({ openId: "", name: "" }),
          legacyAuthTimeoutMs: 50,
        }),
      )
      .listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const silent = connect(`ws://127.0.0.1:${app.server?.port}/openclaw`);
      const closed = await within(silent.closed);
      expect(closed).toEqual({ code: CloseCode.unauthorized, reason: "no auth frame in time" });
    } finally {
      await app.stop(true);
      await t.close();
    }
  });

  test("Bun is given the frame cap and the idle timeout of three heartbeats", async () => {
    const serve = Bun.serve;
    const given: Array<{ websocket?: { idleTimeout?: number; maxPayloadLength?: number } }> = [];
    Bun.serve = ((options: (typeof given)[number]) => {
      given.push(options);
      return serve(options as Parameters<typeof serve>[0]);
    }) as typeof serve;
    const t = await testRelay();
    try {
      await t.relay.listen();
    } finally {
      Bun.serve = serve;
    }
    // A silent plugin is dropped after 75 s; the setting, not the wait, is what a test can afford.
    expect(given.at(-1)?.websocket).toMatchObject({
      idleTimeout: HEARTBEAT_SEC * 3,
      maxPayloadLength: MAX_CLIENT_FRAME_BYTES,
    });
    await t.close();
  });
});
