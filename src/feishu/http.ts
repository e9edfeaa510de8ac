/**
 * One JSON request to Feishu, answered as a parsed body or a `FeishuApiError`. Shared by the token
 * manager and the REST client so both read answers, log ids and failures the same way.
 *
 * Connection reuse: Bun's fetch keeps connections alive and pools them per origin. We never send
 * `Connection: close` and always read the body to the end (also on errors), which is what lets a
 * socket go back to the pool instead of a new TCP (and TLS) handshake per call.
 */
import { FeishuApiError, isRetryable, retryAfterFrom } from "./api-error.ts";
import type { MultipartBody } from "./multipart.ts";

export interface JsonCall {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  /** Serialised as JSON with `Content-Type: application/json; charset=utf-8`. */
  body?: unknown;
  /** Sent instead of `body` (uploads): a streamed `multipart/form-data` body. */
  multipart?: MultipartBody;
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Short API name for errors and metrics. */
  api: string;
  signal?: AbortSignal;
}

export interface JsonAnswer {
  status: number;
  /** Feishu's `code` (0 on success); undefined when the body had none. */
  code: number | undefined;
  body: Record<string, unknown>;
  headers: Headers;
  logId: string | undefined;
}

export async function callJson(fetchFn: typeof fetch, call: JsonCall): Promise<JsonAnswer> {
  const headers: Record<string, string> = { accept: "application/json", ...call.headers };
  if (call.multipart) {
    headers["content-type"] = call.multipart.contentType;
    // With an explicit length Bun streams the body as is, instead of chunking it.
    headers["content-length"] = String(call.multipart.contentLength);
  } else if (call.body !== undefined) headers["content-type"] = "application/json; charset=utf-8";
  const timeout = AbortSignal.timeout(call.timeoutMs);
  const signal = call.signal ? AbortSignal.any([timeout, call.signal]) : timeout;
  let res: Response;
  let text: string;
  try {
    res = await fetchFn(call.url, {
      method: call.method,
      headers,
      body: call.multipart?.body ?? (call.body === undefined ? undefined : JSON.stringify(call.body)),
      signal,
    });
    text = await res.text();
  } catch (err) {
    throw transportError(err, call.api, timeout.aborted);
  }
  const body = parseObject(text);
  const code = typeof body?.code === "number" ? body.code : undefined;
  const logId = logIdOf(body, res.headers);
  if (!body) {
    // A proxy's HTML error page or an empty 200: nothing from Feishu to go on but the status.
    throw new FeishuApiError({
      kind: "http",
      code: `feishu_http_${res.status}`,
      msg: res.ok ? "answer is not a JSON object" : `HTTP ${res.status}`,
      status: res.status,
      logId,
      retryable: res.ok || isRetryable(res.status, undefined),
      retryAfterMs: retryAfterFrom(res.headers),
      api: call.api,
    });
  }
  return { status: res.status, code, body, headers: res.headers, logId };
}

/** The error a non-zero Feishu answer becomes. */
export function answerError(answer: JsonAnswer, api: string): FeishuApiError {
  const code = answer.code ?? `feishu_http_${answer.status}`;
  const msg = typeof answer.body.msg === "string" ? answer.body.msg : `HTTP ${answer.status}`;
  return new FeishuApiError({
    kind: "api",
    code,
    msg,
    status: answer.status,
    logId: answer.logId,
    retryable: isRetryable(answer.status, answer.code),
    retryAfterMs: retryAfterFrom(answer.headers),
    api,
  });
}

function transportError(err: unknown, api: string, timedOut: boolean): FeishuApiError {
  const e = err as { name?: string; message?: string };
  if (timedOut || e?.name === "TimeoutError") {
    return new FeishuApiError({
      kind: "timeout",
      code: "feishu_timeout",
      msg: "no answer in time",
      status: 0,
      retryable: true,
      api,
    });
  }
  // Aborted by the caller (shutdown): still transient, the outbox keeps the send.
  return new FeishuApiError({
    kind: "network",
    code: "feishu_network_error",
    msg: String(e?.message ?? err).slice(0, 200),
    status: 0,
    retryable: true,
    api,
  });
}

function parseObject(text: string): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function logIdOf(body: Record<string, unknown> | undefined, headers: Headers): string | undefined {
  const error = body?.error as { log_id?: unknown } | undefined;
  if (error && typeof error.log_id === "string" && error.log_id) return error.log_id;
  return headers.get("x-tt-logid") ?? undefined;
}
