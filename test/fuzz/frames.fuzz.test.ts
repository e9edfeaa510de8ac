/**
 * Property-based fuzzing of the plugin frame parser on a real socket: each fuzzed frame is followed by
 * a `ping`; by its `pong`, a malformed frame must have been answered with `error` `bad_frame`, and the
 * socket must still be open. After the run, a fresh event is still delivered on the same socket.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { FailureLog, type FrameCase, frameArb } from "./arbitraries.ts";
import { frameVerdict, isValidClientFrame } from "./frame-oracle.ts";
import { deliverFreshEvent, FUZZ_RUNS, FUZZ_SEED, OWNER, useFuzzRelay } from "./harness.ts";

const r = await useFuzzRelay();

test(`${FUZZ_RUNS} fuzzed plugin frames: bad_frame or a valid answer, socket stays open`, async () => {
  const failures = new FailureLog();
  /** Valid `send` frames on the current socket: each must be answered (`sent` or an error) in the end. */
  let validSends = 0;
  let closed: string | undefined;
  const watch = () =>
    r.plugin.closed.then((c) => {
      closed = `socket closed ${c.code} ${c.reason}`;
    });
  watch();
  await fc.assert(
    fc.asyncProperty(frameArb(OWNER), async (c: FrameCase) => {
      if (closed) {
        // Keep fuzzing on a new socket so one run shows every kind of defect.
        closed = undefined;
        await r.reconnect();
        validSends = 0;
        watch();
      }
      const ws = r.plugin.ws;
      const from = r.plugin.frames.length;
      const pongs = r.plugin.frames.filter((f) => f.type === "pong").length;
      const valid = c.kind === "text" && isValidClientFrame(c.text);
      if (valid && JSON.parse((c as { text: string }).text).type === "send") validSends++;
      ws.send(c.kind === "text" ? c.text : c.bytes);
      ws.send('{"type":"ping"}');
      // A valid ping among the fuzzed frames gets its own pong first.
      const want = pongs + 1 + (valid && JSON.parse((c as { text: string }).text).type === "ping" ? 1 : 0);
      const plugin = r.plugin;
      const pong = plugin.next(() => plugin.frames.filter((f) => f.type === "pong").length >= want, 5_000);
      const outcome = await Promise.race([
        pong.then(
          () => "pong",
          () => "no pong within 5 s",
        ),
        plugin.closed.then(() => "closed"),
      ]);
      if (outcome === "closed") {
        await plugin.closed;
        return failures.add(closed ?? "socket closed", c);
      }
      if (outcome !== "pong") return failures.add(outcome, c);
      const problem = frameVerdict(c, valid, r.plugin.frames.slice(from));
      if (problem) failures.add(problem, c);
    }),
    { seed: FUZZ_SEED, numRuns: FUZZ_RUNS },
  );
  expect(failures.summary()).toEqual([]);
  // Every valid send was answered, through the fake Feishu or with an error naming it.
  const answered = () =>
    r.plugin.frames.filter((f) => f.type === "sent" || (f.type === "error" && f.code !== "bad_frame")).length;
  expect(validSends).toBeGreaterThan(50);
  // (next() only looks at frames it has not handed out yet: check what is already there first.)
  if (answered() < validSends) await r.plugin.next(() => answered() >= validSends, 10_000);
  await deliverFreshEvent(r);
});
