/**
 * Authenticated JSON calls to the Feishu Open API (feishu-reference.md §4.3). Adds the tenant token,
 * turns every failure into a `FeishuApiError`, and handles the one failure a caller cannot: an
 * invalid-token answer drops that token, fetches a new one and repeats the call, at most
 * MAX_TOKEN_RETRIES times. Rate limits and other retries belong to the caller (see send-retry.ts).
 */
import type { Logger } from "../ops/logger.ts";
import { LATENCY_BUCKETS, type Registry } from "../ops/metrics.ts";
import {
  CHAT_RATE_LIMIT_CODE,
  FeishuApiError,
  isChatRateLimit,
  isInvalidTokenAnswer,
  isRateLimit,
  RATE_LIMIT_CODE,
} from "./api-error.ts";
import { answerError, callJson, type JsonAnswer } from "./http.ts";
import type { MultipartBody } from "./multipart.ts";
import type { CallKind } from "./rate-limiter.ts";
import type { TokenSource } from "./tenant-token.ts";

/** Retries after an invalid-token answer (DESIGN §6): three attempts in all. */
export const MAX_TOKEN_RETRIES = 2;
const DEFAULT_TIMEOUT_MS = 10_000;

export interface RestClientOptions {
  /** Open API base (`feishuHosts(FEISHU_DOMAIN).open`). */
  baseUrl: string;
  fetch: typeof fetch;
  tokens: TokenSource;
  log: Logger;
  metrics: Registry;
  now?: () => number;
  timeoutMs?: number;
}

export interface RestCall {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path with its query, e.g. `/open-apis/im/v1/messages?receive_id_type=chat_id`. */
  path: string;
  body?: unknown;
  /** A multipart body instead (uploads), built afresh for each attempt (a stream is read once). */
  multipart?: () => MultipartBody;
  /** Short API name for metrics and errors: `im.message.create`. */
  api: string;
  /**
   * The budget this call spends, for `feishu_api_calls_total`; default from the `api` name
   * (`apiKind`). Calls outside the send budgets (token, contact, bot info) are not counted there.
   */
  kind?: CallKind;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RestAnswer {
  /** The whole answer (`{code:0, msg, data?, …}`); some APIs (bot info) answer outside `data`. */
  body: Record<string, unknown>;
  data: Record<string, unknown>;
  logId: string | undefined;
}

export class FeishuRestClient {
  readonly #o: RestClientOptions;
  readonly #now: () => number;
  readonly #duration;
  readonly #calls;

  constructor(opts: RestClientOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#duration = opts.metrics.histogram(
      "feishu_request_duration_seconds",
      "Feishu API call duration by API.",
      LATENCY_BUCKETS,
    );
    this.#calls = opts.metrics.counter(
      "feishu_api_calls_total",
      "Feishu calls that spend a rate budget, by kind and result (ok, error, throttled).",
    );
  }

  /** Resolves with the answer when Feishu says `code: 0`; rejects with a `FeishuApiError` otherwise. */
  async request(call: RestCall): Promise<RestAnswer> {
    for (let retry = 0; ; retry++) {
      const token = await this.#o.tokens.get();
      let error: FeishuApiError;
      try {
        const answer = await this.#once(call, token);
        if (answer.code === 0 && answer.status < 400) {
          const data = answer.body.data;
          return {
            body: answer.body,
            data: data && typeof data === "object" ? (data as Record<string, unknown>) : {},
            logId: answer.logId,
          };
        }
        error = answerError(answer, call.api);
        if (!isInvalidTokenAnswer(answer.status, answer.code)) throw error;
      } catch (err) {
        // A bare 401 (no Feishu body) also means the token was refused.
        if (!(err instanceof FeishuApiError) || err.status !== 401) throw err;
        error = err;
      }
      this.#o.tokens.invalidate(token);
      this.#o.log.warn("feishu_token_rejected", { ...error.toLog(), retry: retry + 1 });
      if (retry >= MAX_TOKEN_RETRIES) throw error;
    }
  }

  async #once(call: RestCall, token: string): Promise<JsonAnswer> {
    const started = this.#now();
    const kind = call.kind ?? apiKind(call.api);
    try {
      const answer = await callJson(this.#o.fetch, {
        method: call.method,
        url: this.#o.baseUrl + call.path,
        body: call.body,
        multipart: call.multipart?.(),
        headers: { authorization: `Bearer ${token}` },
        timeoutMs: call.timeoutMs ?? this.#o.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        api: call.api,
        signal: call.signal,
      });
      if (kind) this.#calls.inc({ kind, result: answerResult(answer) });
      return answer;
    } catch (err) {
      const e = err as FeishuApiError;
      if (kind)
        this.#calls.inc({
          kind,
          result: e instanceof FeishuApiError && isThrottle(e) ? "throttled" : "error",
        });
      this.#o.log.debug("feishu_call_failed", e.toLog?.() ?? { api: call.api });
      throw err;
    } finally {
      this.#duration.observe((this.#now() - started) / 1000, { api: call.api });
    }
  }
}

/** The send budget an API spends, by its name; undefined for calls outside them (token, contact). */
export function apiKind(api: string): CallKind | undefined {
  if (api === "im.message.create" || api === "im.message.reply") return "message";
  if (api === "im.image.create" || api === "im.file.create") return "upload";
  if (api.startsWith("im.reaction.") || api.startsWith("im.message.reaction.")) return "reaction";
  if (api.startsWith("cardkit.")) return "card";
  if (api === "im.message.get" || api === "im.chat.get") return "read";
  return undefined;
}

function isThrottle(e: FeishuApiError): boolean {
  return isRateLimit(e) || isChatRateLimit(e);
}

function answerResult(answer: JsonAnswer): "ok" | "error" | "throttled" {
  if (answer.code === 0 && answer.status < 400) return "ok";
  const throttled =
    answer.status === 429 || answer.code === RATE_LIMIT_CODE || answer.code === CHAT_RATE_LIMIT_CODE;
  return throttled ? "throttled" : "error";
}
