/**
 * Builds the stream manager for one relay process: CardKit over the shared REST client and rate
 * limiter, the start-up close of streams a previous process left open, the idle sweep, and the stop
 * on shutdown (registered before the outbox's hooks, so it runs after the outbox drained its finals
 * and before the database closes).
 */
import type { RelayContext } from "../context.ts";
import { CardKit } from "../feishu/cardkit.ts";
import type { Feishu } from "../feishu/index.ts";
import { createStreamStore } from "./stream-store.ts";
import { type StreamFeishu, StreamManager, type StreamManagerOptions } from "./streams.ts";

/** Ended streams are forgotten after two days (a stream id is unique for at least a day). */
const PRUNE_AFTER_MS = 2 * 24 * 3600_000;

export type StreamExtras = Pick<StreamManagerOptions, "render" | "chunk" | "onCardSent" | "sleep">;

export function startStreams(ctx: RelayContext, feishu: Feishu | undefined, extras: StreamExtras = {}) {
  const side: StreamFeishu | undefined = feishu && {
    cards: new CardKit(feishu.client, feishu.limiter),
    deliver: (target, msg, opts) => feishu.sender.deliver(target, msg, opts),
  };
  const store = createStreamStore(ctx.storage);
  const streams = new StreamManager(store, {
    now: ctx.now,
    log: ctx.log.child({ module: "streams" }),
    metrics: ctx.metrics,
    feishu: () => side,
    targets: ctx.inbox,
    enabled: ctx.config.FEISHU_STREAMING,
    intervalMs: ctx.config.FEISHU_STREAM_INTERVAL_MS,
    idleMs: ctx.config.FEISHU_STREAM_IDLE * 1000,
    ...extras,
  });
  const log = ctx.log.child({ module: "streams" });
  if (side) streams.recover().catch((err) => log.error("streams_recover_failed", { err: err as Error }));
  // Idle streams are found within a tenth of the idle time (at most a minute late).
  const sweepMs = Math.min(60_000, Math.max(1000, (ctx.config.FEISHU_STREAM_IDLE * 1000) / 10));
  const failed = (err: unknown) => log.error("streams_sweep_failed", { err: err as Error });
  const timer = setInterval(() => {
    try {
      streams.closeIdle();
      streams.prune(ctx.now() - PRUNE_AFTER_MS).catch(failed);
      // Cluster: streams a dead node left open are closed by whichever node sweeps.
      if (side && store.shared) streams.recover().catch(failed);
    } catch (err) {
      failed(err);
    }
  }, sweepMs);
  timer.unref();
  ctx.onShutdown("work", "streams", async () => {
    clearInterval(timer);
    await streams.stop();
  });
  return streams;
}
