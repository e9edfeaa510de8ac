/**
 * Wires the plugin side of the relay: the hub of live connections, the durable outbox, the
 * `/openclaw` WebSocket, `POST /api/messages` and `GET /api/media/:id`.
 */
import type { FeatureModule } from "../app.ts";
import type { RelayContext } from "../context.ts";
import { mediaDownloadRoutes } from "../media/download-route.ts";
import { gatewayRoutes } from "./gateway.ts";
import type { Hub } from "./hub.ts";
import { messagesRoutes } from "./messages-route.ts";
import { type Admission, Outbox, type SendPort } from "./outbox.ts";
import { createOutboxStore } from "./outbox-store.ts";
import type { SendRequest } from "./protocol.ts";
import { type RevocationSweep, startRevocationSweep } from "./revocation-sweep.ts";
import type { SessionLog } from "./sessions.ts";
import type { StreamManager } from "./streams.ts";
import type { TypingHooks } from "./typing.ts";

export interface RelayCore {
  hub: Hub;
  outbox: Outbox;
  revocations: RevocationSweep;
  /** M2-3: the typing indicator, when Feishu is configured. */
  typing?: TypingHooks;
  features: FeatureModule[];
}

export interface RelayCoreDeps {
  /** The Feishu side; read at send time so a missing app configuration fails clearly. */
  sendPort: () => SendPort | undefined;
  bot: () => Promise<{ openId: string; name: string }>;
  /** M2-2: media sends are checked before they are stored, and their media released once sent. */
  admit?: Admission;
  onSent?: (req: SendRequest) => void | Promise<void>;
  /** M2-3: Typing reactions follow deliveries and acks (replies reach it through `onSent`). */
  typing?: TypingHooks;
  /** M2-3: streaming cards (relay/stream-service.ts), handed to the gateway for `draft` frames. */
  streams?: StreamManager;
  /** Connection history (its stale rows already closed by createRelay). */
  sessions: SessionLog;
  /** This node's live plugin connections, built by createRelay (the context's `hub` reads it). */
  hub: Hub;
}

export function createRelayCore(ctx: RelayContext, deps: RelayCoreDeps): RelayCore {
  const { hub } = deps;
  const outbox = new Outbox(createOutboxStore(ctx.storage, ctx.nodeId), {
    now: ctx.now,
    log: ctx.log.child({ module: "outbox" }),
    metrics: ctx.metrics,
    port: deps.sendPort,
    deadlineMs: ctx.config.OUTBOX_DEADLINE * 1000,
    maxQueuedPerUser: ctx.config.OUTBOX_MAX_QUEUED_PER_USER,
    admit: deps.admit,
    onSent: deps.onSent,
  });
  ctx.metrics.gauge("ws_connections", "Plugin connections open now.", () => hub.size);
  const sessions = deps.sessions;
  void outbox.start();
  const revocations = startRevocationSweep(ctx, hub);
  ctx.onShutdown("work", "outbox", () => outbox.stop());
  ctx.onShutdown("flush", "sessions-and-acks", async () => {
    await sessions.stop();
    await ctx.inbox.flushAcks();
  });
  return {
    hub,
    outbox,
    revocations,
    typing: deps.typing,
    features: [
      (c) =>
        gatewayRoutes(c, {
          hub,
          outbox,
          sessions,
          bot: deps.bot,
          typing: deps.typing,
          streams: deps.streams,
        }),
      (c) => messagesRoutes(c, outbox),
      (c) => mediaDownloadRoutes(c),
    ],
  };
}
