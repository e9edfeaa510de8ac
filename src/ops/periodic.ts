/**
 * A background pass on a timer (inbox pruning, the revocation sweep): the timer never keeps the
 * process alive and stops on shutdown. `runOnce` is the pass itself, for tests and first runs.
 */
import type { RelayContext } from "../context.ts";

export interface Periodic<T> {
  runOnce(): T;
  stop(): void;
}

export function startPeriodic<T>(
  ctx: Pick<RelayContext, "onShutdown">,
  intervalMs: number,
  pass: () => T,
): Periodic<T> {
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  const stop = () => clearInterval(timer);
  ctx.onShutdown("work", "periodic", stop);
  return { runOnce: pass, stop };
}
