/**
 * What Feishu counts against a message's size limit (feishu-reference.md §5.1), shared by every
 * renderer. Feishu limits the whole request body: 150 KB for text, 30 KB for post and card. The
 * body holds `content` as a JSON string inside JSON, so a `"` in the text costs 4 bytes and a CJK
 * character 3. Costs are counted exactly per character; the budgets leave headroom for "KB" meaning 1000.
 */

/** One Feishu message: `msg_type` and the `content` string. */
export interface RenderedPart {
  msgType: "text" | "post" | "interactive" | "image" | "file" | "audio" | "media";
  content: string;
}

export const TEXT_BODY_BUDGET = 145_000;
export const RICH_BODY_BUDGET = 28_000;

/** The request is unusable as given (empty, malformed, or an indivisible part over the limit). */
export class ContentError extends Error {
  readonly code = "feishu_content_invalid";
  constructor(message: string) {
    super(message);
    this.name = "ContentError";
  }
}

export function budgetFor(msgType: RenderedPart["msgType"]): number {
  return msgType === "text" ? TEXT_BODY_BUDGET : RICH_BODY_BUDGET;
}

const utf8Len = (cp: number) => (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
const isSurrogate = (cp: number) => cp >= 0xd800 && cp <= 0xdfff;
const ONCE = Array.from({ length: 128 }, (_, c) => JSON.stringify(String.fromCharCode(c)).length - 2);
const TWICE = Array.from(
  { length: 128 },
  (_, c) => JSON.stringify(JSON.stringify(String.fromCharCode(c)).slice(1, -1)).length - 2,
);

/** Bytes one character of already-serialised JSON adds to the body (escaped once more). */
export function onceCost(cp: number): number {
  if (cp < 128) return ONCE[cp]!;
  return isSurrogate(cp) ? 6 : utf8Len(cp);
}

/** Bytes one character of a text value adds to the body (escaped into `content`, then into the body). */
export function bodyCost(cp: number): number {
  if (cp < 128) return TWICE[cp]!;
  return isSurrogate(cp) ? 7 : utf8Len(cp);
}
