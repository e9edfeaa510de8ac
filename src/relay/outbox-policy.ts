/**
 * The outbox's pure decisions: when to retry a failed send, what `rate_limited` suggests, and how a
 * thrown error reads as a failure.
 */

/** What a Feishu send failure tells us; the Feishu client's error type satisfies it. */
export interface SendFailure {
  code: string | number;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
}

export const BASE_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 60_000;
/** What `rate_limited` suggests when the user's sends are moving (a slot frees as one goes out). */
const RATE_LIMITED_RETRY_MS = 1000;

/**
 * When to try again after `attempts` earlier failed attempts: 1 s doubling to 60 s, jittered down
 * by up to half, and never before the time Feishu asked us to wait (`retryAfterMs`).
 */
export function retryDelayMs(
  attempts: number,
  retryAfterMs: number | undefined,
  random: () => number,
): number {
  const backoff = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** attempts) * (0.5 + random() / 2);
  return Math.max(backoff, retryAfterMs ?? 0);
}

/**
 * `retryAfterMs` for a refused send: when the user's next scheduled retry is due (an outage), else
 * a second (the user's sends are moving, and a place frees up as soon as one goes out); at most
 * the longest back-off.
 */
export function rateLimitedRetryMs(nextRetryAt: number | undefined, now: number): number {
  const untilRetry = nextRetryAt === undefined ? 0 : nextRetryAt - now;
  return Math.min(MAX_BACKOFF_MS, Math.max(RATE_LIMITED_RETRY_MS, untilRetry));
}

/** Reads a thrown error as a failure; the Feishu client's errors carry everything we need. */
export function asFailure(err: unknown): SendFailure {
  const e = err as Partial<SendFailure> & { status?: number; name?: string };
  if (e && typeof e === "object" && "retryable" in e && typeof e.retryable === "boolean") {
    return {
      // Feishu's numeric codes become snake_case-safe strings: 230002 → feishu_230002.
      code: typeof e.code === "number" ? `feishu_${e.code}` : (e.code ?? "send_failed"),
      message: String(e.message ?? "send failed"),
      retryable: e.retryable,
      retryAfterMs: e.retryAfterMs,
    };
  }
  // Anything else (network errors, bugs) is treated as transient: the deadline bounds it.
  return { code: "send_failed", message: String((err as Error)?.message ?? err), retryable: true };
}
