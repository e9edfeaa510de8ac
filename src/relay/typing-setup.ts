/**
 * Builds the typing indicator for the composition root: config, the sweep timer, the start-up
 * cleanup of leftovers (also when FEISHU_TYPING is now off: they were added while it was on) and
 * the shutdown hook.
 */
import type { RelayContext } from "../context.ts";
import { startPeriodic } from "../ops/periodic.ts";
import { type ReactionPort, TypingIndicator } from "./typing.ts";

/** The sweep runs this often, and at least twice per timeout. */
const SWEEP_MAX_INTERVAL_MS = 30_000;

export function startTyping(ctx: RelayContext, reactions: ReactionPort): TypingIndicator {
  const timeoutMs = ctx.config.FEISHU_TYPING_TIMEOUT * 1000;
  const typing = new TypingIndicator({
    db: ctx.db.$client,
    reactions,
    enabled: ctx.config.FEISHU_TYPING,
    timeoutMs,
    now: ctx.now,
    log: ctx.log.child({ module: "typing" }),
    metrics: ctx.metrics,
  });
  typing.cleanUpLeftovers();
  startPeriodic(ctx, Math.max(1000, Math.min(SWEEP_MAX_INTERVAL_MS, timeoutMs / 2)), () => typing.sweep());
  ctx.onShutdown("work", "typing", () => typing.stop());
  return typing;
}
