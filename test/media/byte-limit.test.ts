import { describe, expect, test } from "bun:test";
import { limitBytes } from "../../src/media/byte-limit.ts";

function source(chunks: number[], opts: { failAfter?: number } = {}) {
  let i = 0;
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      pulls++;
      if (opts.failAfter !== undefined && i === opts.failAfter) return c.error(new Error("upstream broke"));
      if (i >= chunks.length) return c.close();
      c.enqueue(new Uint8Array(chunks[i++]!));
    },
  });
  return { stream, pulls: () => pulls };
}

async function drain(s: ReadableStream<Uint8Array>) {
  let bytes = 0;
  try {
    for await (const chunk of s as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
    return { bytes, failed: false };
  } catch {
    return { bytes, failed: true };
  }
}

describe("limitBytes", () => {
  test("passes everything up to the limit and reports the total", async () => {
    const ends: unknown[] = [];
    const out = limitBytes(source([10, 20, 30]).stream, { maxBytes: 60, onEnd: (b, o) => ends.push([b, o]) });
    expect(await drain(out)).toEqual({ bytes: 60, failed: false });
    expect(ends).toEqual([[60, "complete"]]);
  });

  test("fails once the limit is passed, without handing on the chunk that passed it", async () => {
    const ends: unknown[] = [];
    const out = limitBytes(source([40, 40, 40]).stream, { maxBytes: 60, onEnd: (b, o) => ends.push([b, o]) });
    expect(await drain(out)).toEqual({ bytes: 40, failed: true });
    expect(ends).toEqual([[80, "too_large"]]);
  });

  test("an upstream failure fails the stream; a cancel reaches the source", async () => {
    const ends: unknown[] = [];
    const broken = limitBytes(source([5, 5], { failAfter: 1 }).stream, {
      maxBytes: 100,
      onEnd: (b, o) => ends.push([b, o]),
    });
    expect(await drain(broken)).toEqual({ bytes: 5, failed: true });
    const src = source([1, 1, 1]);
    const out = limitBytes(src.stream, { maxBytes: 100, onEnd: (b, o) => ends.push([b, o]) });
    await out.cancel();
    expect(ends).toEqual([
      [5, "aborted"],
      [0, "aborted"],
    ]);
  });

  test("reads from the source only as the consumer pulls", async () => {
    const src = source(Array(100).fill(1));
    const reader = limitBytes(src.stream, { maxBytes: 1000 }).getReader();
    await reader.read();
    expect(src.pulls()).toBeLessThanOrEqual(3);
    await reader.cancel();
  });
});
