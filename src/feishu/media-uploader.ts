/**
 * Uploads a media file to Feishu for sending (feishu-reference.md §11.2): images to
 * `im/v1/images` (`image_type=message`), everything else to `im/v1/files` with its `file_type`,
 * `file_name` and, for audio and video, `duration`. Answers the `image_key` / `file_key`.
 *
 * One attempt (the outbox owns retrying), under the same app-wide rate limits as sends. Failures are
 * `FeishuApiError`s: 234006 (too large), 234010 (empty), 234011 (not an image), 234039 (resolution)
 * and other 4xx are permanent; 5xx, network errors and 429 are transient.
 */
import { FeishuApiError, isRateLimit } from "./api-error.ts";
import { type MultipartBody, multipartBody } from "./multipart.ts";
import type { SendRateLimiter } from "./rate-limiter.ts";
import type { FeishuRestClient } from "./rest-client.ts";

export type UploadFileType = "opus" | "mp4" | "pdf" | "doc" | "xls" | "ppt" | "stream";

export type UploadRequest =
  | { kind: "image"; file: Blob; fileName: string }
  | { kind: "file"; file: Blob; fileName: string; fileType: UploadFileType; durationMs?: number };

/** A 30 MB upload on a slow uplink takes a while; sends keep their 10 s. */
export const UPLOAD_TIMEOUT_MS = 120_000;
/** When Feishu throttles an upload without saying for how long. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 1000;

/** The multipart body of an upload; the file part streams from disk. */
export function uploadForm(req: UploadRequest, boundary?: string): MultipartBody {
  if (req.kind === "image")
    return multipartBody(
      [["image_type", "message"]],
      { field: "image", fileName: req.fileName, blob: req.file },
      boundary,
    );
  const fields: Array<[string, string]> = [
    ["file_type", req.fileType],
    // Used literally as the display name: raw UTF-8, never percent-encoded (reference §11.2).
    ["file_name", req.fileName],
  ];
  if (req.durationMs !== undefined) fields.push(["duration", String(Math.round(req.durationMs))]);
  return multipartBody(fields, { field: "file", fileName: req.fileName, blob: req.file }, boundary);
}

export class MediaUploader {
  constructor(
    private readonly client: FeishuRestClient,
    private readonly limiter: SendRateLimiter,
  ) {}

  /** Uploads once; resolves with the key, or rejects with a `FeishuApiError`. */
  async upload(req: UploadRequest, opts: { owner?: string; signal?: AbortSignal } = {}): Promise<string> {
    const api = req.kind === "image" ? "im.image.create" : "im.file.create";
    // No per-key limit for uploads: they share their kind's app-wide budget round-robin by owner.
    await this.limiter.acquire(`upload:${opts.owner ?? "app"}`, {
      kind: "upload",
      signal: opts.signal,
      owner: opts.owner,
    });
    try {
      const answer = await this.client.request({
        method: "POST",
        path: req.kind === "image" ? "/open-apis/im/v1/images" : "/open-apis/im/v1/files",
        multipart: () => uploadForm(req),
        api,
        timeoutMs: UPLOAD_TIMEOUT_MS,
        signal: opts.signal,
      });
      const key = req.kind === "image" ? answer.data.image_key : answer.data.file_key;
      if (typeof key === "string" && key) return key;
      throw new FeishuApiError({
        kind: "http",
        code: "feishu_bad_response",
        msg: `no ${req.kind === "image" ? "image_key" : "file_key"} in the answer`,
        status: 200,
        logId: answer.logId,
        retryable: true,
        api,
      });
    } catch (err) {
      // Feishu limits each API on its own: a throttled upload pauses uploads, not sends.
      if (err instanceof FeishuApiError && isRateLimit(err))
        this.limiter.pauseApp(err.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS, "upload");
      throw err;
    }
  }
}
