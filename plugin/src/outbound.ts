/**
 * Proactive sends (`openclaw message send`, the agent's message tool, cron): `outbound.sendText`
 * and `outbound.sendMedia`.
 *
 * `deliveryMode: "gateway"` makes every caller route through the gateway process, which is the
 * only process holding the relay connection; a CLI process would have no socket to send on.
 */
import { randomUUID } from "node:crypto";
import { CHANNEL_ID, DEFAULT_ACCOUNT_ID } from "./config.ts";
import type { EventLog } from "./log.ts";
import { type LoadMedia, type MediaAccessLike, type RelayLink, sendPayload } from "./payload-send.ts";
import { normalizeTarget } from "./targets.ts";

/** The live relay links of this plugin instance, by account id (one in practice). */
export type ClientRegistry = Map<string, RelayLink & { readonly log?: EventLog }>;

/** The fields of OpenClaw's ChannelOutboundContext we read. */
export interface OutboundContextLike extends MediaAccessLike {
  to: string;
  text?: string;
  mediaUrl?: string;
  forceDocument?: boolean;
  replyToId?: string | null;
  accountId?: string | null;
  signal?: AbortSignal;
  deliveryQueueId?: string;
  deliveryPartIndex?: number;
}

export interface OutboundResult {
  channel: string;
  messageId: string;
  timestamp: number;
  /** `queued`: uuids of pieces the relay accepted during a Feishu outage and delivers later. */
  meta: { messageIds: string[]; queued?: string[] };
}

function clientFor(registry: ClientRegistry, accountId: string | null | undefined) {
  const client =
    registry.get(accountId || DEFAULT_ACCOUNT_ID) ??
    (registry.size === 1 ? [...registry.values()][0] : undefined);
  if (!client) {
    throw new Error(
      "feishu-relay is not connected in this process: sends go through the running gateway (is the channel started?)",
    );
  }
  return client;
}

const quietLog: EventLog = { info() {}, warn() {}, error() {}, debug() {} };

/** Sends text and/or one media URL to `ctx.to`; resolves once the relay confirmed every part. */
export async function sendOutbound(
  registry: ClientRegistry,
  ctx: OutboundContextLike,
  load?: LoadMedia,
): Promise<OutboundResult> {
  const target = normalizeTarget(ctx.to);
  if (!target) throw new Error(`feishu-relay: unsupported target; use user:ou_… or chat:oc_…`);
  const client = clientFor(registry, ctx.accountId);
  const text = ctx.text ?? "";
  const urls = ctx.mediaUrl?.trim() ? [ctx.mediaUrl.trim()] : [];
  if (!text.trim() && urls.length === 0)
    throw new Error("feishu-relay: nothing to send (empty text, no media)");
  // Replying to a known Feishu message keeps the answer in its thread; the relay only allows ids
  // it delivered to us, which is what OpenClaw passes here.
  const replyTo = ctx.replyToId?.startsWith("om_") ? ctx.replyToId : undefined;
  // OpenClaw's delivery queue id is stable across its retries, so it makes a good idempotency key.
  const uuidBase = ctx.deliveryQueueId
    ? ["q", ctx.deliveryQueueId, ctx.deliveryPartIndex ?? 0]
    : [randomUUID()];
  const answers = await sendPayload({
    link: client,
    load,
    target: replyTo ? { replyTo } : { to: target },
    text,
    urls,
    uuidBase,
    access: ctx,
    forceDocument: ctx.forceDocument,
    signal: ctx.signal,
    log: client.log ?? quietLog,
  });
  const ids: string[] = [];
  const queued: string[] = [];
  for (const sent of answers) {
    // Queued: the relay owns the piece durably now; it has no Feishu id yet.
    if (sent.type === "queued") queued.push(sent.uuid);
    else ids.push(...(sent.messageIds?.length ? sent.messageIds : [sent.messageId]));
  }
  return {
    channel: CHANNEL_ID,
    messageId: ids[ids.length - 1] ?? "",
    timestamp: Date.now(),
    meta: { messageIds: ids, ...(queued.length ? { queued } : {}) },
  };
}
