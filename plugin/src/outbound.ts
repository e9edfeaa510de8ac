/**
 * Proactive sends (`openclaw message send`, the agent's message tool, cron): `outbound.sendText`.
 *
 * `deliveryMode: "gateway"` makes every caller route through the gateway process, which is the
 * only process holding the relay connection; a CLI process would have no socket to send on.
 */
import { randomUUID } from "node:crypto";
import type { SendRequest } from "../../src/relay/protocol.ts";
import { CHANNEL_ID, DEFAULT_ACCOUNT_ID } from "./config.ts";
import type { SendAnswer, SendOptions } from "./pending-sends.ts";
import { payloadText, splitText, stableUuid } from "./reply-text.ts";
import { normalizeTarget } from "./targets.ts";

export interface RelaySender {
  send(req: SendRequest, opts?: SendOptions): Promise<SendAnswer>;
}

/** The live clients of this plugin instance, by account id (one in practice). */
export type ClientRegistry = Map<string, RelaySender>;

/** The fields of OpenClaw's ChannelOutboundContext we read. */
export interface OutboundContextLike {
  to: string;
  text?: string;
  mediaUrl?: string;
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

function clientFor(registry: ClientRegistry, accountId: string | null | undefined): RelaySender {
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

/** Sends text (and remote media links) to `ctx.to`; resolves once the relay confirmed every piece. */
export async function sendOutbound(
  registry: ClientRegistry,
  ctx: OutboundContextLike,
): Promise<OutboundResult> {
  const target = normalizeTarget(ctx.to);
  if (!target) throw new Error(`feishu-relay: unsupported target; use user:ou_… or chat:oc_…`);
  const client = clientFor(registry, ctx.accountId);
  const { text } = payloadText({ text: ctx.text, mediaUrl: ctx.mediaUrl });
  if (!text.trim())
    throw new Error("feishu-relay: nothing to send (empty text, and local media cannot be uploaded)");
  // Replying to a known Feishu message keeps the answer in its thread; the relay only allows ids
  // it delivered to us, which is what OpenClaw passes here.
  const replyTo = ctx.replyToId?.startsWith("om_") ? ctx.replyToId : undefined;
  // OpenClaw's delivery queue id is stable across its retries, so it makes a good idempotency key.
  const base = ctx.deliveryQueueId ? ["q", ctx.deliveryQueueId, ctx.deliveryPartIndex ?? 0] : [randomUUID()];
  const ids: string[] = [];
  const queued: string[] = [];
  for (const [i, piece] of splitText(text).entries()) {
    const sent = await client.send(
      {
        ...(replyTo ? { replyTo } : { to: target }),
        msgType: "markdown",
        text: piece,
        uuid: stableUuid(...base, i),
      },
      { signal: ctx.signal },
    );
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
