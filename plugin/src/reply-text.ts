/**
 * Text of agent output as `send` frames: how to cut it to the frame limit, and a stable idempotency
 * key per piece. (Media URLs: payload-send.ts.)
 */
import { createHash } from "node:crypto";
import { chunkMarkdown } from "../../src/feishu/markdown-chunks.ts";
import { MAX_CLIENT_FRAME_BYTES } from "../../src/relay/protocol.ts";

/** UTF-16 units of text that fit any `send` frame whatever they are (JSON escaping costs at most
 * 6 bytes per unit, `\u001f`): a bound for callers that cannot measure. */
export const FRAME_TEXT_UNITS = Math.floor((MAX_CLIENT_FRAME_BYTES - 1024) / 6);

/** Bytes of a `send` frame's text, once JSON-escaped; 1 KiB of the cap is left for the other fields. */
export const FRAME_TEXT_BYTES = MAX_CLIENT_FRAME_BYTES - 1024;

/** The relay keeps `uuid`s up to 50 characters. */
const UUID_MAX = 50;

const ESCAPED = Array.from({ length: 128 }, (_, c) => JSON.stringify(String.fromCharCode(c)).length - 2);

/** Bytes one code point of text adds to a frame: JSON-escaped, then UTF-8 (a lone surrogate: `\udxxx`). */
export function frameCost(cp: number): number {
  if (cp < 0x80) return ESCAPED[cp]!;
  if (cp >= 0xd800 && cp <= 0xdfff) return 6;
  return cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * Splits text into `send` frames of at most `room` escaped bytes (about 63 KB of ASCII, 21 K CJK
 * characters), as Markdown: a cut inside a code fence closes it and reopens it in the next frame,
 * so the relay renders every frame whole. Breaks at blank lines, then lines, then spaces.
 */
export function splitText(text: string, room = FRAME_TEXT_BYTES): string[] {
  return chunkMarkdown(text, room, frameCost);
}

/**
 * A `uuid` (≤ 50 chars) from stable parts, so that a retry of the same logical send — by OpenClaw's
 * delivery queue or by our own resend after a reconnect — is recognised by the relay. Readable when
 * it fits, hashed otherwise.
 */
export function stableUuid(...parts: Array<string | number>): string {
  const plain = parts.join(":");
  if (plain.length <= UUID_MAX && /^[\w:.-]+$/.test(plain)) return plain;
  return `h:${createHash("sha256").update(plain).digest("hex").slice(0, 40)}`;
}
