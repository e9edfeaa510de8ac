/**
 * What a failed Feishu resource download means for the plugin (docs/protocol.md, `GET /api/media/:id`):
 * one HTTP status and error code per kind of failure. Pure.
 */
import { FeishuApiError, isRateLimit } from "../feishu/api-error.ts";
import { HttpError } from "../ops/errors.ts";

/** The message or its resource no longer exists, or Feishu will never serve it (§11.1). */
export const GONE_CODES = new Set([
  230011, // message recalled
  230110, // message deleted
  234003, // file not in message
  234043, // unsupported message (merge_forward and its children, cards)
]);
/** Over Feishu's own 100 MB download limit. */
export const TOO_LARGE_CODE = 234037;
/** Retry-After when Feishu rate-limits without saying for how long. */
const DEFAULT_RETRY_AFTER_SEC = 1;

/** The `HttpError` a download failure becomes; anything that is not a Feishu error is a 502 too. */
export function downloadError(err: unknown): HttpError {
  if (!(err instanceof FeishuApiError)) {
    return new HttpError(502, "feishu_unavailable", "the download from Feishu failed");
  }
  if (isRateLimit(err)) {
    const seconds =
      err.retryAfterMs !== undefined
        ? Math.max(1, Math.ceil(err.retryAfterMs / 1000))
        : DEFAULT_RETRY_AFTER_SEC;
    return new HttpError(429, "rate_limited", "Feishu rate-limits downloads; try again later", {
      "retry-after": String(seconds),
    });
  }
  if (typeof err.code === "number" && GONE_CODES.has(err.code)) {
    return new HttpError(410, "media_gone", `Feishu no longer has this file (${err.code} ${err.msg})`);
  }
  if (err.code === TOO_LARGE_CODE) {
    return new HttpError(413, "media_too_large", "Feishu refuses to serve files over 100 MB");
  }
  if (err.status >= 500 || err.status === 0 || err.kind === "network" || err.kind === "timeout") {
    return new HttpError(502, "feishu_unavailable", "Feishu is unavailable; try again later");
  }
  const code = typeof err.code === "number" ? `feishu_${err.code}` : err.code;
  return new HttpError(
    502,
    code.startsWith("feishu_") ? code : `feishu_${code}`,
    `Feishu refused the download: ${err.msg}`,
  );
}
