/**
 * The media of an inbound Feishu message (feishu-reference.md §11.1) → the `attachments` of its
 * `message` frame (docs/protocol.md "Media"). Pure and synchronous: ingest must not call Feishu
 * before it answers the webhook, so this only reads the message's `content`.
 *
 * What a download needs (the file key and the resource `type`) is not stored beside the attachment:
 * it is derived again from the stored `content` by `mediaRefs`, which is deterministic, so the
 * frame carries nothing the plugin should not see and old rows need no migration. An attachment
 * `id` encodes the message id and the attachment's position in `mediaRefs`; the inbox's unique
 * `message_id` then finds the row and its owner.
 */
import type { Attachment, AttachmentKind } from "../relay/protocol.ts";

/** The `type` query parameter of the message-resource API. */
export type ResourceType = "image" | "file";

export interface MediaRef {
  kind: AttachmentKind;
  /** `image_key` or `file_key`. */
  key: string;
  /** Undefined for stickers: Feishu does not serve them. */
  resourceType?: ResourceType;
  name?: string;
  durationMs?: number;
}

type Json = Record<string, unknown>;

/** Every image, file, voice note, video and sticker of a message, in message order. */
export function mediaRefs(msgType: string, content: Json): MediaRef[] {
  switch (msgType) {
    case "image":
      return ref("image", str(content.image_key), "image");
    case "file":
      return ref("file", str(content.file_key), "file", { name: str(content.file_name) });
    case "audio":
      return ref("audio", str(content.file_key), "file", { durationMs: ms(content.duration) });
    case "media":
      // The cover (`image_key`) is not an attachment: the video is what the user sent.
      return ref("video", str(content.file_key), "file", {
        name: str(content.file_name),
        durationMs: ms(content.duration),
      });
    case "sticker":
      return ref("sticker", str(content.file_key), undefined);
    case "post":
      return postRefs(content);
    default:
      return [];
  }
}

/** A post's `img` and `media` nodes; `content` is the normalised `{title, content}` of a post. */
function postRefs(content: Json): MediaRef[] {
  const paragraphs = Array.isArray(content.content) ? content.content : [];
  const refs: MediaRef[] = [];
  for (const paragraph of paragraphs) {
    if (!Array.isArray(paragraph)) continue;
    for (const node of paragraph) {
      if (!node || typeof node !== "object") continue;
      const n = node as Json;
      if (n.tag === "img") refs.push(...ref("image", str(n.image_key), "image"));
      else if (n.tag === "media")
        refs.push(...ref("video", str(n.file_key), "file", { name: str(n.file_name) }));
    }
  }
  return refs;
}

function ref(
  kind: AttachmentKind,
  key: string | undefined,
  resourceType: ResourceType | undefined,
  extra: { name?: string; durationMs?: number } = {},
): MediaRef[] {
  if (!key) return [];
  return [
    {
      kind,
      key,
      ...(resourceType ? { resourceType } : {}),
      ...(extra.name ? { name: extra.name } : {}),
      ...(extra.durationMs !== undefined ? { durationMs: extra.durationMs } : {}),
    },
  ];
}

/**
 * The frame's attachments, without `url` (ingest adds it from PUBLIC_URL). A sticker's `id` is its
 * key, as the contract says; every other id is `attachmentId(messageId, position)`.
 */
export function toAttachments(messageId: string, refs: MediaRef[]): Attachment[] {
  return refs.map((r, index) => ({
    id: r.resourceType ? attachmentId(messageId, index) : r.key,
    kind: r.kind,
    ...(r.name !== undefined ? { name: r.name } : {}),
    ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}),
  }));
}

/** Opaque and URL-safe: base64url of the message id, a dot, the position. Stable across replays. */
export function attachmentId(messageId: string, index: number): string {
  return `${Buffer.from(messageId, "utf8").toString("base64url")}.${index}`;
}

const ID_RE = /^([A-Za-z0-9_-]{1,200})\.(\d{1,4})$/;

/** The message id and position an attachment id names; undefined for anything else (→ 404). */
export function parseAttachmentId(id: string): { messageId: string; index: number } | undefined {
  const m = ID_RE.exec(id);
  if (!m) return undefined;
  const messageId = Buffer.from(m[1]!, "base64url").toString("utf8");
  // Only canonical encodings: another spelling of the same id must not name the same attachment.
  if (!messageId || attachmentId(messageId, Number(m[2])) !== id) return undefined;
  return { messageId, index: Number(m[2]) };
}

/** `<PUBLIC_URL>/api/media/<id>`; stickers get none. */
export function withMediaUrls(attachments: Attachment[], publicUrl: string): Attachment[] {
  const base = publicUrl.replace(/\/+$/, "");
  return attachments.map((a) => (a.kind === "sticker" ? a : { ...a, url: `${base}/api/media/${a.id}` }));
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Feishu gives durations in milliseconds, as a number (some clients send a digit string). */
function ms(value: unknown): number | undefined {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value) : Number.NaN;
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : undefined;
}
