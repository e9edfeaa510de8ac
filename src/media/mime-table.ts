/**
 * Which uploads the relay accepts and how each can go to Feishu (feishu-reference.md §11.2): the
 * MIME types it knows, what a media `msgType` demands of the bytes, and the `file_type` of an
 * `im/v1/files` upload. Pure: no I/O.
 */
import { IMAGE_MIMES, type MediaMsgType, OPUS_MIMES, VIDEO_MIME } from "../relay/protocol.ts";

/** Feishu's image limit (10 MB, counted as MiB like the official plugin). */
export const IMAGE_MAX_BYTES = 10 * 1024 * 1024;

const WORD = new Set([
  "application/msword",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
  "application/vnd.ms-word.document.macroenabled.12",
]);
const EXCEL = new Set([
  "application/vnd.ms-excel",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
  "application/vnd.ms-excel.sheet.macroenabled.12",
]);
const POWERPOINT = new Set([
  "application/vnd.ms-powerpoint",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
  "application/vnd.ms-powerpoint.presentation.macroenabled.12",
]);

/** Other documents and archives people send as files. */
const OTHER_FILES = new Set([
  "application/pdf",
  "application/octet-stream",
  "application/zip",
  "application/x-zip-compressed",
  "application/gzip",
  "application/x-gzip",
  "application/x-tar",
  "application/x-7z-compressed",
  "application/x-rar-compressed",
  "application/vnd.rar",
  "application/x-bzip2",
  "application/x-xz",
  "application/json",
  "application/xml",
  "application/rtf",
  "application/epub+zip",
  "application/vnd.oasis.opendocument.text",
  "application/vnd.oasis.opendocument.spreadsheet",
  "application/vnd.oasis.opendocument.presentation",
  "image/svg+xml",
]);

/** Lower case without parameters (`Image/PNG; q=1` → `image/png`); undefined when malformed. */
export function normaliseMime(raw: string | null | undefined): string | undefined {
  const mime = raw?.split(";")[0]?.trim().toLowerCase();
  return mime && /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(mime) ? mime : undefined;
}

export const isImageMime = (mime: string) => IMAGE_MIMES.has(mime);

/** Whether the relay knows how to send a (normalised) MIME type; anything else is refused with 415. */
export function isKnownMime(mime: string): boolean {
  if (IMAGE_MIMES.has(mime) || WORD.has(mime) || EXCEL.has(mime) || POWERPOINT.has(mime)) return true;
  if (OTHER_FILES.has(mime)) return true;
  const top = mime.slice(0, mime.indexOf("/"));
  return top === "audio" || top === "video" || top === "text";
}

/**
 * Why stored media cannot go as `msgType` (media_type_mismatch), or undefined when it can.
 * Feishu plays only Ogg/Opus voice notes and MP4 videos; other audio and video go as `file`.
 */
export function mediaMismatch(
  msgType: MediaMsgType,
  media: { mime: string; size: number },
): string | undefined {
  switch (msgType) {
    case "image":
      if (!isImageMime(media.mime))
        return `msgType image needs an image (jpeg, png, webp, gif, bmp, ico, tiff, heic), not ${media.mime}`;
      if (media.size > IMAGE_MAX_BYTES)
        return `an image over ${IMAGE_MAX_BYTES} bytes cannot be sent as msgType image; send it as file`;
      return undefined;
    case "audio":
      return OPUS_MIMES.has(media.mime)
        ? undefined
        : `msgType audio needs Ogg/Opus audio, not ${media.mime}; send it as file`;
    case "video":
      return media.mime === VIDEO_MIME
        ? undefined
        : `msgType video needs MP4, not ${media.mime}; send it as file`;
    case "file":
      return undefined;
  }
}

export type FeishuFileType = "opus" | "mp4" | "pdf" | "doc" | "xls" | "ppt" | "stream";

/**
 * The `file_type` of an `im/v1/files` upload. It must agree with the message's `msg_type`
 * (opus → audio, mp4 → media, anything else → file; else Feishu answers 230055), so it follows the
 * send's `msgType` first and the MIME type only for plain files.
 */
export function feishuFileType(msgType: Exclude<MediaMsgType, "image">, mime: string): FeishuFileType {
  if (msgType === "audio") return "opus";
  if (msgType === "video") return "mp4";
  if (mime === "application/pdf") return "pdf";
  if (WORD.has(mime)) return "doc";
  if (EXCEL.has(mime)) return "xls";
  if (POWERPOINT.has(mime)) return "ppt";
  return "stream";
}

const EXTENSIONS: Record<string, string> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/gif": "gif",
  "image/webp": "webp",
  "audio/ogg": "ogg",
  "audio/opus": "opus",
  "video/mp4": "mp4",
  "application/pdf": "pdf",
  "application/zip": "zip",
  "text/plain": "txt",
};

/** The usual file extension of a MIME type (without the dot), when we know one. */
export const mimeExtension = (mime: string): string | undefined => EXTENSIONS[mime];

/**
 * The `file_name` Feishu gets: it wants one with an extension, so a nameless upload is called
 * `file.<ext>`, and a name without an extension gets the MIME type's, when one is known.
 */
export function feishuFileName(name: string | null, mime: string): string {
  const ext = EXTENSIONS[mime];
  if (!name) return `file.${ext ?? "bin"}`;
  return ext && !/\.[A-Za-z0-9]{1,8}$/.test(name) ? `${name}.${ext}` : name;
}
