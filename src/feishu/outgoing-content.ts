/**
 * What we send, as Feishu wants it (feishu-reference.md §5.3), cut to fit its size limits (§5.1,
 * content-budget.ts). Pure: no I/O, deterministic, so a retried send splits the same way and reuses
 * the same uuids.
 */
import { sha256Text } from "../ops/crypto.ts";
import type { RenderMode } from "../relay/protocol.ts";
import {
  bodyCost,
  budgetFor,
  ContentError,
  onceCost,
  type RenderedPart,
  RICH_BODY_BUDGET,
} from "./content-budget.ts";
import { renderMarkdown } from "./markdown-render.ts";

// Callers see one module for what we send; the budget arithmetic lives apart.
export * from "./content-budget.ts";

export type MediaMsgType = "image" | "file" | "audio" | "video";
export type OutgoingMsgType = "text" | "post" | "markdown" | "interactive" | MediaMsgType;

export interface OutgoingMessage {
  /** Default `text`. `markdown` goes out as posts or cards as `renderMode` says (markdown-render.ts). */
  msgType?: OutgoingMsgType;
  /** `markdown` only: how it is shown; default `auto`. */
  renderMode?: RenderMode;
  /** Media sends: the caption, sent as text right after the media. */
  text?: string;
  /** `post`: the rich-text content (wrapped in `zh_cn` when it has no locale); `interactive`: the card. */
  content?: Record<string, unknown> | string;
  /** Media sends: the `image_key` (image) or `file_key` (file, audio, video) of the upload. */
  mediaKey?: string;
}

export const UUID_MAX = 50;

/**
 * Renders `msg` into one or more parts, in order, each of whose request body (as measured by
 * `bodyBytes`, which must serialise the real body with the longest uuid) stays within budget.
 */
export function renderParts(msg: OutgoingMessage, bodyBytes: (part: RenderedPart) => number): RenderedPart[] {
  const type = msg.msgType ?? "text";
  switch (type) {
    case "text":
      return splitWrapped(requireText(msg), textPart, bodyBytes);
    case "markdown":
      return renderMarkdown(requireText(msg), msg.renderMode ?? "auto", bodyBytes);
    case "post":
      return renderPost(msg, bodyBytes);
    case "interactive": {
      const content = typeof msg.content === "string" ? msg.content : JSON.stringify(msg.content ?? null);
      if (!msg.content || content === "null") throw new ContentError("an interactive message needs a card");
      const part: RenderedPart = { msgType: "interactive", content };
      if (bodyBytes(part) > RICH_BODY_BUDGET)
        throw new ContentError("the card is larger than Feishu's 30 KB");
      return [part];
    }
    case "image":
    case "file":
    case "audio":
    case "video":
      return renderMedia(type, msg, bodyBytes);
    default:
      throw new ContentError(`unknown msgType ${String(type)}`);
  }
}

/**
 * A media message (feishu-reference.md §11.2: `image {image_key}`, `file`/`audio {file_key}`, a
 * video as `media {file_key}` without a cover), then its caption as text, as the official plugin does.
 */
function renderMedia(
  type: MediaMsgType,
  msg: OutgoingMessage,
  bodyBytes: (part: RenderedPart) => number,
): RenderedPart[] {
  if (!msg.mediaKey) throw new ContentError(`a ${type} message needs the key of its upload`);
  const media: RenderedPart =
    type === "image"
      ? { msgType: "image", content: JSON.stringify({ image_key: msg.mediaKey }) }
      : { msgType: type === "video" ? "media" : type, content: JSON.stringify({ file_key: msg.mediaKey }) };
  const caption = msg.text ? splitWrapped(msg.text, textPart, bodyBytes) : [];
  return [media, ...caption];
}

const textPart = (text: string): RenderedPart => ({ msgType: "text", content: JSON.stringify({ text }) });

function requireText(msg: OutgoingMessage): string {
  if (typeof msg.text !== "string" || msg.text === "") throw new ContentError("text is empty");
  return msg.text;
}

/** Text in a fixed wrapper: the body grows by exactly `bodyCost` per character of the text. */
function splitWrapped(
  text: string,
  wrap: (text: string) => RenderedPart,
  bodyBytes: (part: RenderedPart) => number,
): RenderedPart[] {
  const empty = wrap("");
  const room = budgetFor(empty.msgType) - bodyBytes(empty);
  return splitText(text, room, bodyCost).map(wrap);
}

// ---------------------------------------------------------------- post

type Node = Record<string, unknown>;

function renderPost(msg: OutgoingMessage, bodyBytes: (part: RenderedPart) => number): RenderedPart[] {
  const post = postContent(msg);
  const locales = Object.keys(post);
  const whole: RenderedPart = { msgType: "post", content: JSON.stringify(post) };
  if (bodyBytes(whole) <= RICH_BODY_BUDGET) return [whole];
  if (locales.length !== 1) throw new ContentError("a post in several locales is larger than 30 KB");
  const locale = locales[0]!;
  const { title, content } = post[locale] as { title?: unknown; content?: unknown };
  if (!Array.isArray(content)) throw new ContentError("post content must be a list of paragraphs");
  const build = (paragraphs: Node[][], first: boolean): RenderedPart => ({
    msgType: "post",
    content: JSON.stringify({
      [locale]: first && title !== undefined ? { title, content: paragraphs } : { content: paragraphs },
    }),
  });
  const paragraphs = (content as unknown[]).flatMap((p) => fitParagraph(p, build, bodyBytes));
  // Greedy packing by exact cost: adding a paragraph adds `,` + its JSON to the content string.
  const parts: RenderedPart[] = [];
  let current: Node[][] = [];
  let used = 0;
  let room = RICH_BODY_BUDGET - bodyBytes(build([], true));
  for (const p of paragraphs) {
    const cost = serializedCost(`${JSON.stringify(p)},`);
    if (current.length > 0 && used + cost > room) {
      parts.push(build(current, parts.length === 0));
      current = [];
      used = 0;
      room = RICH_BODY_BUDGET - bodyBytes(build([], false));
    }
    current.push(p);
    used += cost;
  }
  if (current.length > 0) parts.push(build(current, parts.length === 0));
  return parts;
}

/** Locale-keyed post content: `{title?, content}` alone is wrapped in `zh_cn`; text becomes lines. */
function postContent(msg: OutgoingMessage): Record<string, unknown> {
  let c = msg.content;
  if (typeof c === "string") {
    try {
      c = JSON.parse(c) as Record<string, unknown>;
    } catch {
      throw new ContentError("post content is not JSON");
    }
  }
  if (c && typeof c === "object" && Object.keys(c).length > 0) {
    return Array.isArray((c as Node).content) ? { zh_cn: c } : (c as Record<string, unknown>);
  }
  const text = requireText(msg);
  return { zh_cn: { content: text.split("\n").map((line) => [{ tag: "text", text: line }]) } };
}

/** A paragraph that fits alone stays whole; else its nodes are spread, and a long text/md node cut. */
function fitParagraph(
  p: unknown,
  build: (paragraphs: Node[][], first: boolean) => RenderedPart,
  bodyBytes: (part: RenderedPart) => number,
): Node[][] {
  const nodes = (Array.isArray(p) ? p : [p]) as Node[];
  const room = RICH_BODY_BUDGET - bodyBytes(build([], true));
  if (serializedCost(JSON.stringify(nodes)) <= room) return [nodes];
  return nodes.flatMap((node) => {
    if (serializedCost(JSON.stringify([node])) <= room) return [[node]];
    if (typeof node.text !== "string" || (node.tag !== "text" && node.tag !== "md")) {
      throw new ContentError(`a post ${String(node.tag)} node is larger than Feishu's 30 KB`);
    }
    const overhead = serializedCost(JSON.stringify([{ ...node, text: "" }]));
    return splitText(node.text, room - overhead, bodyCost).map((text) => [{ ...node, text }]);
  });
}

// ---------------------------------------------------------------- splitting and costs

/**
 * Cuts `text` into pieces whose summed `cost` stays within `room`, in order: at the last paragraph
 * break, else line break, else space, else between characters (never inside a surrogate pair).
 * A break is used only if it keeps at least half the room filled, so pieces do not get tiny.
 * The break itself is dropped, and so are newlines around it.
 */
export function splitText(text: string, room: number, cost: (cp: number) => number = bodyCost): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = start;
    let used = 0;
    while (end < text.length) {
      const cp = text.codePointAt(end)!;
      const c = cost(cp);
      if (used + c > room) break;
      used += c;
      end += cp > 0xffff ? 2 : 1;
    }
    if (end >= text.length) {
      pieces.push(text.slice(start));
      break;
    }
    if (end === start) throw new ContentError("the size limit leaves no room for text");
    const [cut, next] = breakBefore(text, start, end);
    pieces.push(text.slice(start, cut).replace(/\n+$/, ""));
    start = next;
    while (text[start] === "\n") start++;
  }
  return pieces.filter((p) => p !== "");
}

function breakBefore(text: string, start: number, end: number): [cut: number, next: number] {
  const min = start + Math.floor((end - start) / 2);
  const para = text.lastIndexOf("\n\n", end - 2);
  if (para >= min) return [para, para + 2];
  const line = text.lastIndexOf("\n", end - 1);
  if (line >= min) return [line, line + 1];
  const space = text.lastIndexOf(" ", end - 1);
  if (space >= min) return [space, space + 1];
  return [end, end];
}

function serializedCost(json: string): number {
  let total = 0;
  for (const ch of json) total += onceCost(ch.codePointAt(0)!);
  return total;
}

/**
 * The uuid of part `index` of `count`: the caller's uuid for a single part, else `<uuid>-<index>`;
 * a base too long for Feishu's 50 characters is replaced by its hash. Same input, same uuids.
 */
export function partUuid(uuid: string, index: number, count: number): string {
  const suffix = count === 1 ? "" : `-${index}`;
  const room = UUID_MAX - (count === 1 ? 0 : String(count - 1).length + 1);
  const base = uuid.length <= room ? uuid : sha256Text(uuid, "base64url").slice(0, room);
  return base + suffix;
}
