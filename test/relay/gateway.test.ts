import { afterAll, describe, expect, test } from "bun:test";
import { CloseCode } from "../../src/relay/protocol.ts";
import { sqlGet } from "../storage/sql.ts";
import { gatewayRelay } from "./gateway-fixtures.ts";
import { connect, isType } from "./ws-client.ts";

const r = await gatewayRelay();
afterAll(() => r.close());

describe("plugin gateway /openclaw", () => {
  test("hello, then live delivery in seq order", async () => {
    const { user, token } = await r.user("ou_live");
    const c = connect(r.url, { token });
    const hello = await c.next(isType("hello"));
    expect(hello).toMatchObject({
      protocol: 1,
      user: { id: String(user.id), openId: "ou_live" },
      pending: 0,
      heartbeatSec: 25,
    });
    expect(hello.sessionId).toBeString();
    const a = await r.store(user.id, { text: "one" });
    const b = await r.store(user.id, { text: "two" });
    const m1 = await c.next(isType("message"));
    const m2 = await c.next(isType("message"));
    expect([m1.seq, m2.seq]).toEqual([a.seq, b.seq]);
    expect(m1).toMatchObject({
      type: "message",
      messageId: a.message.messageId,
      chatType: "p2p",
      text: "one",
    });
    c.close();
    await c.closed;
  });

  test("a connected socket is the one subscriber of its user's topic; live frames go through it", async () => {
    const { user, token } = await r.user("ou_topic");
    const server = r.relay.app.server!;
    const topic = `user:${user.id}`;
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    expect(server.subscriberCount(topic)).toBe(1);
    // Another process publishing on the topic reaches this socket: the live path is the topic.
    const published = server.publish(topic, JSON.stringify({ type: "pong" }));
    expect(published).toBeGreaterThan(0);
    await c.next(isType("pong"));
    const a = await r.store(user.id, { text: "live" });
    expect((await c.next(isType("message"))).seq).toBe(a.seq);
    // A replacement takes the topic over; the replaced socket leaves it.
    const c2 = connect(r.url, { token });
    await c2.next(isType("hello"));
    await c.closed;
    expect(server.subscriberCount(topic)).toBe(1);
    c2.close();
    await c2.closed;
    expect(server.subscriberCount(topic)).toBe(0);
  });

  test("offline messages are replayed oldest first, and live ones wait behind them", async () => {
    const { user, token } = await r.user("ou_replay");
    const stored = [];
    for (let i = 0; i < 5; i++) stored.push(await r.store(user.id, { text: `m${i}` }));
    const c = connect(r.url, { token });
    const hello = await c.next(isType("hello"));
    expect(hello.pending).toBe(5);
    const live = r.store(user.id, { text: "live" });
    const seqs: unknown[] = [];
    for (let i = 0; i < 6; i++) seqs.push((await c.next(isType("message"))).seq);
    expect(seqs).toEqual([...stored.map((s) => s.seq), (await live).seq]);
    c.close();
  });

  test("ack stops redelivery; unacked messages come again on the next connection", async () => {
    const { user, token } = await r.user("ou_ack");
    const s1 = await r.store(user.id);
    const s2 = await r.store(user.id);
    const s3 = await r.store(user.id);
    const c1 = connect(r.url, { token });
    await c1.next(isType("message"));
    await c1.next(isType("message"));
    await c1.next(isType("message"));
    c1.send({ type: "ack", seq: s2.seq });
    c1.send({ type: "ping" });
    await c1.next(isType("pong")); // frames are handled in order: the ack is persisted by now
    c1.close();
    await c1.closed;
    expect(await r.ctx.inbox.pendingCount(user.id)).toBe(1);
    const c2 = connect(r.url, { token });
    expect((await c2.next(isType("hello"))).pending).toBe(1);
    const again = await c2.next(isType("message"));
    expect(again.seq).toBe(s3.seq);
    expect(s1.seq).toBeLessThan(s3.seq);
    c2.send({ type: "ack", seq: s3.seq });
    c2.send({ type: "ping" });
    await c2.next(isType("pong"));
    c2.close();
    await c2.closed;
    const c3 = connect(r.url, { token });
    expect((await c3.next(isType("hello"))).pending).toBe(0);
    c3.send({ type: "ping" });
    await c3.next(isType("pong"));
    expect(c3.frames.filter((f) => f.type === "message")).toHaveLength(0);
    c3.close();
  });

  test("a socket closing writes its last acks at once, not when the gathering window ends", async () => {
    // A window longer than the test: only the close can have written the ack.
    const slow = await gatewayRelay({}, { ackFlushMs: 600_000 });
    try {
      const { user, token } = await slow.user("ou_ack_close");
      const s1 = await slow.store(user.id);
      const c = connect(slow.url, { token });
      await c.next(isType("message"));
      c.send({ type: "ack", seq: s1.seq });
      c.close();
      await c.closed;
      // Read from the store itself: the inbox's own reads would write the acks first. Bounded wait
      // for the server's close handler.
      let seen = 0;
      for (let i = 0; i < 200 && seen !== s1.seq; i++) {
        seen = await slow.ctx.inbox.store.ackedSeq(user.id);
        if (seen !== s1.seq) await Bun.sleep(10);
      }
      expect(seen).toBe(s1.seq);
    } finally {
      await slow.close();
    }
  });

  test("an ack beyond what was sent is clamped", async () => {
    const { user, token } = await r.user("ou_clamp");
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    const s = await r.store(user.id);
    await c.next(isType("message"));
    c.send({ type: "ack", seq: s.seq + 100 });
    c.send({ type: "ping" });
    await c.next(isType("pong"));
    const later = await r.store(user.id);
    expect((await c.next(isType("message"))).seq).toBe(later.seq);
    expect(await r.ctx.inbox.pendingCount(user.id)).toBe(1);
    c.close();
  });

  test("a new connection of the same user closes the older one with 4002", async () => {
    const { token } = await r.user("ou_twice");
    const c1 = connect(r.url, { token });
    await c1.next(isType("hello"));
    const c2 = connect(r.url, { token });
    await c2.next(isType("hello"));
    expect((await c1.closed).code).toBe(CloseCode.replaced);
    c2.send({ type: "ping" });
    await c2.next(isType("pong"));
    c2.close();
  });

  test.each([
    ["no token at all, silent", undefined],
    ["a garbage token", "not-a-jwt"],
  ])("%s → 4001", async (_name, token) => {
    const c = connect(token ? `${r.url}?token=${token}` : r.url);
    if (!token) c.send({ type: "hello-there" });
    expect((await c.closed).code).toBe(CloseCode.unauthorized);
  });

  test("token in the query string works (browser-style clients)", async () => {
    const { token } = await r.user("ou_query");
    const c = connect(`${r.url}?token=${encodeURIComponent(token)}`);
    expect((await c.next(isType("hello"))).type).toBe("hello");
    c.close();
  });

  test("revocation closes the live socket with 4001 and the token stops working", async () => {
    const { user, token } = await r.user("ou_revoke");
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    await r.ctx.tokens.revoke(user.id);
    expect((await c.closed).code).toBe(CloseCode.unauthorized);
    const again = connect(r.url, { token });
    expect((await again.closed).code).toBe(CloseCode.unauthorized);
  });

  test("a revocation made by another process (the CLI) closes the live socket at the next sweep", async () => {
    const { user, token } = await r.user("ou_revoke_cli");
    const other = await r.user("ou_revoke_cli_other");
    const c = connect(r.url, { token });
    const kept = connect(r.url, { token: other.token });
    await c.next(isType("hello"));
    await kept.next(isType("hello"));
    expect(await r.relay.core.revocations.runOnce()).toBe(0);
    // What `openclaw-relay users revoke` does: a database write, no access to this process's sockets.
    await r.ctx.users.bumpTokenVersion(user.id);
    expect(await r.relay.core.revocations.runOnce()).toBe(1);
    expect((await c.closed).code).toBe(CloseCode.unauthorized);
    expect(r.relay.core.hub.isConnected(other.user.id)).toBe(true);
    kept.close();
  });

  test("user A never receives B's messages", async () => {
    const a = await r.user("ou_iso_a");
    const b = await r.user("ou_iso_b");
    const ca = connect(r.url, { token: a.token });
    const cb = connect(r.url, { token: b.token });
    await ca.next(isType("hello"));
    await cb.next(isType("hello"));
    const forB = await r.store(b.user.id, { text: "for b only" });
    const forA = await r.store(a.user.id, { text: "for a" });
    expect((await cb.next(isType("message"))).messageId).toBe(forB.message.messageId);
    expect((await ca.next(isType("message"))).messageId).toBe(forA.message.messageId);
    expect(ca.frames.some((f) => f.messageId === forB.message.messageId)).toBe(false);
    ca.close();
    cb.close();
  });

  test("malformed frames get bad_frame errors and the connection stays", async () => {
    const { token } = await r.user("ou_bad");
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    for (const bad of [
      "not json",
      "[1,2]",
      { type: "nope" },
      { type: "ack", seq: -1 },
      { type: "send", id: "x1", msgType: "telegram" },
      // String() of this type throws: it once escaped the parser and got no answer at all.
      { type: { toString: 1 } },
    ]) {
      c.send(bad);
      const err = await c.next(isType("error"));
      expect(err).toMatchObject({ code: "bad_frame", retryable: false });
    }
    c.send({ type: "send", id: "x2", msgType: "text" });
    expect(await c.next(isType("error"))).toMatchObject({ id: "x2", code: "bad_frame" });
    c.send({ type: "ping" });
    expect((await c.next(isType("pong"))).type).toBe("pong");
    c.close();
  });

  test("frames over 64 KiB are refused (close 1009)", async () => {
    const { token } = await r.user("ou_big");
    const c = connect(r.url, { token });
    await c.next(isType("hello"));
    c.send({ type: "send", id: "big", text: "x".repeat(70 * 1024) });
    expect((await c.closed).code).toBe(1009);
  });

  test("sending to someone else's chat or DM is forbidden_target", async () => {
    const a = await r.user("ou_tgt_a");
    await r.store(a.user.id, { chatId: "oc_group_a", chatType: "group" });
    const c = connect(r.url, { token: a.token });
    await c.next(isType("hello"));
    for (const [id, to] of [
      ["f1", "chat:oc_someone_elses"],
      ["f2", "user:ou_tgt_b"],
    ]) {
      c.send({ type: "send", id, to, text: "hi" });
      expect(await c.next((f) => f.id === id)).toMatchObject({
        type: "error",
        code: "forbidden_target",
        retryable: false,
      });
    }
    c.send({ type: "send", id: "f3", replyTo: "om_not_mine", text: "hi" });
    expect(await c.next((f) => f.id === "f3")).toMatchObject({ code: "forbidden_target" });
    c.close();
  });

  test("sessions are recorded with plugin version and closed on disconnect", async () => {
    const { user, token } = await r.user("ou_sess");
    const c = connect(r.url, { token });
    const hello = await c.next(isType("hello"));
    // Session rows are written behind (sessions.ts): wait for them, bounded.
    const row = async (done: (r: { v: string; d: number | null } | undefined) => boolean) => {
      for (let i = 0; ; i++) {
        const got = await sqlGet<{ v: string; d: number | null; code: number | null }>(
          r.ctx.storage,
          "SELECT plugin_version AS v, disconnected_at AS d, close_code AS code FROM sessions WHERE id = ?",
          [String(hello.sessionId)],
        );
        if (done(got) || i === 200) return got;
        await Bun.sleep(10);
      }
    };
    expect(await row((x) => x !== undefined)).toMatchObject({ v: "1.0.0", d: null });
    expect(r.ctx.hub.isConnected(user.id)).toBe(true);
    c.close();
    await c.closed;
    expect((await row((x) => x?.d != null))?.d).toBeNumber();
    expect(r.ctx.hub.isConnected(user.id)).toBe(false);
  });
});

describe("legacy protocol (the original plugin)", () => {
  test("auth frame → auth_success → feishu_message frames, acked on send", async () => {
    const { user, token } = await r.user("ou_legacy");
    const stored = await r.store(user.id, { text: "old style" });
    const c = connect(r.url);
    c.send({ type: "auth", token });
    expect((await c.next(isType("auth_success"))).type).toBe("auth_success");
    const f = await c.next(isType("feishu_message"));
    expect(f).toMatchObject({
      content: "old style",
      messageId: stored.message.messageId,
      chatType: "p2p",
      senderId: "ou_sender",
    });
    c.send({ type: "ping" });
    await c.next(isType("pong"));
    expect(await r.ctx.inbox.pendingCount(user.id)).toBe(0);
    c.close();
  });

  test("a wrong first frame closes with 4001", async () => {
    const c = connect(r.url);
    c.send({ type: "auth", token: "bad" });
    expect((await c.closed).code).toBe(CloseCode.unauthorized);
  });
});

describe("shutdown", () => {
  test("stopping the relay closes plugin sockets with 1012 and new connections are refused", async () => {
    const own = await gatewayRelay();
    const { token } = await own.user("ou_shutdown");
    const c = connect(own.url, { token });
    await c.next(isType("hello"));
    const stopping = own.close();
    expect((await c.closed).code).toBe(CloseCode.restarting);
    // It may reach the relay before its listener closes (then 1012) or not (then no connection):
    // either way it is never served.
    const late = connect(own.url, { token });
    expect([CloseCode.restarting, 1006]).toContain((await late.closed).code);
    expect(late.frames).toEqual([]);
    await stopping;
  });

  test("once shutdown began, a connection with a valid token is turned away with 1012", async () => {
    const own = await gatewayRelay();
    const { user, token } = await own.user("ou_shutdown_late");
    // What stop() does first, before the listener closes: from here on, nobody is admitted.
    own.relay.core.hub.closeAll();
    const late = connect(own.url, { token });
    // Whichever comes first: the close, or a hello that must not come.
    const first = await Promise.race([
      late.closed.then((c) => c.code),
      late.next(isType("hello")).then((f) => f.type),
    ]);
    expect(first).toBe(CloseCode.restarting);
    expect(late.frames).toEqual([]);
    expect(own.relay.core.hub.isConnected(user.id)).toBe(false);
    await own.close();
  });

  test("sockets still waiting for the legacy auth frame are closed with 1012 as well", async () => {
    const own = await gatewayRelay();
    const waiting = connect(own.url);
    await new Promise((resolve) => waiting.ws.addEventListener("open", resolve, { once: true }));
    const stopping = own.close();
    expect((await waiting.closed).code).toBe(CloseCode.restarting);
    await stopping;
  });
});
