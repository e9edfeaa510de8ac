/**
 * Builds the typing indicator for the composition root: config, the sweep timer, the start-up
 * cleanup of leftovers (also when FEISHU_TYPING is now off: they were added while it was on) and
 * the shutdown hook.
 */
import type { RelayContext } from "../context.ts";
import { startPeriodic } from "../ops/periodic.ts";
import { type ReactionPort, TypingIndicator } from "./typing.ts";
import { createTypingStore } from "./typing-store.ts";

/** The sweep runs this often, and at least twice per timeout. */
const SWEEP_MAX_INTERVAL_MS = 30_000;

export function startTyping(ctx: RelayContext, reactions: ReactionPort): TypingIndicator {
  const timeoutMs = ctx.config.FEISHU_TYPING_TIMEOUT * 1000;
  const log = ctx.log.child({ module: "typing" });
  const typing = new TypingIndicator({
    store: createTypingStore(ctx.storage, (err) => log.warn("typing_write_failed", { err: err as Error })),
    reactions,
    enabled: ctx.config.FEISHU_TYPING,
    timeoutMs,
    now: ctx.now,
    log,
    metrics: ctx.metrics,
  });
  typing.cleanUpLeftovers().catch((err) => log.error("typing_cleanup_failed", { err: err as Error }));
  startPeriodic(ctx, Math.max(1000, Math.min(SWEEP_MAX_INTERVAL_MS, timeoutMs / 2)), () =>
    typing.sweep().catch((err) => log.error("typing_sweep_failed", { err: err as Error })),
  );
  ctx.onShutdown("work", "typing", () => typing.stop());
  return typing;
}
