/**
 * The plugin's gateway side against an in-test relay (tier a): connection, terminal closes,
 * inbound → agent → reply → ack, reconnects, dedupe, shutdown. Real WebSockets on 127.0.0.1, the
 * shared protocol schemas on both ends, a stub channel runtime for OpenClaw, millisecond back-off.
 */
import { describe, expect, test } from "bun:test";
import { createFeishuRelayPlugin } from "../src/channel.ts";
import { resolveAccount } from "../src/config.ts";
import { handleInbound } from "../src/inbound.ts";
import { eventLog } from "../src/log.ts";
import {
  FakeRelay,
  type FakeRelayOptions,
  greetWith,
  helloFrame,
  messageFrame,
  OWNER,
} from "./helpers/fake-relay.ts";
import { FAST_CLIENT, runAccount, stopsAfterEach } from "./helpers/gateway-cleanup.ts";
import { gatewayContext, type StubFlavor, type StubRuntime, stubRuntime } from "./helpers/stub-runtime.ts";

const TOKEN = "tok.secret-jwt-value";

let relay: FakeRelay | undefined;
const stops = stopsAfterEach(() => {
  relay?.stop();
  relay = undefined;
});

function start(opts: FakeRelayOptions = {}, flavor: StubFlavor = "classic", tuning = {}) {
  relay = new FakeRelay(opts);
  const cfg = { channels: { "feishu-relay": { relayUrl: relay.url, token: TOKEN } } };
  const plugin = createFeishuRelayPlugin({ client: { ...FAST_CLIENT, ...tuning } });
  const stub: StubRuntime = stubRuntime(flavor);
  const gw = gatewayContext(cfg, resolveAccount(cfg), stub.rt);
  const { running, stop } = runAccount(plugin, gw, stops);
  let settled = false;
  void running.then(() => (settled = true));
  return { relay, plugin, stub, gw, running, stop, isSettled: () => settled, cfg };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("connection", () => {
  test("connects with the token in the query and a User-Agent, and reports connected", async () => {
    const { relay, gw } = start();
    await relay.waitFor(() => gw.status().connected === true, 2000, "connected status");
    const conn = relay.conns[0]!;
    expect(conn.token).toBe(TOKEN);
    expect(conn.userAgent).toStartWith("openclaw-feishu-relay-channel/1.0.0");
    expect(gw.status()).toMatchObject({
      running: true,
      connected: true,
      lifecycle: "ready",
      lastError: null,
    });
    expect(typeof gw.status().lastConnectedAt).toBe("number");
  });

  test("never logs the token", async () => {
    const { relay, gw } = start({ onOpen: (c) => c.ws.close(1012, "relay restarting") });
    await relay.waitFor(() => relay.conns.length >= 2, 2000, "a reconnect");
    expect(gw.logs.length).toBeGreaterThan(0);
    for (const line of gw.logs) expect(line).not.toContain(TOKEN);
    expect(JSON.stringify(gw.statuses)).not.toContain(TOKEN);
  });

  test("4001 is terminal: reports it, does not reconnect, stays pending until aborted", async () => {
    const t = start({ onOpen: (c) => c.ws.close(4001, "unauthorized") });
    await t.relay.waitFor(() => t.gw.status().terminalDisconnect === true, 2000, "terminal status");
    expect(t.gw.status()).toMatchObject({ connected: false, lifecycle: "blocked", running: false });
    expect(String(t.gw.status().lastError)).toContain("4001");
    await sleep(100); // 20× the back-off: a reconnect would have happened by now
    expect(t.relay.conns.length).toBe(1);
    expect(t.isSettled()).toBe(false);
    await t.stop();
    expect(t.isSettled()).toBe(true);
  });

  test("4002 (replaced) is terminal too", async () => {
    const t = start({
      onOpen: (c) => {
        c.send(helloFrame());
        setTimeout(() => c.ws.close(4002, "replaced"), 10);
      },
    });
    await t.relay.waitFor(() => t.gw.status().terminalDisconnect === true, 2000, "terminal status");
    expect(String(t.gw.status().lastError)).toContain("4002");
    await sleep(100);
    expect(t.relay.conns.length).toBe(1);
    expect(t.isSettled()).toBe(false);
  });

  test("reconnects after 1012 and after an abrupt drop (1006)", async () => {
    let opened = 0;
    const t = start({
      onOpen: (c) => {
        opened += 1;
        c.send(helloFrame());
        if (opened === 1) setTimeout(() => c.ws.close(1012, "relay restarting"), 10);
        if (opened === 2) setTimeout(() => c.ws.terminate(), 10);
      },
    });
    await t.relay.waitFor(
      () => t.relay.conns.length >= 3 && t.gw.status().connected === true,
      2000,
      "3rd connection",
    );
    const codes = t.gw.statuses.flatMap((s) => (s.lastDisconnect ? [s.lastDisconnect.status] : []));
    expect(codes).toEqual([1012, 1006]);
    expect(t.gw.statuses.some((s) => s.lifecycle === "recovering")).toBe(true);
  });

  test("a relay that never says hello is given up on and retried", async () => {
    const t = start({ onOpen: () => {} }, "classic", { helloTimeoutMs: 40 });
    await t.relay.waitFor(() => t.relay.conns.length >= 2, 2000, "a second attempt");
    expect(t.gw.statuses.some((s) => s.lastDisconnect?.status === 4000)).toBe(true);
    expect(t.gw.status().connected).toBe(false);
  });

  test("falls back to no User-Agent when the WebSocket constructor rejects an init object", async () => {
    class StrictWebSocket extends WebSocket {
      constructor(url: string, init?: unknown) {
        if (init && typeof init === "object" && !Array.isArray(init)) throw new SyntaxError("bad protocol");
        super(url);
      }
    }
    const t = start({}, "classic", { WebSocket: StrictWebSocket });
    await t.relay.waitFor(() => t.gw.status().connected === true, 2000, "connected");
    expect(t.relay.conns[0]!.token).toBe(TOKEN);
    expect(t.relay.conns[0]!.userAgent ?? "").not.toContain("openclaw-feishu-relay-channel");
  });

  test("abort closes the socket and startAccount resolves", async () => {
    const t = start();
    await t.relay.waitFor(() => t.gw.status().connected === true, 2000, "connected");
    await t.stop();
    await t.relay.waitFor(() => t.relay.conns[0]!.closed, 2000, "server-side close");
    expect(t.gw.status()).toMatchObject({ running: false, connected: false });
    expect(t.plugin.clients.size).toBe(0);
  });

  test("app-level ping every heartbeat; a silent relay is abandoned and we reconnect", async () => {
    const t = start({ pong: false }, "classic", { heartbeatMs: 30 });
    await t.relay.waitFor(() => t.relay.framesOf("ping").length >= 1, 2000, "a ping");
    await t.relay.waitFor(() => t.relay.conns.length >= 2, 2000, "reconnect after watchdog");
    expect(t.gw.logs.some((l) => l.includes("relay_heartbeat_timeout"))).toBe(true);
  });
});

describe("inbound", () => {
  for (const flavor of ["classic", "modern", "current"] as const) {
    test(`message → agent → send(replyTo) → sent → ack (${flavor} runtime)`, async () => {
      const t = start({ onOpen: greetWith(messageFrame(1)) }, flavor);
      const ack = await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
      expect(ack.seq).toBe(1);
      const [send] = t.relay.framesOf("send");
      expect(send).toMatchObject({ replyTo: "om_msg1", msgType: "markdown", text: "echo hello 1" });
      expect(send!.to).toBeUndefined();
      expect(send!.uuid!.length).toBeLessThanOrEqual(50);
      const ctx = t.stub.dispatched[0]!.ctx;
      expect(ctx).toMatchObject({
        MessageSid: "om_msg1",
        From: `feishu-relay:user:${OWNER.openId}`,
        To: `feishu-relay:user:${OWNER.openId}`,
        OriginatingTo: `feishu-relay:user:${OWNER.openId}`,
        OriginatingChannel: "feishu-relay",
        ChatType: "direct",
        CommandAuthorized: true,
        SessionKey: `agent:main:feishu-relay:direct:${OWNER.openId}`,
      });
      expect(t.stub.recorded.length).toBe(1);
      // The ack comes only after the reply was confirmed.
      const frames = t.relay.conns[0]!.frames.map((f) => f.type).filter((x) => x !== "ping");
      expect(frames).toEqual(["send", "ack"]);
    });
  }

  test("group message: chat target, group route, mention flag; others are not command-authorized", async () => {
    const msg = messageFrame(1, {
      chatType: "group",
      chatId: "oc_group",
      sender: { openId: "ou_someone", name: "Someone" },
      mentionedBot: true,
    });
    const t = start({ onOpen: greetWith(msg) });
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(t.stub.dispatched[0]!.ctx).toMatchObject({
      From: "feishu-relay:chat:oc_group",
      OriginatingTo: "feishu-relay:chat:oc_group",
      ChatType: "group",
      WasMentioned: true,
      CommandAuthorized: false,
      SessionKey: "agent:main:feishu-relay:group:oc_group",
    });
  });

  for (const flavor of ["classic", "modern", "current"] as const) {
    test(`group context (${flavor} runtime): chat name, quoted message, forwarded chat, real sender of a bound group`, async () => {
      const msg = messageFrame(1, {
        chatType: "group",
        chatId: "oc_team",
        chatName: "产品周会",
        boundChat: true,
        sender: { openId: "ou_member", name: "李雷" },
        mentionedBot: true,
        mentions: [{ key: "@_user_1", openId: "ou_bot", name: "Bot" }],
        // As an older relay sent it, with the bot's mention in the text.
        text: "@Bot /status",
        parentId: "om_parent",
        quoted: {
          messageId: "om_parent",
          senderOpenId: "ou_h",
          senderName: "韩梅梅",
          senderType: "user",
          msgType: "text",
          text: "上周的数据在哪？",
        },
        forwarded: {
          messages: [{ messageId: "om_c1", senderName: "韩梅梅", msgType: "text", text: "数据在表里" }],
          truncated: true,
        },
      });
      const t = start({ onOpen: greetWith(msg) }, flavor);
      await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
      const ctx = t.stub.dispatched[0]!.ctx;
      expect(ctx).toMatchObject({
        ChatType: "group",
        ConversationLabel: "产品周会",
        GroupSubject: "产品周会",
        SenderId: "ou_member",
        SenderName: "李雷",
        CommandAuthorized: false,
        CommandBody: "/status",
        ReplyToId: "om_parent",
        ReplyToBody: "上周的数据在哪？",
        ReplyToSender: "韩梅梅",
        SessionKey: "agent:main:feishu-relay:group:oc_team",
      });
      expect(String(ctx.BodyForAgent)).toBe(
        "/status\n\n[Forwarded chat: 1 messages, oldest first]\n韩梅梅: 数据在表里\n[Forwarded chat truncated: some messages were left out]",
      );
      expect(t.relay.framesOf("send")[0]).toMatchObject({ replyTo: msg.messageId });
      if (flavor === "current") expect(ctx.built).toBe(true);
      else expect(ctx.finalized).toBe(true);
    });
  }

  test("groupSessionScope group_topic: a topic gets its own session under the group", async () => {
    relay = new FakeRelay({
      onOpen: greetWith(
        messageFrame(1, { chatType: "group", chatId: "oc_g", threadId: "omt_9", mentionedBot: true }),
      ),
    });
    const cfg = {
      channels: { "feishu-relay": { relayUrl: relay.url, token: TOKEN, groupSessionScope: "group_topic" } },
    };
    const stub = stubRuntime("current");
    const peers: unknown[] = [];
    const resolve = stub.rt.routing!.resolveAgentRoute!;
    stub.rt.routing!.resolveAgentRoute = (p: { peer: unknown; parentPeer?: unknown }) => {
      peers.push({ peer: p.peer, parentPeer: p.parentPeer });
      return resolve(p);
    };
    const gw = gatewayContext(cfg, resolveAccount(cfg), stub.rt);
    const plugin = createFeishuRelayPlugin({ client: FAST_CLIENT });
    runAccount(plugin, gw, stops);
    await relay.waitFor(() => relay!.framesOf("ack")[0], 2000, "ack");
    expect(peers).toEqual([
      { peer: { kind: "group", id: "oc_g:topic:omt_9" }, parentPeer: { kind: "group", id: "oc_g" } },
    ]);
    expect(stub.dispatched[0]!.ctx.SessionKey).toBe("agent:main:feishu-relay:group:oc_g:topic:omt_9");
  });

  test("a host without the deprecated calls answers through buildContext + dispatch; one with neither API fails clearly", async () => {
    const t = start({ onOpen: greetWith(messageFrame(1)) }, "current");
    expect(t.stub.rt.reply?.finalizeInboundContext).toBeUndefined();
    expect(t.stub.rt.session).toBeUndefined();
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(t.relay.framesOf("send")[0]).toMatchObject({ replyTo: "om_msg1", text: "echo hello 1" });
    expect(t.stub.recorded).toMatchObject([{ current: true }]);
    expect(t.gw.logs.some((l) => l.includes("pipeline=current"))).toBe(true);

    const bare = stubRuntime("current");
    bare.rt.inbound = {};
    await expect(
      handleInbound(messageFrame(2), {
        rt: bare.rt,
        cfg: {},
        accountId: "default",
        ownerOpenId: OWNER.openId,
        link: { send: async () => [] } as never,
        log: eventLog({ info() {}, warn() {}, error() {}, debug() {} }),
      }),
    ).rejects.toThrow("lacks the channel runtime");
  });

  test("an error frame makes deliver throw (OpenClaw records it); the message is still acked", async () => {
    const t = start({
      onOpen: greetWith(messageFrame(1)),
      answerSend: (f) => ({
        type: "error",
        id: f.id,
        code: "forbidden_target",
        message: "no",
        retryable: false,
      }),
    });
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    const errors = t.stub.dispatched[0]!.errors;
    expect(errors.length).toBe(1);
    expect(errors[0]).toMatchObject({ name: "RelaySendError", code: "forbidden_target" });
  });

  test("duplicates are dropped: a repeated seq and a known message id under a new seq", async () => {
    const t = start({
      onOpen: (c) => {
        c.send(helloFrame());
        c.send(messageFrame(1));
        c.send(messageFrame(1));
        setTimeout(() => c.send(messageFrame(2, { messageId: "om_msg1" })), 50);
      },
    });
    await t.relay.waitFor(() => t.relay.framesOf("ack").some((a) => a.seq === 2), 2000, "ack 2");
    expect(t.stub.dispatched.length).toBe(1);
    expect(t.relay.framesOf("send").length).toBe(1);
  });

  test("acks only the contiguous run of finished seqs when handling finishes out of order", async () => {
    const gates = new Map<string, () => void>();
    const t = start({
      onOpen: greetWith(messageFrame(1), messageFrame(2), messageFrame(3)),
    });
    t.stub.reply = (ctx) => new Promise((resolve) => gates.set(String(ctx.MessageSid), () => resolve([])));
    await t.relay.waitFor(() => gates.size === 3, 2000, "three dispatches");
    gates.get("om_msg2")!();
    gates.get("om_msg3")!();
    await sleep(30);
    expect(t.relay.framesOf("ack")).toEqual([]);
    gates.get("om_msg1")!();
    const ack = await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(ack.seq).toBe(3);
    expect(t.relay.framesOf("ack").length).toBe(1);
  });

  test("a message replayed after a reconnect while still in flight runs once and is acked on the new socket", async () => {
    let release: () => void = () => {};
    let opened = 0;
    const t = start({
      onOpen: (c) => {
        opened += 1;
        c.send(helloFrame());
        c.send(messageFrame(1));
        if (opened === 1) setTimeout(() => c.ws.close(1012, "restart"), 30);
      },
    });
    t.stub.reply = (ctx) =>
      new Promise((resolve) => (release = () => resolve([{ text: `echo ${ctx.BodyForAgent}` }])));
    await t.relay.waitFor(() => t.relay.conns.length === 2 && t.gw.status().connected, 2000, "reconnect");
    release();
    const ack = await t.relay.waitFor(
      () => t.relay.conns[1]!.frames.find((f) => f.type === "ack"),
      2000,
      "ack",
    );
    expect(ack).toEqual({ type: "ack", seq: 1 });
    expect(t.stub.dispatched.length).toBe(1);
    // The reply waited for the new connection rather than failing.
    expect(t.relay.conns[1]!.frames.filter((f) => f.type === "send").length).toBe(1);
  });

  test("a malformed message frame is skipped and acked past, so it cannot block the queue", async () => {
    const t = start({
      onOpen: (c) => {
        c.send(helloFrame());
        c.ws.send(JSON.stringify({ type: "message", seq: 1, messageId: 42 }));
        c.send(messageFrame(2));
      },
    });
    const ack = await t.relay.waitFor(() => t.relay.framesOf("ack").find((a) => a.seq === 2), 2000, "ack 2");
    expect(ack.seq).toBe(2);
    expect(t.stub.dispatched.length).toBe(1);
  });
});

describe("outbound.sendText", () => {
  test("sends `to` and returns the relay's message id", async () => {
    const t = start();
    await t.relay.waitFor(() => t.gw.status().connected === true, 2000, "connected");
    const result = await t.plugin.outbound!.sendText!({
      cfg: t.cfg,
      to: "feishu-relay:user:ou_owner",
      text: "hi",
      accountId: "default",
      deliveryQueueId: "dq-1",
    } as never);
    const [send] = t.relay.framesOf("send");
    expect(send).toMatchObject({ to: "user:ou_owner", msgType: "markdown", text: "hi", uuid: "q:dq-1:0:0" });
    expect(result).toMatchObject({ channel: "feishu-relay" });
    expect(result.messageId).toStartWith("om_sent");
  });

  test("a send issued while disconnected goes out after the reconnect", async () => {
    let opened = 0;
    const t = start({
      onOpen: (c) => {
        opened += 1;
        if (opened === 1) c.ws.close(1012, "restart");
        else setTimeout(() => c.send(helloFrame()), 50);
      },
    });
    await t.relay.waitFor(() => t.plugin.clients.size === 1 && t.relay.conns.length >= 1, 2000, "client");
    const result = await t.plugin.outbound!.sendText!({
      cfg: t.cfg,
      to: "chat:oc_x",
      text: "later",
    } as never);
    expect(result.messageId).toStartWith("om_sent");
    expect(t.relay.framesOf("send")[0]).toMatchObject({ to: "chat:oc_x", text: "later" });
  });

  test("a send whose answer was lost with the socket is written again, with the same uuid", async () => {
    const t = start({
      answerSend: (f, conn) => {
        if (conn.n === 1) {
          conn.ws.close(1012, "restart");
          return undefined;
        }
        return { type: "sent", id: f.id, messageId: "om_second" };
      },
    });
    await t.relay.waitFor(() => t.gw.status().connected === true, 2000, "connected");
    const result = await t.plugin.outbound!.sendText!({
      cfg: t.cfg,
      to: "user:ou_owner",
      text: "once",
    } as never);
    expect(result.messageId).toBe("om_second");
    const sends = t.relay.framesOf("send");
    expect(sends.length).toBe(2);
    expect(sends[0]!.uuid).toBe(sends[1]!.uuid!);
  });

  test("rejects unknown targets and fails clearly when the channel is not running", async () => {
    const plugin = createFeishuRelayPlugin();
    await expect(
      plugin.outbound!.sendText!({ cfg: {}, to: "user:ou_x", text: "x" } as never),
    ).rejects.toThrow(/not connected/);
    const t = start({}, "classic");
    await t.relay.waitFor(() => t.gw.status().connected === true, 2000, "connected");
    await expect(t.plugin.outbound!.sendText!({ cfg: t.cfg, to: "bob", text: "x" } as never)).rejects.toThrow(
      /unsupported target/,
    );
  });

  test("an unanswered send times out", async () => {
    const t = start({ answerSend: () => undefined }, "classic", { sendTimeoutMs: 60 });
    await t.relay.waitFor(() => t.gw.status().connected === true, 2000, "connected");
    await expect(
      t.plugin.outbound!.sendText!({ cfg: t.cfg, to: "user:ou_owner", text: "x" } as never),
    ).rejects.toThrow(/did not confirm/);
  });
});

test("an unconfigured account reports why and waits for a config change instead of looping", async () => {
  const plugin = createFeishuRelayPlugin({ client: FAST_CLIENT });
  const cfg = { channels: { "feishu-relay": { relayUrl: "ws://127.0.0.1:1/openclaw" } } };
  const gw = gatewayContext(cfg, resolveAccount(cfg), stubRuntime().rt);
  const running = plugin.gateway!.startAccount!(gw.ctx as never) as Promise<unknown>;
  await sleep(20);
  expect(gw.status()).toMatchObject({ configured: false, terminalDisconnect: true });
  expect(String(gw.status().lastError)).toContain("token");
  gw.abort.abort();
  await running;
});

describe("queued sends and forward compatibility (M2-1)", () => {
  test("reply uuids are derived from the message id and the reply's position, so a redelivery repeats them", async () => {
    const t = start({ onOpen: greetWith(messageFrame(1)) });
    t.stub.reply = () => [{ text: "first" }, { text: "second" }];
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(t.relay.framesOf("send").map((f) => f.uuid)).toEqual(["om_msg1:0:0", "om_msg1:1:0"]);
  });

  test("queued settles sendText as accepted: no timeout, no resend after a reconnect; the late sent is logged", async () => {
    let late: (() => void) | undefined;
    const t = start(
      {
        answerSend: (f, conn) => {
          late = () => conn.send({ type: "sent", id: f.id, messageId: "om_late" });
          return { type: "queued", id: f.id, uuid: f.uuid!, retryAt: Date.now() + 60_000 };
        },
      },
      "classic",
      { sendTimeoutMs: 200 },
    );
    await t.relay.waitFor(() => t.gw.status().connected === true, 2000, "connected");
    const result = await t.plugin.outbound!.sendText!({
      cfg: t.cfg,
      to: "user:ou_owner",
      text: "during an outage",
      accountId: "default",
      deliveryQueueId: "dq-9",
    } as never);
    expect(result).toMatchObject({ messageId: "", meta: { messageIds: [], queued: ["q:dq-9:0:0"] } });
    expect(t.gw.logs.some((l) => l.includes("relay_send_queued"))).toBe(true);
    late!();
    await t.relay.waitFor(
      () => t.gw.logs.some((l) => l.includes("relay_send_delivered_late")),
      2000,
      "late log",
    );
    // Past the send timeout and across a reconnect, the accepted send is not written again.
    await sleep(250);
    t.relay.conns[0]!.ws.close(1012, "restart");
    await t.relay.waitFor(() => t.relay.conns.length === 2 && t.gw.status().connected, 2000, "reconnected");
    expect(t.relay.framesOf("send")).toHaveLength(1);
  });

  test("queued settles an inbound reply too: the message is acked without waiting for Feishu", async () => {
    const t = start({
      onOpen: greetWith(messageFrame(1)),
      answerSend: (f) => ({ type: "queued", id: f.id, uuid: f.uuid! }),
    });
    const ack = await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(ack.seq).toBe(1);
    expect(t.stub.dispatched[0]!.errors).toEqual([]);
  });

  test("rate_limited comes back as a retryable error with the relay's code", async () => {
    const t = start({
      answerSend: (f) => ({
        type: "error",
        id: f.id,
        code: "rate_limited",
        message: "too many sends queued",
        retryable: true,
        retryAfterMs: 1500,
      }),
    });
    await t.relay.waitFor(() => t.gw.status().connected === true, 2000, "connected");
    await expect(
      t.plugin.outbound!.sendText!({ cfg: t.cfg, to: "user:ou_owner", text: "x" } as never),
    ).rejects.toMatchObject({ code: "rate_limited", retryable: true, retryAfterMs: 1500 });
  });

  test("a frame type from a newer relay, and unknown fields, are ignored quietly", async () => {
    const t = start({
      onOpen: (c) => {
        c.send(helloFrame());
        c.ws.send(JSON.stringify({ type: "from_the_future", payload: 1 }));
        c.send({ ...messageFrame(1), futureField: true } as never);
      },
      answerSend: (f) => ({ type: "sent", id: f.id, messageId: "om_ok", somethingNew: 1 }) as never,
    });
    const ack = await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(ack.seq).toBe(1);
    expect(t.stub.dispatched[0]!.errors).toEqual([]);
    expect(t.gw.logs.some((l) => l.startsWith("warn") && l.includes("relay_bad_frame"))).toBe(false);
  });
});
