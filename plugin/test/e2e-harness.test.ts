/** The mock model of the real-OpenClaw e2e answers what the tests rely on (runs without OpenClaw). */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  answerFor,
  cutInto,
  newMarker,
  newQuotedMarker,
  STREAM_PIECES,
  startMockModel,
  streamedAnswer,
} from "./e2e/harness/mock-model.ts";
import {
  cacheDirFor,
  e2eVersions,
  OLDEST_VERSION,
  PINNED_VERSION,
  PLUGIN_DIR,
  REPO_ROOT,
} from "./e2e/harness/openclaw-host.ts";
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
    // As OpenClaw 2026.9.6 sends it: the marker on its own line, i.e. after `\n` in the raw JSON.
    expect(answerFor(request(`Conversation info\n\n${b}\n\nRuntime: x`))).toBe(`echo ${b}`);
  });

  test("whatimage reports the last image part's type and decoded size", () => {
    const m = newMarker();
    const png = makePng(8, 8);
    const part = { type: "image_url", image_url: { url: `data:image/png;base64,${png.toString("base64")}` } };
    expect(answerFor(request(`whatimage ${m}`, [part]))).toBe(`got image/png ${png.length} bytes`);
    expect(answerFor(request(`whatimage ${m}`))).toBe("got no image");
  });

  test("whatquoted reports the quoted-text token it was shown, or nothing", () => {
    const m = newMarker();
    const q = newQuotedMarker();
    expect(answerFor(request(`Reply target: ${q}\nwhatquoted ${m}`))).toBe(`quoted ${q}`);
    expect(answerFor(request(`whatquoted ${m}`))).toBe("quoted nothing");
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

describe("host versions", () => {
  test("both the pinned and the oldest claimed host by default; OPENCLAW_E2E_VERSIONS picks", () => {
    expect(e2eVersions("")).toEqual([PINNED_VERSION, OLDEST_VERSION]);
    expect(e2eVersions(" 2026.9.6 , ")).toEqual(["2026.9.6"]);
  });

  test("the pinned host keeps .cache/openclaw; others get .cache/openclaw-<version>", () => {
    const saved = process.env.OPENCLAW_CACHE_DIR;
    delete process.env.OPENCLAW_CACHE_DIR;
    try {
      expect(cacheDirFor(PINNED_VERSION)).toBe(join(REPO_ROOT, ".cache/openclaw"));
      expect(cacheDirFor("2026.3.28")).toBe(join(REPO_ROOT, ".cache/openclaw-2026.3.28"));
    } finally {
      if (saved !== undefined) process.env.OPENCLAW_CACHE_DIR = saved;
    }
  });

  test("the oldest tested host is what the package claims", () => {
    const pkg = JSON.parse(readFileSync(join(PLUGIN_DIR, "package.json"), "utf8"));
    expect(pkg.openclaw.install.minHostVersion).toBe(`>=${OLDEST_VERSION}`);
    expect(pkg.openclaw.build.openclawVersion).toBe(PINNED_VERSION);
  });
});
