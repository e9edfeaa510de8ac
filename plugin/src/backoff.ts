/**
 * Reconnect timing: capped exponential back-off with jitter, and an abortable sleep.
 *
 * Jitter matters because a relay restart (close 1012) drops every plugin at once; without it they
 * would all come back in the same millisecond. The cap stays under OpenClaw's 120 s "reconnect
 * grace" (channel-health-policy), so a long outage reads as "reconnecting", not "stuck".
 */

export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** Upper bound for any single delay. */
  maxMs: number;
  factor: number;
  /** Fraction of the delay randomised either way: 0.2 → ±20 %. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000, factor: 2, jitter: 0.2 };

/** Delay before retry number `attempt` (1-based). `random` returns [0, 1) like Math.random. */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exp = policy.initialMs * policy.factor ** Math.max(0, attempt - 1);
  const base = Math.min(policy.maxMs, exp);
  const spread = base * policy.jitter * (random() * 2 - 1);
  return Math.max(0, Math.min(policy.maxMs, Math.round(base + spread)));
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Resolves when `signal` aborts; used to stay pending after a terminal close. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
