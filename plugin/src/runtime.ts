/**
 * The host runtime handed to `register(api)`. Kept in a module-level slot, like the official
 * Feishu and WeCom plugins do, because `gateway.startAccount` may run on hosts that do not pass
 * `ctx.channelRuntime` (before Plugin SDK 2026.2.19).
 */
import type { ChannelRuntimeLike } from "./inbound.ts";
import type { LoadMedia } from "./payload-send.ts";

export interface PluginRuntimeLike {
  version?: string;
  channel?: ChannelRuntimeLike;
  /** PluginRuntimeCore.media: OpenClaw's loader for local paths and URLs. */
  media?: { loadWebMedia?: LoadMedia };
}

let stored: PluginRuntimeLike | undefined;

export function setPluginRuntime(runtime: unknown): void {
  if (runtime && typeof runtime === "object") stored = runtime as PluginRuntimeLike;
}

export function getPluginRuntime(): PluginRuntimeLike | undefined {
  return stored;
}

/** Prefers the runtime passed with the gateway context when it is the full channel runtime. */
export function channelRuntimeFor(ctxRuntime: unknown): ChannelRuntimeLike | undefined {
  const fromCtx = ctxRuntime as ChannelRuntimeLike | undefined;
  if (
    fromCtx &&
    typeof fromCtx === "object" &&
    (fromCtx.inbound?.buildContext || fromCtx.reply?.finalizeInboundContext)
  )
    return fromCtx;
  return stored?.channel;
}
