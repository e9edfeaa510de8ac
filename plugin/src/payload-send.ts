/**
 * One agent payload (text and/or media URLs) → `send` frames, for replies (`deliver`) and proactive
 * sends (`outbound.sendText` / `sendMedia`) alike.
 *
 * With the relay's `media` feature, every media URL — local path or remote URL — is read through
 * OpenClaw's own loader (`runtime.media.loadWebMedia`, which applies `mediaLocalRoots` and the
 * host's read policy), stored with `PUT /api/media` and sent as image/file/audio/video; the text
 * rides along as the first media's caption. Without it (an older relay) remote URLs go as links in
 * the text, as before M2-2, and a local file makes the send fail visibly after the text went out:
 * OpenClaw must never report a file as delivered that nobody received.
 */
import { basename } from "node:path";
import type { HelloFrame, MediaMsgType, SendRequest } from "../../src/relay/protocol.ts";
import type { EventLog } from "./log.ts";
import { type MediaHttp, MediaUploadError } from "./media-http.ts";
import { chooseMsgType, type MediaLimits, mediaLimits } from "./media-rules.ts";
import type { SendAnswer, SendOptions } from "./pending-sends.ts";
import { splitText, stableUuid } from "./reply-text.ts";

/** A live relay connection as the send paths see it. */
export interface RelayLink {
  send(req: SendRequest, opts?: SendOptions): Promise<SendAnswer>;
  /** The latest `hello` (features and media limits), once connected. */
  readonly hello?: HelloFrame;
  readonly http?: Pick<MediaHttp, "upload">;
}

/** What OpenClaw's `loadWebMedia` resolves with (the fields we use). */
export interface LoadedMedia {
  buffer: Uint8Array;
  contentType?: string;
  fileName?: string;
}

export type LoadMedia = (url: string, options: Record<string, unknown>) => Promise<LoadedMedia>;

/** The media-access fields of OpenClaw's ChannelOutboundContext. */
export interface MediaAccessLike {
  mediaAccess?: {
    localRoots?: readonly string[];
    readFile?: (path: string) => Promise<Buffer>;
    workspaceDir?: string;
  };
  mediaLocalRoots?: readonly string[] | "any";
  mediaReadFile?: (path: string) => Promise<Buffer>;
}

export interface PayloadSend {
  link: RelayLink;
  /** OpenClaw's loader; undefined on a host without one. */
  load: LoadMedia | undefined;
  target: Pick<SendRequest, "replyTo" | "to">;
  /** Where text pieces after the first go (default `target`): only the first quotes the message. */
  followUp?: Pick<SendRequest, "replyTo" | "to">;
  text: string;
  urls: readonly string[];
  /** Stable uuid parts of this payload: text piece i is `…base, i`, media j is `…base, "m<j>"`. */
  uuidBase: ReadonlyArray<string | number>;
  /** Feature `stream`: this payload closes that stream; its first text piece carries the id. */
  streamId?: string;
  access?: MediaAccessLike;
  forceDocument?: boolean;
  signal?: AbortSignal;
  log: EventLog;
}

export const isRemoteUrl = (url: string) => /^https?:\/\//i.test(url.trim());

/** The media URLs of a reply payload (`mediaUrl` and `mediaUrls`), deduplicated, in order. */
export function payloadUrls(payload: { mediaUrl?: unknown; mediaUrls?: unknown } | undefined): string[] {
  const urls = [
    ...(typeof payload?.mediaUrl === "string" ? [payload.mediaUrl] : []),
    ...(Array.isArray(payload?.mediaUrls)
      ? payload.mediaUrls.filter((u): u is string => typeof u === "string")
      : []),
  ]
    .map((u) => u.trim())
    .filter(Boolean);
  return [...new Set(urls)];
}

/**
 * `loadWebMedia` options from an outbound context, as OpenClaw's own buildOutboundMediaLoadOptions
 * builds them: explicit roots win, a host readFile needs roots, images keep their original bytes
 * (Feishu takes images up to 10 MiB; larger ones go as files rather than recompressed).
 */
export function loadOptions(access: MediaAccessLike | undefined, maxBytes: number): Record<string, unknown> {
  const roots = access?.mediaAccess?.localRoots ?? access?.mediaLocalRoots;
  const localRoots = roots === "any" ? roots : roots && roots.length > 0 ? roots : undefined;
  const readFile = access?.mediaAccess?.readFile ?? access?.mediaReadFile;
  const workspaceDir = access?.mediaAccess?.workspaceDir;
  return {
    maxBytes,
    optimizeImages: false,
    ...(localRoots ? { localRoots } : {}),
    ...(readFile && localRoots ? { readFile, hostReadCapability: true } : {}),
    ...(workspaceDir ? { workspaceDir } : {}),
  };
}

const label = (url: string) => (isRemoteUrl(url) ? url.replace(/[?#].*$/, "") : basename(url));

function joinText(text: string, links: readonly string[]): string {
  return [text.trim() ? text : "", ...links].filter(Boolean).join("\n\n");
}

async function sendTextPieces(p: PayloadSend, text: string): Promise<SendAnswer[]> {
  const answers: SendAnswer[] = [];
  for (const [i, piece] of splitText(text).entries()) {
    const target = i === 0 ? p.target : (p.followUp ?? p.target);
    answers.push(
      await p.link.send(
        {
          ...target,
          msgType: "markdown",
          text: piece,
          uuid: stableUuid(...p.uuidBase, i),
          ...(i === 0 && p.streamId ? { streamId: p.streamId } : {}),
        },
        { signal: p.signal },
      ),
    );
  }
  return answers;
}

/** An upload that has not finished by then fails the send (30 MiB at 100 KiB/s). */
const UPLOAD_TIMEOUT_MS = 5 * 60_000;

interface Upload {
  mediaId: string;
  msgType: MediaMsgType;
}

/** PUT the bytes; a MIME type the relay does not know (415) goes again as a plain file. */
async function upload(
  p: PayloadSend,
  file: LoadedMedia,
  fileName: string,
  limits: MediaLimits,
): Promise<Upload> {
  const http = p.link.http!;
  const contentType = file.contentType?.trim() || "application/octet-stream";
  const msgType = chooseMsgType(
    { contentType, size: file.buffer.byteLength, forceDocument: p.forceDocument },
    limits,
  );
  const signal = p.signal
    ? AbortSignal.any([p.signal, AbortSignal.timeout(UPLOAD_TIMEOUT_MS)])
    : AbortSignal.timeout(UPLOAD_TIMEOUT_MS);
  try {
    const res = await http.upload({ bytes: file.buffer, contentType, fileName }, signal);
    return { mediaId: res.mediaId, msgType };
  } catch (err) {
    if (
      !(err instanceof MediaUploadError) ||
      err.status !== 415 ||
      contentType === "application/octet-stream"
    )
      throw err;
    p.log.info("media_sent_as_octet_stream", { contentType });
    const res = await http.upload(
      { bytes: file.buffer, contentType: "application/octet-stream", fileName },
      signal,
    );
    return { mediaId: res.mediaId, msgType: "file" };
  }
}

/** Sends one payload; resolves with every answer, throws when any part could not be sent. */
export async function sendPayload(p: PayloadSend): Promise<SendAnswer[]> {
  const limits = mediaLimits(p.link.hello);
  if (!limits || !p.load || !p.link.http) {
    const remote = p.urls.filter(isRemoteUrl);
    const local = p.urls.filter((u) => !isRemoteUrl(u));
    const text = joinText(p.text, remote);
    const answers = text.trim() ? await sendTextPieces(p, text) : [];
    if (local.length > 0) {
      const why = !limits
        ? 'the relay does not support media (no "media" feature; it needs updating)'
        : "this OpenClaw host offers no media loader";
      throw new Error(`feishu-relay: could not send ${local.map(label).join(", ")}: ${why}`);
    }
    return answers;
  }

  const loaded: Array<{ url: string; file: LoadedMedia }> = [];
  const links: string[] = [];
  for (const url of p.urls) {
    try {
      loaded.push({ url, file: await p.load(url, loadOptions(p.access, limits.maxBytes)) });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      // A remote file we cannot fetch is still worth its link; a local one has no other way out.
      if (!isRemoteUrl(url)) throw new Error(`feishu-relay: could not read ${label(url)}: ${reason}`);
      p.log.warn("media_load_failed_sent_as_link", { error: reason.slice(0, 200) });
      links.push(url);
    }
  }
  const text = joinText(p.text, links);
  const pieces = text.trim() ? splitText(text) : [];
  // The stream's card takes the text, so it goes as its own message, not as a media caption.
  const caption = loaded.length > 0 && pieces.length === 1 && !p.streamId ? pieces[0] : undefined;
  const answers: SendAnswer[] = [];
  for (const [j, { url, file }] of loaded.entries()) {
    const fileName = file.fileName?.trim() || label(url) || "file";
    let up: Upload;
    try {
      up = await upload(p, file, fileName, limits);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`feishu-relay: could not upload ${fileName}: ${reason}`, { cause: err });
    }
    answers.push(
      await p.link.send(
        {
          ...p.target,
          msgType: up.msgType,
          mediaId: up.mediaId,
          ...(j === 0 && caption ? { text: caption } : {}),
          uuid: stableUuid(...p.uuidBase, `m${j}`),
        },
        { signal: p.signal },
      ),
    );
  }
  if (!caption && pieces.length > 0) answers.push(...(await sendTextPieces(p, text)));
  return answers;
}
