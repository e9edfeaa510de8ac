/**
 * Text of agent output as `send` frames: how to cut it to the frame limit, and a stable idempotency
 * key per piece. (Media URLs: payload-send.ts.)
 */
import { createHash } from "node:crypto";
import { MAX_CLIENT_FRAME_BYTES } from "../../src/relay/protocol.ts";

/** Max UTF-16 units of text per `send` frame. JSON escaping costs at most 6 bytes per unit
 * (`\u001f`), so this keeps any frame under the relay's cap; the relay splits further for Feishu. */
export const FRAME_TEXT_UNITS = Math.floor((MAX_CLIENT_FRAME_BYTES - 1024) / 6);

/** The relay keeps `uuid`s up to 50 characters. */
const UUID_MAX = 50;

/** Splits text into pieces of at most `limit` units, preferring line breaks, never splitting a
 * surrogate pair. */
export function splitText(text: string, limit = FRAME_TEXT_UNITS): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    let cut = rest.lastIndexOf("\n", limit);
    if (cut < limit / 2) cut = limit;
    const code = rest.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.length > 0) pieces.push(rest);
  return pieces;
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
