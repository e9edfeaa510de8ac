/**
 * Feishu event ingest as one feature module for `FEATURES` (server.ts): the webhook route, and the
 * long connection when FEISHU_EVENT_MODE asks for it. Both feed one `EventIngest`.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { type ChatPost, ingestGroups } from "../groups/ingest-groups.ts";
import { rawRoutesOf, withRawRoutes } from "../ops/raw-route.ts";
import { type BotIdentity, EventIngest } from "./event-ingest.ts";
import { type DirectMessage, ingestNotices, type TextReply } from "./ingest-notices.ts";
import { type LongConnection, startLongConnection } from "./long-connection.ts";
import { feishuWebhookRoutes } from "./webhook-route.ts";

/** What ingest needs from the Feishu REST side (bot info and replies). */
export interface IngestPorts {
  bot: BotIdentity;
  /** Read per notice, so a sender that appears later is picked up; undefined sends nothing. */
  reply: () => TextReply | undefined;
  /** As `reply`, for direct messages to a user (the "queued messages were dropped" notice). */
  dm?: () => DirectMessage | undefined;
  /** M2-4: a message into a group (the bot-added notice); absent: never posted. */
  post?: () => ChatPost | undefined;
}

export function createEventIngest(ctx: RelayContext, ports: IngestPorts): EventIngest {
  const { users } = ctx;
  const log = ctx.log.child({ module: "feishu_ingest" });
  return new EventIngest({
    inbox: ctx.inbox,
    userByOpenId: (openId) => users.identity(openId),
    userOpenId: async (userId) => (await users.byId(userId))?.openId,
    bot: ports.bot,
    notices: ingestNotices({
      ...ctx,
      publicUrl: ctx.config.PUBLIC_URL,
      log,
      reply: ports.reply,
      ...(ports.dm ? { dm: ports.dm } : {}),
    }),
    log,
    metrics: ctx.metrics,
    publicUrl: ctx.config.PUBLIC_URL,
    groups: ingestGroups({
      now: ctx.now,
      log,
      bindings: ctx.bindings,
      chatInfo: ctx.chatInfo,
      ownerName: async (userId) => (await users.byId(userId))?.name || `#${userId}`,
      reply: ports.reply,
      post: ports.post ?? (() => undefined),
    }),
  });
}

export function feishuIngestFeature(ctx: RelayContext, ports: IngestPorts = contextPorts(ctx)) {
  const ingest = createEventIngest(ctx, ports);
  let ws: LongConnection | undefined;
  ctx.onShutdown("intake", "feishu-long-connection", () => ws?.stop());
  const feature = new Elysia({ name: "feishu-ingest" })
    // The long connection starts with the server (`listen()`), not when the app is merely built.
    .onStart(() => {
      ws ??= startLongConnection({ ...ctx, ingest });
    });
  // In `ws` mode nobody should push over HTTP: no route means no way to inject events there.
  if (ctx.config.FEISHU_EVENT_MODE === "ws") return feature;
  const webhook = feishuWebhookRoutes(ctx, ingest);
  return withRawRoutes(feature.use(webhook), rawRoutesOf(webhook));
}

/** Bot identity and replies through the Feishu REST side (`ctx.feishu`), looked up at call time. */
function contextPorts(ctx: RelayContext): IngestPorts {
  return {
    bot: {
      openId: () =>
        ctx.feishu
          ? ctx.feishu.directory.botOpenId()
          : Promise.reject(new Error("no Feishu app is configured")),
    },
    reply: () => {
      const feishu = ctx.feishu;
      // One notice per message at most, even if the send is retried: Feishu dedupes on the uuid for 1 h.
      return (
        feishu && ((messageId, text) => feishu.sender.reply({ messageId, text, uuid: `notice-${messageId}` }))
      );
    },
    dm: () => {
      const feishu = ctx.feishu;
      return (
        feishu &&
        ((openId, text, uuid) =>
          feishu.sender.send({ receiveIdType: "open_id", receiveId: openId, text, uuid }))
      );
    },
    post: () => {
      const feishu = ctx.feishu;
      return (
        feishu &&
        ((chatId, text, uuid) =>
          feishu.sender.send({ receiveIdType: "chat_id", receiveId: chatId, text, uuid }))
      );
    },
  };
}
