/**
 * The message-resource API (reference §11.1): `GET /open-apis/im/v1/messages/:message_id/resources/:file_key?type=…`.
 * Tests register the bytes of a message's resources; the fake serves them with Content-Type,
 * Content-Length (unless asked to stream without one) and Content-Disposition, and answers Feishu's
 * error codes: 234001 bad `type`, 234003 key not in that message, 234043 unsupported message,
 * 230110 deleted message. Faults: the next N answers can be a rate limit, a 5xx, or any code; a
 * resource can be marked to answer HTTP 502 under `type=file` and serve under `type=media` (long videos).
 */
import { feishuError, type Reply, toResponse } from "./feishu-common.ts";
import { type Failure, failureReply } from "./feishu-switches.ts";

export const RESOURCE_RE = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/resources\/([^/]+)$/;

export interface ResourceInput {
  messageId: string;
  fileKey: string;
  /** The `type` it is served under: `image` for images (also in posts), `file` for files, audio and video. */
  type: "image" | "file";
  bytes: Uint8Array | string;
  mime?: string;
  fileName?: string;
  /** Stream the body in chunks without a Content-Length. */
  noContentLength?: boolean;
  /** Answer HTTP 502 under `type=file`; serve under `type=media` (the long-video behaviour). */
  mediaOnly?: boolean;
  /** How the file name is sent: RFC 8187 `filename*` (default), or raw UTF-8 bytes in `filename="…"`. */
  dispositionStyle?: "extended" | "raw";
}

interface Stored extends Omit<ResourceInput, "bytes"> {
  bytes: Uint8Array;
}

/** What was asked of the resource API, in order (also in the fake's `calls`). */
export interface ResourceCall {
  messageId: string;
  fileKey: string;
  type: string | null;
  status: number;
}

const CHUNK = 64 * 1024;

export class ResourceApi {
  readonly calls: ResourceCall[] = [];
  readonly #resources = new Map<string, Stored>();
  /** message ids answered 230110 (deleted) / 234043 (merge_forward child, card). */
  readonly deleted = new Set<string>();
  readonly unsupported = new Set<string>();
  #failures: Array<{ remaining: number; failure: Failure | { kind: "http502" } }> = [];

  register(input: ResourceInput): void {
    const bytes = typeof input.bytes === "string" ? new TextEncoder().encode(input.bytes) : input.bytes;
    this.#resources.set(key(input.messageId, input.fileKey), { ...input, bytes });
  }

  /** The next `n` resource answers are `failure` (`http502`: a bare HTTP 502 page, whatever the type). */
  failNext(n: number, failure: Failure | { kind: "http502" }): void {
    this.#failures.push({ remaining: n, failure });
  }

  reset(): void {
    this.calls.length = 0;
    this.#failures = [];
  }

  /** Serves one request whose token the router already checked; `code` is for the call record. */
  handle(url: URL, messageId: string, fileKey: string): { response: Response; code?: number } {
    const type = url.searchParams.get("type");
    const answer = this.#answer(type, messageId, fileKey);
    this.calls.push({ messageId, fileKey, type, status: answer.response.status });
    return answer;
  }

  #answer(type: string | null, messageId: string, fileKey: string): { response: Response; code?: number } {
    const fault = this.#takeFailure();
    if (fault) {
      if (fault.kind === "http502")
        return { response: new Response("<html>502 Bad Gateway</html>", { status: 502 }) };
      return reply(failureReply(fault, 400));
    }
    if (type !== "image" && type !== "file" && type !== "media") {
      return reply(feishuError(400, 234001, "Invalid request param: type"));
    }
    if (this.deleted.has(messageId))
      return reply(feishuError(400, 230110, "Action unavailable as the message has been deleted."));
    if (this.unsupported.has(messageId)) return reply(feishuError(400, 234043, "Unsupported message type."));
    const stored = this.#resources.get(key(messageId, fileKey));
    const typeFits = stored && (stored.type === type || (stored.type === "file" && type === "media"));
    if (!stored || !typeFits) return reply(feishuError(400, 234003, "File not in msg."));
    if (stored.mediaOnly && type === "file") {
      return { response: new Response("<html>502 Bad Gateway</html>", { status: 502 }) };
    }
    return { response: serve(stored) };
  }

  #takeFailure(): Failure | { kind: "http502" } | undefined {
    const first = this.#failures[0];
    if (!first) return undefined;
    if (--first.remaining <= 0) this.#failures.shift();
    return first.failure;
  }
}

function serve(r: Stored): Response {
  const headers = new Headers({ "content-type": r.mime ?? "application/octet-stream" });
  if (r.fileName)
    headers.set("content-disposition", disposition(r.fileName, r.dispositionStyle ?? "extended"));
  if (r.noContentLength) {
    // Chunks handed out one pull at a time: Bun sends them chunked, without a length.
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= r.bytes.byteLength) return controller.close();
        controller.enqueue(r.bytes.slice(offset, offset + CHUNK));
        offset += CHUNK;
      },
    });
    return new Response(body, { status: 200, headers });
  }
  headers.set("content-length", String(r.bytes.byteLength));
  return new Response(r.bytes as Uint8Array<ArrayBuffer>, { status: 200, headers });
}

function disposition(name: string, style: "extended" | "raw"): string {
  if (style === "extended") return `attachment; filename*=UTF-8''${encodeURIComponent(name)}`;
  // Raw UTF-8 bytes in the header value, as some gateways send them: written as latin1 characters.
  return `attachment; filename="${Buffer.from(name, "utf8").toString("latin1")}"`;
}

function reply(r: Reply): { response: Response; code?: number } {
  const code = (r.body as { code?: number } | undefined)?.code;
  return { response: toResponse(r), code };
}

const key = (messageId: string, fileKey: string) => `${messageId}\u0000${fileKey}`;

// ---- event content builders (reference §2.1 content shapes) ----

export const mediaContent = {
  image: (imageKey: string) => ({ image_key: imageKey }),
  file: (fileKey: string, fileName: string) => ({ file_key: fileKey, file_name: fileName }),
  audio: (fileKey: string, durationMs: number, speechToText?: string) => ({
    file_key: fileKey,
    duration: durationMs,
    ...(speechToText !== undefined ? { speech_to_text: speechToText } : {}),
  }),
  media: (fileKey: string, fileName: string, durationMs: number, coverKey = `img_cover_${fileKey}`) => ({
    file_key: fileKey,
    image_key: coverKey,
    file_name: fileName,
    duration: durationMs,
  }),
  sticker: (fileKey: string) => ({ file_key: fileKey }),
  /** A post with a line of text, then each image and video on its own line. */
  post: (text: string, media: Array<{ imageKey: string } | { fileKey: string }>, title = "") => ({
    title,
    content: [
      [{ tag: "text", text }],
      ...media.map((m) => [
        "imageKey" in m
          ? { tag: "img", image_key: m.imageKey, width: 800, height: 600 }
          : { tag: "media", file_key: m.fileKey, image_key: `img_cover_${m.fileKey}` },
      ]),
    ],
  }),
};
