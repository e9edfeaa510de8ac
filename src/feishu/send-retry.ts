/**
 * One Feishu send under the rate limits and the retry policy (feishu-reference.md §5.4):
 * - 429 / 99991400: the whole app pauses for `x-ogw-ratelimit-reset` seconds, then retries;
 * - 230020: that chat backs off (1 s, doubling), then retries;
 * - 5xx, network errors, timeouts: jittered exponential back-off, bounded in attempts and time;
 * - anything else is permanent and thrown at once with Feishu's code.
 * Retries are safe because every send carries a uuid: Feishu posts a uuid at most once per hour.
 *
 * Mode "once" is for a caller with its own durable retry (the outbox): one attempt, limiter state
 * still updated, and the error carries `retryAfterMs` for when to come back.
 */
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import { FeishuApiError, isChatRateLimit, isRateLimit } from "./api-error.ts";
import { type CallPriority, type SendRateLimiter, untilAborted } from "./rate-limiter.ts";

export type RetryMode = "in-process" | "once";

export interface RetryPolicy {
  /** Attempts in all for transient failures (5xx, network, timeouts). */
  maxAttempts: number;
  /** Rate-limit answers (429, 230020) tolerated before giving up. */
  maxRateLimited: number;
  /** No retry is started that would begin later than this after the first attempt. */
  maxTotalMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 4,
  maxRateLimited: 8,
  maxTotalMs: 30_000,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
};

/** When Feishu throttles without saying for how long. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 1000;

export interface SendRetryDeps {
  limiter: SendRateLimiter;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  log: Logger;
  metrics: Registry;
  policy: RetryPolicy;
}

/** "Equal jitter": half the exponential delay fixed, half random, so retries spread but never bunch at 0. */
export function backoffDelay(failures: number, random: () => number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Runs `attempt` for the chat/receiver `key` until it succeeds, fails permanently or the policy
 * says stop. An aborted `signal` (shutdown) ends any wait at once with a retryable error. `owner`
 * (the relay's user) gets its fair share of the app-wide budget (rate-limiter.ts).
 */
export async function sendWithRetries<T>(
  key: string,
  attempt: () => Promise<T>,
  mode: RetryMode,
  deps: SendRetryDeps,
  signal?: AbortSignal,
  owner?: string,
  priority: CallPriority = "final",
): Promise<T> {
  const sends = deps.metrics.counter("feishu_sends_total", "Feishu send/reply calls by outcome and code.");
  const waits = deps.metrics.counter(
    "feishu_rate_limit_waits_total",
    "Waits for Feishu rate limits by kind.",
  );
  const started = deps.now();
  let failures = 0;
  let rateLimited = 0;
  const wait = async (p: Promise<void>) => {
    try {
      await untilAborted(p, signal);
    } catch (err) {
      throw signal?.aborted ? abortedError() : err;
    }
  };
  for (;;) {
    await wait(deps.limiter.acquire(key, { signal, owner, priority }));
    let error: FeishuApiError;
    try {
      const result = await attempt();
      deps.limiter.chatSucceeded(key);
      sends.inc({ outcome: "ok", code: 0 });
      return result;
    } catch (err) {
      if (!(err instanceof FeishuApiError)) throw err;
      error = err;
    }
    let delay: number;
    let sleepHere = false;
    if (isRateLimit(error)) {
      delay = error.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS;
      deps.limiter.pauseApp(delay, "message", priority);
      waits.inc({ kind: "app_throttled" });
      rateLimited++;
    } else if (isChatRateLimit(error)) {
      delay = deps.limiter.backOffChat(key, priority);
      waits.inc({ kind: "chat_throttled" });
      rateLimited++;
    } else if (error.retryable) {
      failures++;
      delay = backoffDelay(failures, deps.random, deps.policy);
      sleepHere = true;
    } else {
      sends.inc({ outcome: "failed", code: error.code });
      throw error;
    }
    const giveUp =
      mode === "once" ||
      failures >= deps.policy.maxAttempts ||
      rateLimited > deps.policy.maxRateLimited ||
      deps.now() + delay - started > deps.policy.maxTotalMs;
    if (giveUp) {
      sends.inc({ outcome: "failed", code: error.code });
      // A throttled caller learns when the limit lifts; transient errors leave timing to the caller.
      throw sleepHere || error.retryAfterMs === delay ? error : withRetryAfter(error, delay);
    }
    sends.inc({ outcome: "retried", code: error.code });
    deps.log.warn("feishu_send_retry", { ...error.toLog(), failures, rateLimited, waitMs: delay });
    // Rate-limit pauses live in the limiter, so other sends to that chat/app wait for them too.
    if (sleepHere) await wait(deps.sleep(delay, signal));
  }
}

function abortedError(): FeishuApiError {
  return new FeishuApiError({
    kind: "network",
    code: "feishu_aborted",
    msg: "the send was cancelled (shutting down)",
    status: 0,
    retryable: true,
  });
}

function withRetryAfter(e: FeishuApiError, retryAfterMs: number): FeishuApiError {
  return new FeishuApiError({
    kind: e.kind,
    code: e.code,
    msg: e.msg,
    status: e.status,
    logId: e.logId,
    retryable: e.retryable,
    retryAfterMs,
    api: e.api,
  });
}
