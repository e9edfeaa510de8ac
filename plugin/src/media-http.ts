/**
 * The relay's media endpoints over HTTP (protocol.md "Media"): `GET /api/media/:id` for inbound
 * attachments and `PUT /api/media` for outbound files, with the plugin's token as a Bearer header.
 * `fetch` is injected (tests); nothing here knows about OpenClaw.
 */
import { checkFrame, MediaUploadResponse } from "../../src/relay/protocol.ts";
import type { DownloadFailure } from "./media-rules.ts";
import { dispositionFileName, fileNameHeader, mediaDownloadUrl, mediaUploadUrl } from "./relay-http.ts";

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export type Download =
  | {
      ok: true;
      /** A response whose body errors (TooLargeError) once it passes `maxBytes`. */
      response: Response;
      url: string;
      contentType?: string;
      fileName?: string;
    }
  | { ok: false; failure: DownloadFailure };

/** The body passed the byte limit while streaming. */
export class TooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`media larger than ${maxBytes} bytes`);
    this.name = "TooLargeError";
  }
}

/** The relay refused an upload (or could not be reached); `code` is the relay's error code. */
export class MediaUploadError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "MediaUploadError";
  }
}

/** Passes chunks through until `maxBytes` would be exceeded, then errors the stream. */
export function limitBody(body: ReadableStream<Uint8Array>, maxBytes: number): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) controller.error(new TooLargeError(maxBytes));
        else controller.enqueue(chunk);
      },
    }),
  );
}

/** HTTP status → what the agent is told (protocol.md "GET /api/media/:id answers"). */
export function failureForStatus(status: number, res?: Response, maxBytes = 0): DownloadFailure {
  if (status === 404) return { code: "not_found" };
  if (status === 410) return { code: "gone" };
  if (status === 413) return { code: "too_large", maxBytes };
  if (status === 429) {
    const after = Number(res?.headers.get("retry-after"));
    return Number.isFinite(after) && after > 0
      ? { code: "rate_limited", retryAfterSec: after }
      : { code: "rate_limited" };
  }
  if (status >= 500) return { code: "unavailable", status };
  return { code: "refused", status };
}

async function errorCode(res: Response): Promise<{ code?: string; message?: string }> {
  try {
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
    return {
      code: typeof body.error?.code === "string" ? body.error.code : undefined,
      message: typeof body.error?.message === "string" ? body.error.message : undefined,
    };
  } catch {
    return {};
  }
}

export interface MediaHttpOptions {
  /** The relay's HTTP base (relayHttpBase). */
  base: string;
  token: string;
  fetch?: FetchFn;
}

export class MediaHttp {
  readonly #o: MediaHttpOptions;
  readonly #fetch: FetchFn;

  constructor(opts: MediaHttpOptions) {
    this.#o = opts;
    this.#fetch = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.#o.token}`, ...extra };
  }

  /**
   * Starts downloading one attachment. A larger announced length is refused before any byte is
   * read; an unannounced one is cut off by the returned body once it passes `maxBytes`.
   */
  async download(attachmentId: string, maxBytes: number, signal?: AbortSignal): Promise<Download> {
    const url = mediaDownloadUrl(this.#o.base, attachmentId);
    let res: Response;
    try {
      res = await this.#fetch(url, { headers: this.#headers(), signal });
    } catch {
      return { ok: false, failure: { code: "network" } };
    }
    if (!res.ok) {
      const failure = failureForStatus(res.status, res, maxBytes);
      if (failure.code === "refused") {
        const { code } = await errorCode(res);
        if (code) failure.detail = code;
      } else await res.body?.cancel().catch(() => undefined);
      return { ok: false, failure };
    }
    const length = Number(res.headers.get("content-length"));
    if (Number.isFinite(length) && length > maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      return { ok: false, failure: { code: "too_large", maxBytes } };
    }
    const contentType = res.headers.get("content-type") ?? undefined;
    const headers = new Headers();
    if (contentType) headers.set("content-type", contentType);
    if (Number.isFinite(length) && res.headers.has("content-length"))
      headers.set("content-length", String(length));
    const body = res.body ? limitBody(res.body, maxBytes) : null;
    return {
      ok: true,
      response: new Response(body, { status: 200, headers }),
      url,
      contentType,
      fileName: dispositionFileName(res.headers.get("content-disposition")),
    };
  }

  /** Stores one file in the relay; resolves with its `mediaId`, throws MediaUploadError otherwise. */
  async upload(
    file: { bytes: Uint8Array; contentType: string; fileName?: string },
    signal?: AbortSignal,
  ): Promise<MediaUploadResponse> {
    const headers = this.#headers({ "content-type": file.contentType });
    if (file.fileName) headers["x-file-name"] = fileNameHeader(file.fileName);
    let res: Response;
    try {
      res = await this.#fetch(mediaUploadUrl(this.#o.base), {
        method: "PUT",
        headers,
        // A Buffer is a valid body; the DOM typing only admits ArrayBuffer-backed views.
        body: file.bytes as unknown as BodyInit,
        signal,
      });
    } catch (err) {
      throw new MediaUploadError(
        "network",
        `could not reach the relay to upload media: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (!res.ok) {
      const { code, message } = await errorCode(res);
      throw new MediaUploadError(
        code ?? `http_${res.status}`,
        `the relay refused the upload (HTTP ${res.status}${code ? ` ${code}` : ""})${message ? `: ${message}` : ""}`,
        res.status,
      );
    }
    const answer = checkFrame(MediaUploadResponse, await res.json().catch(() => undefined));
    if (!answer.ok)
      throw new MediaUploadError("bad_answer", "the relay answered the upload without a mediaId", res.status);
    return answer.frame;
  }
}
