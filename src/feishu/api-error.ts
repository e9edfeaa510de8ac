/**
 * The one error type of the Feishu client, and the pure rules that decide what a failure means:
 * retry it, refresh the token, wait for a rate limit, or give up (feishu-reference.md §4.4, §5.1, §5.4).
 * The outbox reads `code`, `message`, `retryable` and `retryAfterMs` (relay/outbox-policy.ts `SendFailure`).
 */

/** Where the failure came from: Feishu answered (`api`), or something before an answer went wrong. */
export type FeishuErrorKind =
  /** Feishu answered with a non-zero `code`. */
  | "api"
  /** An HTTP error without a readable Feishu body (a proxy's 502 page, say). */
  | "http"
  /** Connection refused/reset, DNS, TLS. */
  | "network"
  /** Our per-call timeout fired. */
  | "timeout"
  /** The app credentials were refused: nothing works until the operator fixes them. */
  | "auth"
  /** What we were asked to send cannot be sent (too large for one message, malformed). */
  | "content";

export interface FeishuErrorInit {
  kind: FeishuErrorKind;
  /** Feishu's numeric code when it gave one, else a local snake_case code (`feishu_timeout`, …). */
  code: number | string;
  msg: string;
  /** HTTP status; 0 when no answer arrived. */
  status: number;
  logId?: string;
  retryable: boolean;
  retryAfterMs?: number;
  /** Short name of the API called (`im.message.create`), for logs. */
  api?: string;
}

export class FeishuApiError extends Error {
  readonly kind: FeishuErrorKind;
  readonly code: number | string;
  readonly msg: string;
  readonly status: number;
  readonly logId: string | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly api: string | undefined;

  constructor(init: FeishuErrorInit) {
    super(`Feishu ${init.api ? `${init.api} ` : ""}failed: ${init.code} ${init.msg}`.trim());
    this.name = "FeishuApiError";
    this.kind = init.kind;
    this.code = init.code;
    this.msg = init.msg;
    this.status = init.status;
    this.logId = init.logId;
    this.retryable = init.retryable;
    this.retryAfterMs = init.retryAfterMs;
    this.api = init.api;
  }

  /** Fields safe for a log line (Feishu's msg describes the error, never our message text). */
  toLog(): Record<string, unknown> {
    return {
      api: this.api,
      kind: this.kind,
      code: this.code,
      msg: this.msg,
      status: this.status,
      logId: this.logId,
      retryable: this.retryable,
    };
  }
}

export const RATE_LIMIT_CODE = 99991400;
export const CHAT_RATE_LIMIT_CODE = 230020;

/** The tenant token was refused: drop it, fetch a new one, try again (DESIGN §6). */
const INVALID_TOKEN_CODES = new Set([99991661, 99991663, 99991664, 99991671]);

/** Codes that mean "try again later" even though Feishu answered with a 4xx. */
const TRANSIENT_CODES = new Set([
  RATE_LIMIT_CODE,
  CHAT_RATE_LIMIT_CODE,
  230049, // message still being sent
  232096, // uploads: "meta writing stopped, retry later" (reference §11.2)
]);

/** Answers of the token endpoint that mean the app id/secret are wrong or the app is unusable. */
const AUTH_FAILURE_CODES = new Set([10003, 10012, 10013, 10014, 10015]);

export function isInvalidTokenAnswer(status: number, code: number | undefined): boolean {
  return (code !== undefined && INVALID_TOKEN_CODES.has(code)) || (status === 401 && code !== 0);
}

export function isAuthFailureCode(code: number): boolean {
  return AUTH_FAILURE_CODES.has(code);
}

/**
 * Whether an answer with a Feishu code is worth retrying. 5xx and rate limits are; an invalid token
 * that survived our own refreshes is too (the platform's token service recovers). Anything else a
 * 4xx carries (230002 bot not in chat, 230013 out of scope, 230025 too long, 99991672 no scope…)
 * will fail the same way again, so it is permanent.
 */
export function isRetryable(status: number, code: number | undefined): boolean {
  if (status >= 500 || status === 429) return true;
  if (code === undefined) return status === 408;
  return TRANSIENT_CODES.has(code) || INVALID_TOKEN_CODES.has(code);
}

/** `x-ogw-ratelimit-reset` is in seconds (reference §5.4); undefined when absent or unreadable. */
export function retryAfterFrom(headers: Headers): number | undefined {
  const raw = headers.get("x-ogw-ratelimit-reset") ?? headers.get("retry-after");
  if (raw === null) return undefined;
  const seconds = Number(raw);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
}

export function isRateLimit(err: FeishuApiError): boolean {
  return err.code === RATE_LIMIT_CODE || (err.status === 429 && err.code !== CHAT_RATE_LIMIT_CODE);
}

export function isChatRateLimit(err: FeishuApiError): boolean {
  return err.code === CHAT_RATE_LIMIT_CODE;
}
