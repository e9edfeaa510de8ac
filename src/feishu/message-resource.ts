/**
 * Downloads one resource of a message (feishu-reference.md §11.1):
 * `GET /open-apis/im/v1/messages/:message_id/resources/:file_key?type=image|file` with the tenant
 * token. The answer's body is handed on as a stream, never read whole here.
 *
 * - An invalid-token answer drops the token and tries again (as rest-client.ts does).
 * - A `type=file` answer of HTTP 502 is tried once more as `type=media`: Feishu answers 502 for long
 *   videos under `file` and serves them under the undocumented `media` (openclaw PR #50164).
 * - Feishu allows this API 50/s and 1000/min app-wide, separately from sends, so downloads take
 *   turns in their own `DownloadRateLimiter` and cannot starve sends or be starved by them.
 */
import type { Logger } from "../ops/logger.ts";
import {
  FeishuApiError,
  isInvalidTokenAnswer,
  isRetryable,
  RATE_LIMIT_CODE,
  retryAfterFrom,
} from "./api-error.ts";
import type { ResourceType } from "./attachments.ts";
import { fileNameFromDisposition } from "./content-disposition.ts";
import { WindowLog } from "./rate-limiter.ts";
import { MAX_TOKEN_RETRIES } from "./rest-client.ts";
import type { TokenSource } from "./tenant-token.ts";

const API = "im.messageResource.get";
/** How long Feishu may take to start answering; the body itself may take as long as it needs. */
const DEFAULT_HEADERS_TIMEOUT_MS = 15_000;
/** Feishu's limits for this API (§11.1). */
export const DOWNLOADS_PER_SECOND = 50;
export const DOWNLOADS_PER_MINUTE = 1000;
/** A download waits this long at most for its turn; beyond it the caller gets a rate-limit error. */
export const MAX_LIMITER_WAIT_MS = 2000;

export interface ResourceRequest {
  messageId: string;
  fileKey: string;
  type: ResourceType;
  /** The client went away: stop waiting and abort the request to Feishu. */
  signal?: AbortSignal;
}

export interface ResourceStream {
  body: ReadableStream<Uint8Array>;
  contentType: string | undefined;
  /** Feishu's Content-Length, when it sent one. */
  contentLength: number | undefined;
  /** From Feishu's Content-Disposition, when it sent one. */
  fileName: string | undefined;
  /** The `type` that worked (`media` after a 502 under `file`). */
  type: string;
}

/** App-wide sliding windows (50/s, 1000/min) for resource downloads; clock and sleep injected. */
export class DownloadRateLimiter {
  readonly #second: WindowLog;
  readonly #minute: WindowLog;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    opts: {
      perSecond?: number;
      perMinute?: number;
      now?: () => number;
      sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
      /** Added to each window to absorb jitter between our clock and Feishu's (default 50 ms). */
      marginMs?: number;
    } = {},
  ) {
    const margin = opts.marginMs ?? 50;
    this.#second = new WindowLog(opts.perSecond ?? DOWNLOADS_PER_SECOND, 1000 + margin);
    this.#minute = new WindowLog(opts.perMinute ?? DOWNLOADS_PER_MINUTE, 60_000 + margin);
    this.#now = opts.now ?? Date.now;
    this.#sleep = opts.sleep ?? ((ms, signal) => Bun.sleep(ms).then(() => signal?.throwIfAborted()));
  }

  /** Milliseconds until one more download fits (0: now). */
  waitMs(): number {
    const now = this.#now();
    return Math.max(this.#second.waitMs(now), this.#minute.waitMs(now));
  }

  /**
   * Takes a turn, waiting up to `maxWaitMs`; rejects with a rate-limit `FeishuApiError` (HTTP 429,
   * with `retryAfterMs`) when the turn is further away.
   */
  async acquire(maxWaitMs = MAX_LIMITER_WAIT_MS, signal?: AbortSignal): Promise<void> {
    let waited = 0;
    // Each pass either takes the turn or sleeps until the window frees; waiters that lost a race
    // loop again, and the total wait is bounded.
    for (;;) {
      const wait = this.waitMs();
      if (wait === 0) {
        const now = this.#now();
        this.#second.record(now);
        this.#minute.record(now);
        return;
      }
      if (waited + wait > maxWaitMs) {
        throw new FeishuApiError({
          kind: "api",
          code: RATE_LIMIT_CODE,
          msg: "the relay's download rate limit for Feishu is reached",
          status: 429,
          retryable: true,
          retryAfterMs: wait,
          api: API,
        });
      }
      await this.#sleep(wait, signal);
      waited += wait;
    }
  }
}

export interface MessageResourceOptions {
  /** Open API base (`feishuHosts(FEISHU_DOMAIN).open`). */
  baseUrl: string;
  fetch: typeof fetch;
  tokens: TokenSource;
  limiter: DownloadRateLimiter;
  log: Logger;
  headersTimeoutMs?: number;
}

export class MessageResourceClient {
  readonly #o: MessageResourceOptions;

  constructor(opts: MessageResourceOptions) {
    this.#o = opts;
  }

  /** Resolves once Feishu answered 200; rejects with a `FeishuApiError` otherwise. */
  async open(req: ResourceRequest): Promise<ResourceStream> {
    let type: string = req.type;
    let tokenRetries = 0;
    for (;;) {
      await this.#o.limiter.acquire(MAX_LIMITER_WAIT_MS, req.signal);
      const token = await this.#o.tokens.get();
      const res = await this.#fetch(req, type, token);
      if (res.status < 400) {
        return {
          body: res.body ?? emptyStream(),
          contentType: res.headers.get("content-type") ?? undefined,
          // fetch undoes a Content-Encoding, after which Feishu's length no longer counts our bytes.
          contentLength: res.headers.get("content-encoding")
            ? undefined
            : lengthOf(res.headers.get("content-length")),
          fileName: fileNameFromDisposition(res.headers.get("content-disposition")),
          type,
        };
      }
      if (res.status === 502 && type === "file") {
        await res.body?.cancel().catch(() => {});
        this.#o.log.info("feishu_resource_retry_as_media", { messageId: req.messageId });
        type = "media";
        continue;
      }
      const error = await errorOf(res);
      if (isInvalidTokenAnswer(res.status, typeof error.code === "number" ? error.code : undefined)) {
        this.#o.tokens.invalidate(token);
        this.#o.log.warn("feishu_token_rejected", { ...error.toLog(), retry: tokenRetries + 1 });
        if (tokenRetries++ < MAX_TOKEN_RETRIES) continue;
      }
      throw error;
    }
  }

  async #fetch(req: ResourceRequest, type: string, token: string): Promise<Response> {
    const path = `/open-apis/im/v1/messages/${encodeURIComponent(req.messageId)}/resources/${encodeURIComponent(req.fileKey)}`;
    const url = `${this.#o.baseUrl}${path}?type=${encodeURIComponent(type)}`;
    // The timer covers the wait for the answer's headers only: a 30 MiB body on a slow link may
    // take longer, and the caller's signal (the client went away) still cuts it.
    const headersTimeout = new AbortController();
    const timer = setTimeout(
      () => headersTimeout.abort(new DOMException("no answer in time", "TimeoutError")),
      this.#o.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
    );
    const signal = req.signal ? AbortSignal.any([headersTimeout.signal, req.signal]) : headersTimeout.signal;
    try {
      return await this.#o.fetch(url, { headers: { authorization: `Bearer ${token}` }, signal });
    } catch (err) {
      const timedOut = headersTimeout.signal.aborted;
      throw new FeishuApiError({
        kind: timedOut ? "timeout" : "network",
        code: timedOut ? "feishu_timeout" : "feishu_network_error",
        msg: timedOut ? "no answer in time" : String((err as Error)?.message ?? err).slice(0, 200),
        status: 0,
        retryable: true,
        api: API,
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The error a non-2xx answer becomes: Feishu's `{code,msg}` when the body has one. */
async function errorOf(res: Response): Promise<FeishuApiError> {
  const text = await res.text().catch(() => "");
  let body: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      body = parsed as Record<string, unknown>;
  } catch {}
  const code = typeof body?.code === "number" ? body.code : undefined;
  const logId = res.headers.get("x-tt-logid") ?? undefined;
  return new FeishuApiError({
    kind: code === undefined ? "http" : "api",
    code: code ?? `feishu_http_${res.status}`,
    msg: typeof body?.msg === "string" ? body.msg : `HTTP ${res.status}`,
    status: res.status,
    logId,
    retryable: isRetryable(res.status, code),
    retryAfterMs: retryAfterFrom(res.headers),
    api: API,
  });
}

function lengthOf(raw: string | null): number | undefined {
  if (raw === null || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw.trim());
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}
