/**
 * The Feishu client modules wired by hand against the fake on 127.0.0.1, with the real global fetch,
 * an in-memory log and registry, and (optionally) virtual time for waits and back-off.
 */
import { FeishuApiError } from "../../src/feishu/api-error.ts";
import { FeishuDirectory } from "../../src/feishu/directory.ts";
import { SendRateLimiter } from "../../src/feishu/rate-limiter.ts";
import { FeishuRestClient } from "../../src/feishu/rest-client.ts";
import type { RetryPolicy } from "../../src/feishu/send-retry.ts";
import { FeishuSender } from "../../src/feishu/sender.ts";
import { TenantTokenManager, type TenantTokenOptions, type TokenKv } from "../../src/feishu/tenant-token.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import type { FakeFeishu } from "../fakes/feishu.ts";

export interface StackOptions {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  kv?: TokenKv;
  appSecret?: string;
  appPerSecond?: number;
  chatPerSecond?: number;
  cardPerSecond?: number;
  timeoutMs?: number;
  policy?: Partial<RetryPolicy>;
  tokenOptions?: Partial<TenantTokenOptions>;
}

export function clientStack(fake: FakeFeishu, opts: StackOptions = {}) {
  const { log, lines } = memoryLogger();
  const metrics = new Registry();
  const now = opts.now ?? Date.now;
  const tokens = new TenantTokenManager({
    appId: fake.appId,
    appSecret: opts.appSecret ?? fake.appSecret,
    baseUrl: fake.url,
    fetch,
    log,
    metrics,
    kv: opts.kv,
    now,
    ...opts.tokenOptions,
  });
  const client = new FeishuRestClient({
    baseUrl: fake.url,
    fetch,
    tokens,
    log,
    metrics,
    now,
    timeoutMs: opts.timeoutMs,
  });
  const limiter = new SendRateLimiter({
    appPerSecond: opts.appPerSecond ?? 50,
    chatPerSecond: opts.chatPerSecond ?? 5,
    cardPerSecond: opts.cardPerSecond,
    now,
    sleep: opts.sleep,
  });
  const sender = new FeishuSender({
    client,
    limiter,
    log,
    metrics,
    now,
    sleep: opts.sleep,
    random: () => 0.5,
    policy: opts.policy,
  });
  const directory = new FeishuDirectory(client, { now });
  /** Calls the fake served for the send and reply endpoints. */
  const sendCalls = () => fake.calls.filter((c) => c.path.startsWith("/open-apis/im/v1/messages"));
  return { tokens, client, limiter, sender, directory, log, lines, metrics, sendCalls };
}

/** The FeishuApiError a call rejects with (anything else, or no rejection, fails the test). */
export async function failure(p: Promise<unknown>): Promise<FeishuApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof FeishuApiError) return err;
    throw err;
  }
  throw new Error("expected a FeishuApiError");
}
