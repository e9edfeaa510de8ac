/**
 * Live answers (feature `stream`) through the plugin's gateway against the in-test relay: the stub
 * agent calls OpenClaw's `onPartialReply` as a streaming model would; drafts reach the relay before
 * the final `send`, which carries the stream's id. Relays without the feature, a `streaming: false`
 * config and `stream_unavailable` all give the pre-M2-3 behaviour: no drafts, plain finals.
 */
import { describe, expect, test } from "bun:test";
import type { HelloFrame, ServerFrame } from "../../src/relay/protocol.ts";
import { createFeishuRelayPlugin } from "../src/channel.ts";
import { resolveAccount } from "../src/config.ts";
import { FakeRelay, type FakeRelayOptions, helloFrame, messageFrame } from "./helpers/fake-relay.ts";
import { FAST_CLIENT, runAccount, stopsAfterEach } from "./helpers/gateway-cleanup.ts";
import {
  gatewayContext,
  type StubFlavor,
  type StubReplyOptions,
  stubRuntime,
} from "./helpers/stub-runtime.ts";

const TOKEN = "tok.stream-secret";
const streamHello = (minIntervalMs = 0): HelloFrame =>
  helloFrame({ features: ["media", "stream"], stream: { minIntervalMs } });

let relay: FakeRelay | undefined;
const stops = stopsAfterEach(() => {
  relay?.stop();
  relay = undefined;
});

interface StartOptions {
  hello?: HelloFrame;
  frames?: ServerFrame[];
  relay?: FakeRelayOptions;
  flavor?: StubFlavor;
  streaming?: boolean;
}

function start(o: StartOptions = {}) {
  relay = new FakeRelay({
    onOpen: (c) => {
      c.send(o.hello ?? streamHello());
      for (const f of o.frames ?? []) c.send(f);
    },
    ...o.relay,
  });
  const section = {
    relayUrl: relay.url,
    token: TOKEN,
    ...(o.streaming === undefined ? {} : { streaming: o.streaming }),
  };
  const cfg = { channels: { "feishu-relay": section } };
  const plugin = createFeishuRelayPlugin({ client: FAST_CLIENT });
  const stub = stubRuntime(o.flavor ?? "classic");
  const gw = gatewayContext(cfg, resolveAccount(cfg), stub.rt);
  runAccount(plugin, gw, stops);
  return { relay, stub, gw };
}

/** A streaming agent: snapshots of its answer, then the final payloads. */
function streamingAgent(snapshots: string[], finals: Array<{ text?: string; mediaUrl?: string }>) {
  return (_ctx: Record<string, unknown>, opts?: StubReplyOptions) => {
    for (const text of snapshots) opts?.onPartialReply?.({ text });
    return finals;
  };
}

const typesOnConn = (r: FakeRelay) =>
  r.conns[0]!.frames.map((f) => f.type).filter((t) => t !== "ping" && t !== "ack");

describe("drafts", () => {
  for (const flavor of ["classic", "modern", "current"] as const) {
    test(`snapshots become drafts before the final, which carries the streamId (${flavor})`, async () => {
      const t = start({ frames: [messageFrame(1)], flavor });
      t.stub.reply = streamingAgent(
        ["Let me", "Let me check", "Let me check the logs"],
        [{ text: "Let me check the logs. All fine." }],
      );
      await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
      const drafts = t.relay.framesOf("draft");
      expect(drafts.map((d) => d.text)).toEqual(["Let me", "Let me check", "Let me check the logs"]);
      for (const d of drafts) expect(d).toMatchObject({ replyTo: "om_msg1", streamId: "om_msg1:0" });
      expect(new Set(drafts.map((d) => d.id)).size).toBe(3);
      const sends = t.relay.framesOf("send");
      expect(sends).toHaveLength(1);
      expect(sends[0]).toMatchObject({
        replyTo: "om_msg1",
        msgType: "markdown",
        text: "Let me check the logs. All fine.",
        streamId: "om_msg1:0",
      });
      expect(typesOnConn(t.relay)).toEqual(["draft", "draft", "draft", "send"]);
      expect(t.stub.dispatched[0]!.replyOptions?.disableBlockStreaming).toBe(true);
    });
  }

  test("drafts are throttled to hello.stream.minIntervalMs; the final supersedes a waiting one", async () => {
    const t = start({ hello: streamHello(5_000), frames: [messageFrame(1)] });
    t.stub.reply = streamingAgent(["a", "ab", "abc"], [{ text: "abcd" }]);
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(t.relay.framesOf("draft").map((d) => d.text)).toEqual(["a"]);
    expect(t.relay.framesOf("send")[0]).toMatchObject({ text: "abcd", streamId: "om_msg1:0" });
  });

  test("a final payload without text closes the stream with the last snapshot; media still go as media", async () => {
    const t = start({ frames: [messageFrame(1)] });
    t.stub.reply = streamingAgent(["Here is the chart"], [{ mediaUrl: "https://example.com/c.png" }]);
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    const sends = t.relay.framesOf("send");
    // No media loader in this test: the remote URL goes as a link in the closing text.
    expect(sends).toHaveLength(1);
    expect(sends[0]).toMatchObject({ streamId: "om_msg1:0", msgType: "markdown" });
    expect(sends[0]!.text).toContain("Here is the chart");
    expect(sends[0]!.text).toContain("https://example.com/c.png");
  });

  test("a turn that drafted but delivered nothing closes its stream with the last snapshot", async () => {
    const t = start({ frames: [messageFrame(1)] });
    t.stub.reply = streamingAgent(["thinking out loud"], []);
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(t.relay.framesOf("send")).toEqual([
      expect.objectContaining({ text: "thinking out loud", streamId: "om_msg1:0", replyTo: "om_msg1" }),
    ]);
  });

  test("only the first final payload closes the stream; later ones are ordinary replies", async () => {
    const t = start({ frames: [messageFrame(1)] });
    t.stub.reply = streamingAgent(["one"], [{ text: "one." }, { text: "two." }]);
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    const sends = t.relay.framesOf("send");
    expect(sends.map((s) => [s.text, s.streamId])).toEqual([
      ["one.", "om_msg1:0"],
      ["two.", undefined],
    ]);
    expect(sends[0]!.uuid).not.toBe(sends[1]!.uuid);
  });

  test("a long final carries the streamId on its first piece only", async () => {
    const t = start({ frames: [messageFrame(1)] });
    const long = `${"line of text\n".repeat(6000)}end`;
    t.stub.reply = streamingAgent(["line of text"], [{ text: long }]);
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    const sends = t.relay.framesOf("send");
    expect(sends.length).toBeGreaterThan(1);
    expect(sends.map((s) => s.streamId)).toEqual(["om_msg1:0", ...sends.slice(1).map(() => undefined)]);
    expect(sends.map((s) => s.text).join("\n")).toBe(long);
  });

  test("stream_unavailable: that stream stops drafting, its final is plain, and the next turn does not draft", async () => {
    const t = start({
      frames: [messageFrame(1)],
      relay: {
        answerDraft: (f) => ({
          type: "error",
          id: f.id,
          code: "stream_unavailable",
          message: "card creation failed",
          retryable: false,
        }),
      },
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    t.stub.reply = async (ctx, opts) => {
      if (ctx.MessageSid === "om_msg1") {
        opts?.onPartialReply?.({ text: "first" });
        await gate; // the relay's refusal arrives meanwhile
        opts?.onPartialReply?.({ text: "first and more" });
        return [{ text: "first and more." }];
      }
      opts?.onPartialReply?.({ text: "second" });
      return [{ text: "second." }];
    };
    await t.relay.waitFor(() => t.gw.logs.find((l) => l.includes("draft_refused")), 2000, "refusal");
    release();
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack 1");
    t.relay.conns[0]!.send(messageFrame(2));
    await t.relay.waitFor(() => t.relay.framesOf("ack").find((a) => a.seq === 2), 2000, "ack 2");
    expect(t.relay.framesOf("draft").map((d) => d.text)).toEqual(["first"]);
    expect(t.relay.framesOf("send").map((s) => [s.text, s.streamId])).toEqual([
      ["first and more.", undefined],
      ["second.", undefined],
    ]);
    expect(t.gw.logs.some((l) => l.includes("relay_error_frame"))).toBe(false);
  });

  test("a draft lost with the connection is not resent; the final goes out on the new one with the streamId", async () => {
    const t = start({
      relay: {
        onOpen: (c) => {
          c.send(streamHello());
          if (c.n === 1) c.send(messageFrame(1));
        },
        answerDraft: (_f, conn) => {
          if (conn.n === 1) conn.ws.close(1012, "relay restarting");
          return undefined;
        },
      },
    });
    t.stub.reply = async (_ctx, opts) => {
      opts?.onPartialReply?.({ text: "before the drop" });
      await t.relay.waitFor(() => t.relay.conns[1] && t.gw.status().connected === true, 2000, "reconnect");
      opts?.onPartialReply?.({ text: "before the drop, after it" });
      return [{ text: "before the drop, after it." }];
    };
    // (No ack: this fake relay does not replay message 1 on the new connection.)
    await t.relay.waitFor(() => t.relay.framesOf("send")[0], 3000, "the final");
    const [first, second] = t.relay.conns;
    expect(first!.frames.filter((f) => f.type === "draft").map((f) => f.type === "draft" && f.text)).toEqual([
      "before the drop",
    ]);
    expect(second!.frames.filter((f) => f.type !== "ping" && f.type !== "ack")).toEqual([
      expect.objectContaining({ type: "draft", text: "before the drop, after it", streamId: "om_msg1:0" }),
      expect.objectContaining({ type: "send", text: "before the drop, after it.", streamId: "om_msg1:0" }),
    ]);
  });

  test("an error for an unknown or old draft id is only logged", async () => {
    const t = start({ frames: [messageFrame(1)] });
    t.stub.reply = streamingAgent(["x"], [{ text: "x." }]);
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    t.relay.conns[0]!.send({
      type: "error",
      id: "d:gone:1",
      code: "stream_unavailable",
      message: "",
      retryable: false,
    });
    t.relay.conns[0]!.send(messageFrame(2));
    await t.relay.waitFor(() => t.relay.framesOf("ack").find((a) => a.seq === 2), 2000, "ack 2");
    // No back-off either: the next turn still streams.
    expect(t.relay.framesOf("send").map((s) => s.streamId)).toEqual(["om_msg1:0", "om_msg2:0"]);
    expect(t.gw.logs.some((l) => l.includes("relay_error_frame"))).toBe(true);
  });
});

describe("no drafts", () => {
  test("a relay without the stream feature: no replyOptions, no drafts, a plain final", async () => {
    const t = start({ hello: helloFrame({ features: ["media"] }), frames: [messageFrame(1)] });
    t.stub.reply = streamingAgent(["never sent"], [{ text: "final" }]);
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(t.stub.dispatched[0]!.replyOptions).toBeUndefined();
    expect(t.relay.framesOf("draft")).toEqual([]);
    expect(t.relay.framesOf("send")).toEqual([expect.objectContaining({ text: "final" })]);
    expect(t.relay.framesOf("send")[0]!.streamId).toBeUndefined();
  });

  test("a pre-M2-2 relay (no features at all) behaves as before", async () => {
    const t = start({ hello: helloFrame(), frames: [messageFrame(1)], flavor: "modern" });
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(t.stub.dispatched[0]!.replyOptions).toBeUndefined();
    expect(typesOnConn(t.relay)).toEqual(["send"]);
  });

  test("channels.feishu-relay.streaming = false switches drafting off", async () => {
    const t = start({ frames: [messageFrame(1)], streaming: false });
    t.stub.reply = streamingAgent(["never sent"], [{ text: "final" }]);
    await t.relay.waitFor(() => t.relay.framesOf("ack")[0], 2000, "ack");
    expect(t.stub.dispatched[0]!.replyOptions).toBeUndefined();
    expect(t.relay.framesOf("draft")).toEqual([]);
    expect(t.relay.framesOf("send")[0]!.streamId).toBeUndefined();
  });
});
