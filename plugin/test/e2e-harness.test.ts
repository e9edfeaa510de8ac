/** The mock model of the real-OpenClaw e2e answers what the tests rely on (runs without OpenClaw). */
import { describe, expect, test } from "bun:test";
import {
  answerFor,
  cutInto,
  newMarker,
  STREAM_PIECES,
  startMockModel,
  streamedAnswer,
} from "./e2e/harness/mock-model.ts";
import { makePng } from "./e2e/harness/png.ts";

const request = (text: string, parts: object[] = []) =>
  JSON.stringify({
    messages: [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: [{ type: "text", text }, ...parts] },
    ],
  });

describe("mock model", () => {
  test("echoes the newest marker", () => {
    const [a, b] = [newMarker(), newMarker()];
    expect(answerFor(request(`${a} then ${b}`))).toBe(`echo ${b}`);
    expect(answerFor(request("no marker"))).toBe("ok");
  });

  test("whatimage reports the last image part's type and decoded size", () => {
    const m = newMarker();
    const png = makePng(8, 8);
    const part = { type: "image_url", image_url: { url: `data:image/png;base64,${png.toString("base64")}` } };
    expect(answerFor(request(`whatimage ${m}`, [part]))).toBe(`got image/png ${png.length} bytes`);
    expect(answerFor(request(`whatimage ${m}`))).toBe("got no image");
  });

  test("sendfile answers with a MEDIA: line for the path", () => {
    const m = newMarker();
    expect(answerFor(request(`sendfile ${m} /tmp/x/report-1.pdf`))).toBe(
      "here is your file\nMEDIA:/tmp/x/report-1.pdf",
    );
  });

  test("streamanswer answers the streamed text, cut into STREAM_PIECES pieces that add up to it", () => {
    const m = newMarker();
    const answer = answerFor(request(`streamanswer ${m}`));
    expect(answer).toBe(streamedAnswer(m));
    const pieces = cutInto(answer, STREAM_PIECES);
    expect(pieces).toHaveLength(STREAM_PIECES);
    expect(pieces.join("")).toBe(answer);
  });

  test("serves a streamanswer as several SSE content chunks", async () => {
    const model = startMockModel({ streamGapMs: 0 });
    try {
      const m = newMarker();
      const res = await fetch(`${model.url}/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ stream: true, messages: [{ role: "user", content: `streamanswer ${m}` }] }),
      });
      const events = (await res.text()).split("\n\n").filter((e) => e.startsWith("data: {"));
      const contents = events.map((e) => JSON.parse(e.slice(6)).choices[0].delta.content ?? "");
      expect(contents.filter(Boolean)).toHaveLength(STREAM_PIECES);
      expect(contents.join("")).toBe(streamedAnswer(m));
    } finally {
      model.stop();
    }
  }, 10_000);

  test("makePng writes a PNG signature and IHDR with the size", () => {
    const png = makePng(80, 60);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.subarray(12, 16).toString("ascii")).toBe("IHDR");
    expect(png.readUInt32BE(16)).toBe(80);
    expect(png.readUInt32BE(20)).toBe(60);
  });
});
