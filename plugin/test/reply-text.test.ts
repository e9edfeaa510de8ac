/** Cutting agent text into `send` frames, and where each frame goes. */
import { describe, expect, test } from "bun:test";
import type { SendRequest } from "../../src/relay/protocol.ts";
import { type RelayLink, sendPayload } from "../src/payload-send.ts";
import { FRAME_TEXT_BYTES, FRAME_TEXT_UNITS, frameCost, splitText } from "../src/reply-text.ts";

const frameBytes = (text: string) =>
  Buffer.byteLength(
    JSON.stringify({
      type: "send",
      id: "s-123",
      replyTo: "om_x",
      msgType: "markdown",
      text,
      uuid: "u".repeat(50),
    }),
  );

const noLog = { debug() {}, info() {}, warn() {}, error() {} };

describe("frames of agent text", () => {
  test("the cost of a code point is what it adds to the frame's JSON", () => {
    for (const ch of ["a", '"', "\\", "\n", "\u0001", "é", "字", "😀"]) {
      expect(frameCost(ch.codePointAt(0)!)).toBe(Buffer.byteLength(JSON.stringify(ch)) - 2);
    }
    expect(frameCost(0xd800)).toBe(6);
  });

  test("ASCII text fills a frame to its byte size, far beyond the worst-case unit bound", () => {
    const text = "word ".repeat(30_000);
    const pieces = splitText(text);
    expect(pieces[0]!.length).toBeGreaterThan(FRAME_TEXT_UNITS * 5);
    for (const p of pieces) expect(frameBytes(p)).toBeLessThanOrEqual(FRAME_TEXT_BYTES + 1024);
  });

  test("a long code block is closed and reopened at the cut, same language", () => {
    const code = Array.from({ length: 4000 }, (_, i) => `  console.log("line ${i}");`).join("\n");
    const pieces = splitText(`Here:\n\n\`\`\`js\n${code}\n\`\`\`\n\nDone.`);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces[0]!.endsWith("\n```")).toBe(true);
    for (const p of pieces.slice(1)) expect(p.startsWith("```js\n")).toBe(true);
    for (const p of pieces) expect(p.match(/^```/gm)!.length % 2).toBe(0);
    for (const p of pieces) expect(frameBytes(p)).toBeLessThan(64 * 1024);
  });
});

describe("where the pieces of one payload go", () => {
  function recordingLink() {
    const sent: SendRequest[] = [];
    const link: RelayLink = {
      async send(req) {
        sent.push(req);
        return { type: "sent", id: "x", messageId: `om_${sent.length}` } as never;
      },
    };
    return { link, sent };
  }
  const longText = Array.from({ length: 3 }, (_, i) => `${i}`.repeat(40_000)).join("\n\n");

  test("only the first piece quotes the message; the rest go to the follow-up target", async () => {
    const { link, sent } = recordingLink();
    await sendPayload({
      link,
      load: undefined,
      target: { replyTo: "om_q" },
      followUp: { to: "chat:oc_group" },
      text: longText,
      urls: [],
      uuidBase: ["om_q", 0],
      log: noLog,
    });
    expect(sent.length).toBe(3);
    expect(sent.map((s) => [s.replyTo, s.to])).toEqual([
      ["om_q", undefined],
      [undefined, "chat:oc_group"],
      [undefined, "chat:oc_group"],
    ]);
    expect(sent.map((s) => s.uuid)).toEqual(["om_q:0:0", "om_q:0:1", "om_q:0:2"]);
  });

  test("without a follow-up target every piece keeps the payload's target", async () => {
    const { link, sent } = recordingLink();
    await sendPayload({
      link,
      load: undefined,
      target: { replyTo: "om_q" },
      text: longText,
      urls: [],
      uuidBase: ["om_q", 1],
      log: noLog,
    });
    expect(sent.every((s) => s.replyTo === "om_q")).toBe(true);
  });
});
