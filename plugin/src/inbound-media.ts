/**
 * Inbound attachments → files in OpenClaw's media store → ordered `media` facts for the agent's
 * context (MsgContext.media). Hosts without `inbound.buildContext` also get the older
 * MediaPath/MediaPaths/… fields (legacyMediaFields): 2026.3.x reads only those.
 *
 * Runs before the message is dispatched, so the model sees the real image or file. A download that
 * fails never blocks the message: the agent gets a short note saying which attachment it cannot
 * see and why, and the message is handled and acked as usual. A crash before the ack re-delivers
 * the message and the download simply runs again (GET is idempotent).
 */
import type { Attachment, MessageFrame } from "../../src/relay/protocol.ts";
import type { EventLog } from "./log.ts";
import { type Download, TooLargeError } from "./media-http.ts";
import {
  type DownloadFailure,
  downloadable,
  type FactKind,
  factKind,
  hasTranscript,
  type MediaLimits,
  unavailableNote,
} from "./media-rules.ts";

// biome-ignore lint/suspicious/noExplicitAny: host functions are called with host-shaped objects.
type Fn = (...args: any[]) => any;

/** The parts of OpenClaw's `PluginRuntime["channel"]["media"]` used to store inbound files. */
export interface MediaStoreLike {
  saveResponseMedia?: Fn;
  saveMediaBuffer?: Fn;
}

/** One ordered fact, in the shape of OpenClaw's `MediaFact`. */
export interface InboundMediaFact {
  path: string;
  contentType?: string;
  kind: FactKind;
  fileName?: string;
  messageId: string;
  sizeBytes?: number;
  durationMs?: number;
  transcribed?: boolean;
}

export interface InboundMediaDeps {
  download: (attachmentId: string, maxBytes: number) => Promise<Download>;
  limits: MediaLimits;
  store: MediaStoreLike | undefined;
  log: EventLog;
}

export interface InboundMedia {
  media: InboundMediaFact[];
  /** One line per attachment the agent cannot see. */
  notes: string[];
}

interface Saved {
  path: string;
  size?: number;
  contentType?: string;
  fileName?: string;
}

const SUBDIR = "inbound";

async function save(
  dl: Extract<Download, { ok: true }>,
  att: Attachment,
  deps: InboundMediaDeps,
): Promise<Saved> {
  const store = deps.store;
  const fileName = att.name ?? dl.fileName;
  const contentType = dl.contentType ?? att.mime;
  const { maxBytes } = deps.limits;
  if (store?.saveResponseMedia) {
    return await store.saveResponseMedia(dl.response, {
      sourceUrl: dl.url,
      maxBytes,
      subdir: SUBDIR,
      originalFilename: fileName,
      fallbackContentType: att.mime,
    });
  }
  if (store?.saveMediaBuffer) {
    const bytes = Buffer.from(await dl.response.arrayBuffer());
    return await store.saveMediaBuffer(bytes, contentType, SUBDIR, maxBytes, fileName);
  }
  await dl.response.body?.cancel().catch(() => undefined);
  throw new Error("this OpenClaw version has no media store (channel.media.saveResponseMedia)");
}

/** True when the error (or its cause chain) says the body passed our limit. */
function isTooLarge(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof TooLargeError) return true;
    if ((e as { code?: unknown }).code === "max_bytes") return true;
  }
  return false;
}

function isAborted(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const name = (e as { name?: unknown }).name;
    if (name === "AbortError" || name === "TimeoutError") return true;
  }
  return false;
}

async function fetchOne(
  frame: MessageFrame,
  att: Attachment,
  deps: InboundMediaDeps,
): Promise<InboundMediaFact | DownloadFailure> {
  const dl = await deps.download(att.id, deps.limits.maxBytes);
  if (!dl.ok) return dl.failure;
  let saved: Saved;
  try {
    saved = await save(dl, att, deps);
  } catch (err) {
    if (isTooLarge(err)) return { code: "too_large", maxBytes: deps.limits.maxBytes };
    if (isAborted(err)) return { code: "network" };
    deps.log.warn("inbound_media_save_failed", {
      messageId: frame.messageId,
      kind: att.kind,
      error: err instanceof Error ? err.message.slice(0, 200) : String(err).slice(0, 200),
    });
    return { code: "not_saved" };
  }
  const contentType = saved.contentType ?? dl.contentType ?? att.mime;
  const fact: InboundMediaFact = {
    path: saved.path,
    contentType,
    kind: factKind(att.kind, contentType),
    fileName: att.name ?? dl.fileName ?? saved.fileName,
    messageId: frame.messageId,
  };
  if (typeof saved.size === "number") fact.sizeBytes = saved.size;
  if (att.durationMs !== undefined) fact.durationMs = att.durationMs;
  if (att.kind === "audio" && hasTranscript(frame.msgType, frame.text)) fact.transcribed = true;
  return fact;
}

/** Downloads and stores every downloadable attachment of `frame`, in message order. */
export async function collectInboundMedia(
  frame: MessageFrame,
  deps: InboundMediaDeps,
): Promise<InboundMedia> {
  const wanted = (frame.attachments ?? []).filter(downloadable);
  const results = await Promise.all(wanted.map((att) => fetchOne(frame, att, deps)));
  const out: InboundMedia = { media: [], notes: [] };
  for (const [i, r] of results.entries()) {
    if ("path" in r) {
      out.media.push(r);
      continue;
    }
    const att = wanted[i]!;
    out.notes.push(unavailableNote(att, r));
    deps.log.warn("inbound_media_unavailable", {
      messageId: frame.messageId,
      seq: frame.seq,
      kind: att.kind,
      reason: r.code,
      status: "status" in r ? r.status : undefined,
    });
  }
  return out;
}

/**
 * The pre-`media` context fields, projected from the facts as OpenClaw 2026.9's own
 * `projectMediaFacts` does for channels. Only for hosts that build the context the old way
 * (finalizeInboundContext): OpenClaw 2026.3.x ignores `media` and reads these; newer hosts
 * project them from `media` themselves (and mark them `removeAfter 2026-10-01`).
 */
export function legacyMediaFields(media: readonly InboundMediaFact[]): Record<string, unknown> {
  if (media.length === 0) return {};
  const types = media.map((m) => m.contentType ?? m.kind);
  return {
    MediaPath: media[0]!.path,
    MediaUrl: media[0]!.path,
    MediaType: types[0],
    MediaPaths: media.map((m) => m.path),
    MediaUrls: media.map((m) => m.path),
    MediaTypes: types,
  };
}
