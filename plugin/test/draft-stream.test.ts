/** Drafting one turn's answer (draft-stream.ts) with a manual clock: no sleeps. */
import { describe, expect, test } from "bun:test";
import { type DraftFrame, MAX_CLIENT_FRAME_BYTES } from "../../src/relay/protocol.ts";
import { DraftRoutes } from "../src/draft-routes.ts";
import {
  DEFAULT_MIN_INTERVAL_MS,
  type DraftLink,
  DraftStream,
  fitsFrame,
  STREAM_BACKOFF_MS,
  StreamGate,
  streamIdFor,
} from "../src/draft-stream.ts";
import { eventLog } from "../src/log.ts";
import { helloFrame } from "./helpers/fake-relay.ts";

/** A clock with timers that fire only when the test advances it. */
function manualClock() {
  let now = 1_000_000;
  let timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  return {
    now: () => now,
    schedule: (fn: () => void, ms: number) => {
      const t = { at: now + ms, fn, live: true };
      timers.push(t);
      return () => {
        t.live = false;
      };
    },
    advance(ms: number) {
      const until = now + ms;
      for (let guard = 0; guard < 1000; guard++) {
        const due = timers.filter((t) => t.live && t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        now = due.at;
        due.live = false;
        due.fn();
      }
      now = until;
      timers = timers.filter((t) => t.live);
    },
    pending: () => timers.filter((t) => t.live).length,
  };
}

function fakeLink(features: string[] = ["stream"], minIntervalMs: number | undefined = 200) {
  const written: DraftFrame[] = [];
  const routes = new DraftRoutes(100);
  const link: DraftLink & { up: boolean } = {
    up: true,
    hello: helloFrame({
      features,
      ...(minIntervalMs === undefined ? {} : { stream: { minIntervalMs } }),
    }),
    draft(frame, onError) {
      if (!link.up) return false;
      written.push(frame);
      routes.add(frame.id, onError);
      return true;
    },
  };
  return { link, written, routes };
}

function setup(opts: { features?: string[]; minIntervalMs?: number; gate?: StreamGate; base?: string } = {}) {
  const clock = manualClock();
  const { link, written, routes } = fakeLink(opts.features, opts.minIntervalMs ?? 200);
  const logs: string[] = [];
  const sink = (l: string) => (m: string) => logs.push(`${l} ${m}`);
  const stream = new DraftStream({
    link,
    gate: opts.gate ?? new StreamGate(clock.now),
    target: { replyTo: "om_user1" },
    base: opts.base ?? "om_user1",
    log: eventLog({ info: sink("info"), warn: sink("warn"), error: sink("error"), debug: sink("debug") }),
    now: clock.now,
    schedule: clock.schedule,
  });
  return { clock, link, written, routes, stream, logs };
}

describe("streamIdFor", () => {
  test("stable: the same message and answer index give the same id, another index another", () => {
    expect(streamIdFor("om_abc", 0)).toBe("om_abc:0");
    expect(streamIdFor("om_abc", 0)).toBe(streamIdFor("om_abc", 0));
    expect(streamIdFor("om_abc", 1)).not.toBe(streamIdFor("om_abc", 0));
  });

  test("long or odd ids are hashed into the contract's 64 safe characters", () => {
    for (const id of [streamIdFor("om_".padEnd(80, "x"), 0), streamIdFor("chat id/with spaces", 3)]) {
      expect(id.length).toBeLessThanOrEqual(64);
      expect(id).toMatch(/^[A-Za-z0-9_:.-]+$/);
    }
    expect(streamIdFor("om_".padEnd(80, "x"), 0)).toBe(streamIdFor("om_".padEnd(80, "x"), 0));
    expect(streamIdFor("om_".padEnd(80, "x"), 0)).not.toBe(streamIdFor("om_".padEnd(80, "x"), 1));
  });
});

describe("DraftStream throttle", () => {
  test("the first snapshot goes out at once, with the full text, target and streamId", () => {
    const { stream, written } = setup();
    expect(stream.partial({ text: "Let me" })).toBe(true);
    expect(written).toEqual([
      { type: "draft", id: "d:om_user1:0:1", replyTo: "om_user1", streamId: "om_user1:0", text: "Let me" },
    ]);
  });

  test("at most one draft per minIntervalMs; the latest snapshot wins on the trailing edge", () => {
    const { stream, written, clock } = setup({ minIntervalMs: 200 });
    stream.partial({ text: "a" });
    clock.advance(50);
    stream.partial({ text: "ab" });
    clock.advance(50);
    stream.partial({ text: "abc" });
    expect(written.map((f) => f.text)).toEqual(["a"]);
    clock.advance(99);
    expect(written.map((f) => f.text)).toEqual(["a"]);
    clock.advance(1); // 200 ms after the first
    expect(written.map((f) => f.text)).toEqual(["a", "abc"]);
    expect(clock.pending()).toBe(0);
    clock.advance(500);
    stream.partial({ text: "abcd" }); // quiet for longer than the interval: immediate again
    expect(written.map((f) => f.text)).toEqual(["a", "abc", "abcd"]);
    expect(new Set(written.map((f) => f.id)).size).toBe(3);
  });

  test("an unchanged snapshot sends nothing; empty snapshots are ignored", () => {
    const { stream, written, clock } = setup();
    expect(stream.partial({ text: "  " })).toBe(false);
    stream.partial({ text: "same" });
    clock.advance(300);
    stream.partial({ text: "same" });
    clock.advance(300);
    expect(written.map((f) => f.text)).toEqual(["same"]);
  });

  test("delta/replace payloads without a text snapshot are accumulated", () => {
    const { stream, written, clock } = setup();
    stream.partial({ delta: "Hel" });
    clock.advance(300);
    stream.partial({ delta: "lo" });
    clock.advance(300);
    stream.partial({ delta: "Fresh", replace: true });
    expect(written.map((f) => f.text)).toEqual(["Hel", "Hello", "Fresh"]);
  });

  test("minIntervalMs defaults when hello.stream is absent", () => {
    const clock = manualClock();
    const { link, written } = fakeLink(["stream"], undefined);
    const stream = new DraftStream({
      link,
      gate: new StreamGate(clock.now),
      target: { to: "user:ou_x" },
      base: "m1",
      log: eventLog(undefined),
      now: clock.now,
      schedule: clock.schedule,
    });
    stream.partial({ text: "a" });
    stream.partial({ text: "ab" });
    clock.advance(DEFAULT_MIN_INTERVAL_MS - 1);
    expect(written.length).toBe(1);
    clock.advance(1);
    expect(written.map((f) => [f.to, f.text])).toEqual([
      ["user:ou_x", "a"],
      ["user:ou_x", "ab"],
    ]);
  });
});

describe("DraftStream finish", () => {
  test("finish cancels the trailing draft and hands over the streamId and the newest text", () => {
    const { stream, written, clock } = setup();
    stream.partial({ text: "a" });
    stream.partial({ text: "a b c" });
    expect(stream.finish()).toEqual({ streamId: "om_user1:0", text: "a b c" });
    clock.advance(1000);
    expect(written.map((f) => f.text)).toEqual(["a"]);
    expect(stream.finish()).toBeUndefined();
  });

  test("no draft shown → no streamId for the final", () => {
    const { stream, link } = setup();
    link.up = false;
    stream.partial({ text: "a" });
    expect(stream.finish()).toBeUndefined();
  });

  test("a snapshot after finish opens the turn's next stream", () => {
    const { stream, written } = setup();
    stream.partial({ text: "first" });
    stream.finish();
    stream.partial({ text: "second" });
    expect(written.map((f) => f.streamId)).toEqual(["om_user1:0", "om_user1:1"]);
    expect(stream.finish()?.streamId).toBe("om_user1:1");
  });

  test("drafts dropped while disconnected are not resent; the next snapshot goes when up again", () => {
    const { stream, written, clock, link } = setup();
    stream.partial({ text: "a" });
    link.up = false;
    clock.advance(300);
    stream.partial({ text: "ab" });
    link.up = true;
    clock.advance(1000);
    expect(written.map((f) => f.text)).toEqual(["a"]);
    stream.partial({ text: "abc" });
    expect(written.map((f) => f.text)).toEqual(["a", "abc"]);
  });
});

describe("DraftStream limits and refusals", () => {
  test("a snapshot over the frame cap is not sent; the card keeps the previous draft", () => {
    const { stream, written, clock } = setup();
    stream.partial({ text: "short" });
    clock.advance(300);
    const huge = "x".repeat(MAX_CLIENT_FRAME_BYTES);
    expect(stream.partial({ text: huge })).toBe(true);
    clock.advance(300);
    expect(written.map((f) => f.text)).toEqual(["short"]);
    for (const f of written) expect(fitsFrame(f)).toBe(true);
    // The final still carries everything.
    expect(stream.finish()).toEqual({ streamId: "om_user1:0", text: huge });
  });

  test("the frame cap counts JSON escaping and UTF-8 bytes, not characters", () => {
    const frame = (text: string): DraftFrame => ({ type: "draft", id: "d", streamId: "s", text });
    expect(fitsFrame(frame("中".repeat(20_000)))).toBe(true); // 60 KB
    expect(fitsFrame(frame("中".repeat(22_000)))).toBe(false); // 66 KB
    expect(fitsFrame(frame("\u0001".repeat(11_000)))).toBe(false); // \u0001 is 6 bytes in JSON
  });

  test("stream_unavailable stops the stream and new streams for 60 s", () => {
    const clock = manualClock();
    const gate = new StreamGate(clock.now);
    const one = setup({ gate });
    one.stream.partial({ text: "a" });
    one.stream.partial({ text: "ab" }); // waiting for the trailing edge
    expect(one.routes.fail(one.written[0]!.id, "stream_unavailable", "no card")).toBe(true);
    one.clock.advance(1000);
    expect(one.stream.partial({ text: "abc" })).toBe(false);
    expect(one.written.length).toBe(1);
    expect(one.stream.finish()).toBeUndefined(); // the final goes as an ordinary send
    expect(one.logs.join("\n")).toContain("stream_unavailable");

    // Another turn inside the back-off: no drafts at all.
    const two = setup({ gate, base: "om_user2" });
    expect(two.stream.partial({ text: "hi" })).toBe(false);
    expect(two.written).toEqual([]);
    clock.advance(STREAM_BACKOFF_MS - 1);
    const three = setup({ gate, base: "om_user3" });
    expect(three.stream.partial({ text: "hi" })).toBe(false);
    clock.advance(1);
    const four = setup({ gate, base: "om_user4" });
    expect(four.stream.partial({ text: "hi" })).toBe(true);
    expect(four.written.length).toBe(1);
  });

  test("a stream_unavailable arriving after the final still holds new streams back", () => {
    const clock = manualClock();
    const gate = new StreamGate(clock.now);
    const one = setup({ gate });
    one.stream.partial({ text: "a" });
    expect(one.stream.finish()?.streamId).toBe("om_user1:0");
    one.routes.fail(one.written[0]!.id, "stream_unavailable", "late");
    expect(gate.open).toBe(false);
    expect(setup({ gate, base: "om_user2" }).stream.partial({ text: "hi" })).toBe(false);
  });

  test("another draft error stops that stream only, without the back-off", () => {
    const clock = manualClock();
    const gate = new StreamGate(clock.now);
    const one = setup({ gate });
    one.stream.partial({ text: "a" });
    one.routes.fail(one.written[0]!.id, "forbidden_target", "nope");
    expect(one.stream.partial({ text: "ab" })).toBe(false);
    expect(gate.open).toBe(true);
    const two = setup({ gate, base: "om_user2" });
    expect(two.stream.partial({ text: "hi" })).toBe(true);
  });

  test("after a reconnect to a relay without the feature, the open stream drafts no more", () => {
    const { stream, written, link, clock } = setup();
    stream.partial({ text: "a" });
    (link as { hello: unknown }).hello = helloFrame({ features: ["media"] });
    clock.advance(300);
    expect(stream.partial({ text: "ab" })).toBe(false);
    expect(written.map((f) => f.text)).toEqual(["a"]);
  });

  test("no drafts when the relay does not list the stream feature", () => {
    const { stream, written } = setup({ features: ["media"] });
    expect(stream.partial({ text: "a" })).toBe(false);
    expect(written).toEqual([]);
    expect(stream.finish()).toBeUndefined();
  });
});

describe("DraftRoutes", () => {
  test("routes an error to its draft once; unknown and forgotten ids are not handled", () => {
    const routes = new DraftRoutes(2);
    const got: string[] = [];
    routes.add("d1", (code) => got.push(`d1 ${code}`));
    routes.add("d2", (code) => got.push(`d2 ${code}`));
    routes.add("d3", (code) => got.push(`d3 ${code}`));
    expect(routes.fail("d1", "stream_unavailable", "")).toBe(false); // evicted
    expect(routes.fail("d3", "stream_unavailable", "")).toBe(true);
    expect(routes.fail("d3", "stream_unavailable", "")).toBe(false);
    expect(routes.fail("zz", "bad_frame", "")).toBe(false);
    routes.clear();
    expect(routes.fail("d2", "bad_frame", "")).toBe(false);
    expect(got).toEqual(["d3 stream_unavailable"]);
  });

  test("a throwing handler does not escape", () => {
    const routes = new DraftRoutes(10);
    routes.add("d1", () => {
      throw new Error("boom");
    });
    expect(routes.fail("d1", "x", "y")).toBe(true);
  });
});
