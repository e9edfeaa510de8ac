/**
 * The Feishu side of the relay, built once per process: tenant token, REST client, rate-limited
 * sender and directory. Undefined when no app is configured (the relay then runs and says so in
 * /health).
 */
import type { FeishuHealth, RelayContext } from "../context.ts";
import { FeishuDirectory } from "./directory.ts";
import { feishuHosts } from "./domain.ts";
import { MediaUploader } from "./media-uploader.ts";
import { SendRateLimiter } from "./rate-limiter.ts";
import { ReactionClient } from "./reactions.ts";
import { FeishuRestClient } from "./rest-client.ts";
import type { RetryMode } from "./send-retry.ts";
import { FeishuSender } from "./sender.ts";
import { TenantTokenManager, tenantTokenLock } from "./tenant-token.ts";

export { FeishuApiError } from "./api-error.ts";
export type { BotInfo, FeishuUserInfo } from "./directory.ts";
export type { OutgoingMessage, OutgoingMsgType } from "./outgoing-content.ts";
export type { RetryMode } from "./send-retry.ts";
export type { CreateRequest, Destination, ReplyRequest, SendOptions } from "./sender.ts";

export interface Feishu {
  tokens: TenantTokenManager;
  client: FeishuRestClient;
  limiter: SendRateLimiter;
  sender: FeishuSender;
  /** M2-2: uploads media for sending (im/v1/images, im/v1/files). */
  uploader: MediaUploader;
  /** M2-3: reactions on messages (the typing indicator). */
  reactions: ReactionClient;
  directory: FeishuDirectory;
  /** "failing" while the app credentials are refused or no token can be had. */
  health(): Exclude<FeishuHealth, "unconfigured">;
  /** On shutdown: sends waiting for a rate limit or back-off stop waiting (and stay retryable). */
  close(): void;
}

export interface FeishuDeps {
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Default for sends that do not say (default "in-process"). */
  defaultRetry?: RetryMode;
}

export function createFeishu(
  ctx: Pick<RelayContext, "config" | "log" | "metrics" | "now" | "fetch" | "kv" | "storage">,
  deps: FeishuDeps = {},
): Feishu | undefined {
  const { FEISHU_APP_ID: appId, FEISHU_APP_SECRET: appSecret } = ctx.config;
  if (!appId || !appSecret) return undefined;
  const log = ctx.log.child({ module: "feishu" });
  const baseUrl = feishuHosts(ctx.config.FEISHU_DOMAIN).open;
  const common = { log, metrics: ctx.metrics, now: ctx.now };
  const tokens = new TenantTokenManager({
    ...common,
    appId,
    appSecret,
    baseUrl,
    fetch: ctx.fetch,
    kv: ctx.kv,
    ...(ctx.storage.dialect === "postgres" ? { lock: tenantTokenLock(ctx.storage.db) } : {}),
  });
  const client = new FeishuRestClient({ ...common, baseUrl, fetch: ctx.fetch, tokens });
  const waits = ctx.metrics.counter("feishu_rate_limit_waits_total", "Waits for Feishu rate limits by kind.");
  const throttled = ctx.metrics.counter(
    "feishu_throttled_total",
    "Feishu calls held back, by kind and priority: a wait for the budget, or a 429 from Feishu.",
  );
  const limiter = new SendRateLimiter({
    appPerSecond: ctx.config.FEISHU_RATE_APP,
    chatPerSecond: ctx.config.FEISHU_RATE_CHAT,
    now: ctx.now,
    sleep: deps.sleep,
    onWait: (reason) => waits.inc({ kind: reason }),
    onThrottled: (call) => throttled.inc({ kind: call.kind, priority: call.priority }),
    // Cluster mode: Feishu's app-wide and per-chat limits hold for all nodes together.
    shared:
      ctx.storage.dialect === "postgres"
        ? new ctx.storage.adapters.PostgresSharedBudget(ctx.storage.db)
        : undefined,
    onSharedError: (err) => log.warn("feishu_shared_budget_failed", { err: err as Error }),
  });
  const sender = new FeishuSender({
    ...common,
    client,
    limiter,
    sleep: deps.sleep,
    random: deps.random,
    defaultRetry: deps.defaultRetry,
  });
  const directory = new FeishuDirectory(client, { now: ctx.now });
  return {
    tokens,
    client,
    limiter,
    sender,
    uploader: new MediaUploader(client, limiter),
    reactions: new ReactionClient(client, limiter),
    directory,
    health: () => tokens.health(),
    close: () => sender.close(),
  };
}
