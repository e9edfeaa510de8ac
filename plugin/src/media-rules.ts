/**
 * The media decisions that need no I/O: whether the relay speaks `media` and its limits, which
 * `msgType` an outbound file goes as, and how an inbound attachment is described to OpenClaw.
 * The MIME sets mirror what the relay accepts per `msgType` (protocol.md "Outbound"): anything the
 * relay would refuse as image/audio/video goes as `file` instead.
 */
import {
  type Attachment,
  Feature,
  type HelloFrame,
  IMAGE_MIMES,
  type MediaMsgType,
  OPUS_MIMES,
  VIDEO_MIME,
} from "../../src/relay/protocol.ts";

export interface MediaLimits {
  /** Largest download or upload (MEDIA_MAX_BYTES). */
  maxBytes: number;
  /** Largest upload that may go as `image`. */
  imageMaxBytes: number;
}

/** The relay's defaults, for a `media` relay that leaves `hello.media` out. */
export const DEFAULT_MEDIA_LIMITS: MediaLimits = {
  maxBytes: 30 * 1024 * 1024,
  imageMaxBytes: 10 * 1024 * 1024,
};

/** The media limits when this relay lists the `media` feature; undefined means "no media". */
export function mediaLimits(hello: HelloFrame | undefined): MediaLimits | undefined {
  if (!hello?.features?.includes(Feature.media)) return undefined;
  return hello.media ?? DEFAULT_MEDIA_LIMITS;
}

/** Lower case without parameters: `Image/PNG; q=1` → `image/png`. */
export function bareMime(mime: string | null | undefined): string | undefined {
  const m = mime?.split(";")[0]?.trim().toLowerCase();
  return m || undefined;
}

export interface OutboundFile {
  contentType: string | undefined;
  size: number;
  /** OpenClaw's `forceDocument`: send as a plain file, never as image/video. */
  forceDocument?: boolean;
}

/** The `msgType` of one outbound file. */
export function chooseMsgType(file: OutboundFile, limits: MediaLimits): MediaMsgType {
  const mime = bareMime(file.contentType);
  if (!mime || file.forceDocument) return "file";
  if (IMAGE_MIMES.has(mime)) return file.size <= limits.imageMaxBytes ? "image" : "file";
  if (OPUS_MIMES.has(mime)) return "audio";
  if (mime === VIDEO_MIME) return "video";
  return "file";
}

/** OpenClaw's media families (`MediaKind`). */
export type FactKind = "image" | "audio" | "video" | "document";

/** The family OpenClaw files an attachment under; a file that is really an image counts as one. */
export function factKind(kind: Attachment["kind"], contentType: string | undefined): FactKind {
  if (kind === "image" || kind === "audio" || kind === "video") return kind;
  const top = bareMime(contentType)?.split("/")[0];
  return top === "image" || top === "audio" || top === "video" ? top : "document";
}

/** Attachments worth downloading: everything with a url (stickers have none: Feishu keeps them). */
export function downloadable(att: Attachment): boolean {
  return att.kind !== "sticker" && Boolean(att.url);
}

/** The relay puts Feishu's speech_to_text in `text` for a voice note, `[audio]` when it has none. */
export function hasTranscript(msgType: string, text: string): boolean {
  const t = text.trim();
  return msgType === "audio" && t !== "" && t !== "[audio]";
}

/** Why a download did not produce a file, as the agent is told. */
export type DownloadFailure =
  | { code: "not_found" }
  | { code: "gone" }
  | { code: "too_large"; maxBytes: number }
  | { code: "rate_limited"; retryAfterSec?: number }
  | { code: "unavailable"; status?: number }
  | { code: "refused"; status: number; detail?: string }
  | { code: "network" }
  | { code: "not_saved" };

/** 30 MiB, 512 KiB, 1000 bytes. */
export function formatBytes(n: number): string {
  const round = (x: number) => Math.round(x * 10) / 10;
  if (n >= 1024 * 1024) return `${round(n / (1024 * 1024))} MiB`;
  if (n >= 1024) return `${round(n / 1024)} KiB`;
  return `${n} bytes`;
}

function failureText(f: DownloadFailure): string {
  switch (f.code) {
    case "not_found":
      return "the relay does not have it";
    case "gone":
      return "Feishu no longer has it (recalled or deleted)";
    case "too_large":
      return `larger than the ${formatBytes(f.maxBytes)} limit`;
    case "rate_limited":
      return "Feishu is rate-limiting downloads, try again later";
    case "unavailable":
      return `Feishu or the relay is unavailable${f.status ? ` (HTTP ${f.status})` : ""}`;
    case "refused":
      return `the relay refused the download (HTTP ${f.status}${f.detail ? ` ${f.detail}` : ""})`;
    case "network":
      return "network error while downloading";
    case "not_saved":
      return "it could not be saved";
  }
}

/** A one-line note for the agent in place of an attachment it cannot see. */
export function unavailableNote(att: Attachment, failure: DownloadFailure): string {
  const what = att.kind === "file" ? "file" : att.kind;
  const name = att.name ? ` "${att.name}"` : "";
  return `[${what}${name} unavailable: ${failureText(failure)}]`;
}

/** The agent's text with the notes appended (OpenClaw's formatInboundMediaUnavailableText shape). */
export function withNotes(text: string, notes: readonly string[]): string {
  if (notes.length === 0) return text;
  const body = text.trim();
  return body ? `${body}\n\n${notes.join("\n")}` : notes.join("\n");
}
