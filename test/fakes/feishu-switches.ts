/** Failure injection, delays and rate limiters that tests flip on the fake (reference §5.4). */
import { feishuError, type Reply } from "./feishu-common.ts";

export type Failure =
  /** 99991663; status defaults to the fake's auth error status (400). */
  | { kind: "invalid_token"; status?: number }
  /** Platform throttle: HTTP 429 + 99991400 + `x-ogw-ratelimit-*` headers. */
  | { kind: "rate_limit"; resetSec?: number; limit?: number; status?: number }
  /** Per-chat / per-user limit: HTTP 400 + 230020. */
  | { kind: "chat_rate_limit" }
  /** 5xx; `body` replaces the JSON body with raw text (e.g. a proxy's HTML page). */
  | { kind: "server_error"; status?: 500 | 502 | 503 | 504; body?: string }
  /** Any Feishu error code, e.g. 230002 (bot not in chat). */
  | { kind: "code"; code: number; status?: number; msg?: string };

/** "send" = the send and reply endpoints only; "all" = every request the fake serves. */
export type SwitchScope = "send" | "all";

interface Queued<T> {
  remaining: number;
  value: T;
  scope: SwitchScope;
}

export function rateLimitReply(resetSec: number, limit: number, status = 429): Reply {
  return feishuError(status, 99991400, "request trigger frequency limit", {
    headers: {
      "x-ogw-ratelimit-limit": String(limit),
      "x-ogw-ratelimit-reset": String(resetSec),
    },
  });
}

export function chatRateLimitReply(): Reply {
  return feishuError(400, 230020, "This operation triggers the frequency limit.");
}

export function failureReply(failure: Failure, authErrorStatus: number): Reply {
  switch (failure.kind) {
    case "invalid_token":
      return feishuError(
        failure.status ?? authErrorStatus,
        99991663,
        "Invalid access token for authorization. Please make a request with token attached.",
      );
    case "rate_limit":
      return rateLimitReply(failure.resetSec ?? 1, failure.limit ?? 50, failure.status ?? 429);
    case "chat_rate_limit":
      return chatRateLimitReply();
    case "server_error": {
      const status = failure.status ?? 500;
      if (failure.body !== undefined) return { status, body: failure.body };
      return feishuError(status, 2200, "Internal Error");
    }
    case "code":
      return feishuError(failure.status ?? 400, failure.code, failure.msg ?? `fake error ${failure.code}`);
  }
}

/** FIFO queues of "the next N calls" switches; each call consumes from the first matching entry. */
export class Switches {
  private failures: Queued<Failure>[] = [];
  private delays: Queued<number>[] = [];
  /** A delay applied to every call, on top of queued ones. */
  constantDelay: { ms: number; scope: SwitchScope } = { ms: 0, scope: "send" };

  failNext(n: number, failure: Failure, scope: SwitchScope = "send"): void {
    if (n > 0) this.failures.push({ remaining: n, value: failure, scope });
  }

  delayNext(ms: number, n: number, scope: SwitchScope = "send"): void {
    if (n > 0) this.delays.push({ remaining: n, value: ms, scope });
  }

  takeFailure(isSend: boolean): Failure | undefined {
    return take(this.failures, isSend);
  }

  /** Total delay for this call: the constant delay plus the next queued one. */
  takeDelay(isSend: boolean): number {
    const queued = take(this.delays, isSend) ?? 0;
    const constant = applies(this.constantDelay.scope, isSend) ? this.constantDelay.ms : 0;
    return queued + constant;
  }

  pendingFailures(): number {
    return this.failures.reduce((sum, q) => sum + q.remaining, 0);
  }

  clear(): void {
    this.failures = [];
    this.delays = [];
    this.constantDelay = { ms: 0, scope: "send" };
  }
}

function applies(scope: SwitchScope, isSend: boolean): boolean {
  return scope === "all" || isSend;
}

function take<T>(queue: Queued<T>[], isSend: boolean): T | undefined {
  const index = queue.findIndex((q) => applies(q.scope, isSend));
  if (index < 0) return undefined;
  const entry = queue[index];
  entry.remaining--;
  if (entry.remaining <= 0) queue.splice(index, 1);
  return entry.value;
}

/**
 * Sliding-window counter: at most `limit` hits per key within `windowMs`. `hit` answers 0 when the hit is
 * allowed (and counts it) or the milliseconds until a slot frees up.
 */
export class SlidingWindowLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    public limit: number,
    private readonly windowMs = 1000,
  ) {}

  hit(key: string, now: number): number {
    const list = (this.hits.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length >= this.limit) {
      this.hits.set(key, list);
      return list[0] + this.windowMs - now;
    }
    list.push(now);
    this.hits.set(key, list);
    return 0;
  }

  clear(): void {
    this.hits.clear();
  }
}
