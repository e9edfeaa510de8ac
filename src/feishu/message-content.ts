/**
 * Feishu message `content` (a JSON string, feishu-reference.md §2.1) → the plain text and parsed
 * content of the plugin's `message` frame (DESIGN §4). Pure, and it never throws: a message we cannot
 * read still reaches its owner with a placeholder text.
 */

import { nestsDeeperThan } from "../ops/json-depth.ts";
import type { Mention } from "../relay/protocol.ts";

export interface RenderedContent {
  /** Plain text: @-placeholders resolved to names, media as `[image]`-style placeholders. */
  text: string;
  /** The parsed content; a post is normalised to `{title, content}` whatever locale wrapped it. */
  content: Record<string, unknown>;
  /** Open ids mentioned directly by a post `at` node (some posts carry a real open_id, not a key). */
  atOpenIds: string[];
}

type Json = Record<string, unknown>;

/** Feishu's key for @everyone, in text placeholders and post `at` nodes. */
const AT_ALL_KEYS = new Set(["@_all", "all"]);
const PLACEHOLDER = /@_user_\d+|@_all/g;
/** Locales tried first when a post is wrapped by locale; any other wrapper key is taken after them. */
const LOCALES = ["zh_cn", "en_us", "ja_jp"];

/**
 * Deepest JSON nesting of a `content` we parse. Real posts and cards stay far below it (a post is 4
 * levels, cards about 10); anything deeper is an attack: JSON.stringify of a structure 60,000 levels
 * deep throws RangeError, which used to fail the inbox commit of everyone in the same batch.
 */
export const MAX_CONTENT_DEPTH = 64;

export function renderContent(msgType: string, raw: string, mentions: Mention[]): RenderedContent {
  // Too deep to be real: the owner still learns that something arrived, without the structure.
  if (nestsDeeperThan(raw, MAX_CONTENT_DEPTH)) {
    return { text: unreadableText(msgType), content: {}, atOpenIds: [] };
  }
  const parsed = parseJson(raw);
  if (msgType === "text") return renderText(parsed, raw, mentions);
  if (msgType === "post") return renderPost(parsed, mentions);
  if (msgType === "interactive") return renderCard(parsed, mentions);
  const content = asObject(parsed) ?? {};
  return { text: placeholder(msgType, content), content, atOpenIds: [] };
}

function renderText(parsed: unknown, raw: string, mentions: Mention[]): RenderedContent {
  const content = asObject(parsed);
  // A text message whose content is not `{"text"}` is still shown, raw, rather than dropped.
  const text = typeof content?.text === "string" ? content.text : raw;
  return { text: resolvePlaceholders(text, mentions), content: content ?? { text: raw }, atOpenIds: [] };
}

/** `@_user_1 hi` → `@Tom hi`; `@_all` → `@all`. Unknown keys stay as they are. */
export function resolvePlaceholders(text: string, mentions: Mention[]): string {
  if (!text.includes("@_")) return text;
  const byKey = new Map(mentions.map((m) => [m.key, m.name]));
  return text.replace(PLACEHOLDER, (key) => {
    if (key === "@_all") return "@all";
    const name = byKey.get(key);
    return name ? `@${name}` : key;
  });
}

function renderPost(parsed: unknown, mentions: Mention[]): RenderedContent {
  const original = asObject(parsed) ?? {};
  const post = unwrapLocale(original);
  const title = typeof post.title === "string" ? post.title : "";
  const paragraphs = Array.isArray(post.content) ? post.content : [];
  const atOpenIds: string[] = [];
  const lines = paragraphs.map((p) =>
    (Array.isArray(p) ? p : []).map((node) => renderNode(asObject(node) ?? {}, mentions, atOpenIds)).join(""),
  );
  const text = (title ? [title, ...lines] : lines).join("\n").trim();
  const content = Array.isArray(post.content) ? { title, content: paragraphs } : original;
  return { text, content, atOpenIds };
}

/** A post as received is `{title, content}`; one built for sending is `{"zh_cn": {title, content}}`. */
function unwrapLocale(post: Json): Json {
  if ("content" in post || "title" in post) return post;
  const keys = [...LOCALES, ...Object.keys(post)];
  for (const key of keys) {
    const inner = asObject(post[key]);
    if (inner && ("content" in inner || "title" in inner)) return inner;
  }
  return post;
}

function renderNode(node: Json, mentions: Mention[], atOpenIds: string[]): string {
  const str = (key: string) => (typeof node[key] === "string" ? (node[key] as string) : "");
  switch (node.tag) {
    case "text":
    case "md":
      return resolvePlaceholders(str("text"), mentions);
    case "a":
      return str("href") ? `[${str("text") || str("href")}](${str("href")})` : str("text");
    case "at":
      return renderAt(str("user_id"), str("user_name"), mentions, atOpenIds);
    case "img":
      return "[image]";
    case "media":
      return "[media]";
    case "emotion":
      return `[${str("emoji_type") || "emotion"}]`;
    case "code_block":
      return `\`\`\`${str("language").toLowerCase()}\n${str("text")}\n\`\`\``;
    case "hr":
      return "---";
    default:
      return str("text");
  }
}

function renderAt(userId: string, userName: string, mentions: Mention[], atOpenIds: string[]): string {
  if (AT_ALL_KEYS.has(userId)) return "@all";
  const mention = mentions.find((m) => m.key === userId || m.openId === userId);
  if (!mention && userId.startsWith("ou_")) atOpenIds.push(userId);
  const name = mention?.name || userName;
  return name ? `@${name}` : `@${userId}`;
}

/**
 * `[image]`, `[file: report.pdf]`, `[media: clip.mp4]`, a voice note's own transcript (Feishu's
 * `speech_to_text`) or `[audio]`, or `[<type>]` for everything else.
 */
function placeholder(msgType: string, content: Json): string {
  const fileName = typeof content.file_name === "string" && content.file_name ? content.file_name : "";
  switch (msgType) {
    case "audio": {
      const transcript = typeof content.speech_to_text === "string" ? content.speech_to_text.trim() : "";
      return transcript || "[audio]";
    }
    case "file":
    case "media":
      return fileName ? `[${msgType}: ${fileName}]` : `[${msgType}]`;
    case "share_chat":
      return sharedChatText(content);
    default:
      return `[${msgType || "unknown"}]`;
  }
}

/**
 * A card as text: its title, then its text, one line per block. Feishu hands cards over in two
 * shapes (feishu-reference.md §2.1, §11.4): the "simplified" receive form, `{title, elements}` with
 * `elements` a list of post-like paragraphs, and card JSON (`header.title`, `elements` or 2.0's
 * `body.elements`) with text in `content` / `text` fields of nested components. Buttons keep their
 * label in brackets so the agent sees what the user could click.
 */
function renderCard(parsed: unknown, mentions: Mention[]): RenderedContent {
  const card = asObject(parsed) ?? {};
  const header = asObject(card.header);
  const title =
    (typeof card.title === "string" ? card.title : "") || textOf(asObject(header?.title)?.content) || "";
  const elements = Array.isArray(card.elements) ? card.elements : asObject(card.body)?.elements;
  const lines: string[] = [];
  for (const element of Array.isArray(elements) ? elements : []) {
    if (Array.isArray(element)) {
      // Simplified form: a paragraph of post nodes.
      const atOpenIds: string[] = [];
      lines.push(element.map((node) => cardNode(asObject(node) ?? {}, mentions, atOpenIds)).join(""));
    } else {
      cardText(element, mentions, lines);
    }
  }
  const body = lines.map((l) => l.trim()).filter((l) => l !== "");
  const text = (title ? [title, ...body] : body).join("\n").trim();
  return { text: text || "[interactive]", content: card, atOpenIds: [] };
}

/** Post nodes, plus the card-only ones of the simplified form (buttons, images with alt text). */
function cardNode(node: Json, mentions: Mention[], atOpenIds: string[]): string {
  if (node.tag === "button") return `[${textOf(node.text) || "button"}]`;
  return renderNode(node, mentions, atOpenIds);
}

/** Every text a card component carries, depth first; a button's label in brackets. */
function cardText(value: unknown, mentions: Mention[], lines: string[]): void {
  if (Array.isArray(value)) {
    for (const item of value) cardText(item, mentions, lines);
    return;
  }
  const node = asObject(value);
  if (!node) return;
  if (node.tag === "button") {
    lines.push(`[${textOf(node.text) || "button"}]`);
    return;
  }
  if (node.tag === "hr") {
    lines.push("---");
    return;
  }
  const own = textOf(node.content) || (typeof node.text === "string" ? node.text : "");
  if (own) lines.push(resolvePlaceholders(own, mentions));
  for (const [key, child] of Object.entries(node)) {
    if (key === "content" && typeof child === "string") continue;
    if (child !== null && typeof child === "object") cardText(child, mentions, lines);
  }
}

/** A card text field: a plain string, or `{tag: "plain_text" | "lark_md", content}`. */
function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  const obj = asObject(value);
  return typeof obj?.content === "string" ? obj.content : "";
}

/** `[shared chat: 产品周会 (oc_…)]`; the receive form carries only `chat_id`. */
function sharedChatText(content: Json): string {
  const chatId = typeof content.chat_id === "string" ? content.chat_id : "";
  const name = typeof content.chat_name === "string" ? content.chat_name : "";
  if (name && chatId) return `[shared chat: ${name} (${chatId})]`;
  return name || chatId ? `[shared chat: ${name || chatId}]` : "[share_chat]";
}

/** `[unreadable text message: content nested too deeply]` */
export function unreadableText(msgType: string): string {
  return `[unreadable ${msgType || "unknown"} message: content nested too deeply]`;
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function asObject(value: unknown): Json | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : undefined;
}
