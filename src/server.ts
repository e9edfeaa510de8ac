/**
 * The composition root: opens the database, finishes the config, builds every service and the app,
 * and owns start-up and the graceful stop (DESIGN §8).
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { adminConsoleFeature } from "./admin/index.ts";
import { type App, buildApp, type FeatureModule } from "./app.ts";
import type { Config, Raw } from "./config/definition.ts";
import { finishConfig } from "./config/load.ts";
import type { RelayContext } from "./context.ts";
import { Checkpointer } from "./db/checkpointer.ts";
import { createKv } from "./db/kv.ts";
import type { Db } from "./db/open.ts";
import { createFeishu } from "./feishu/index.ts";
import { feishuIngestFeature } from "./feishu/ingest-feature.ts";
import { groupsFeature } from "./groups/index.ts";
import { createMedia } from "./media/index.ts";
import { feishuSendPort } from "./media/send-port.ts";
import { Logger } from "./ops/logger.ts";
import { Registry, registerBuildInfo, registerProcessMetrics } from "./ops/metrics.ts";
import { startMessageContext } from "./relay/context-setup.ts";
import { Inbox } from "./relay/inbox.ts";
import { registerInboxGauges } from "./relay/inbox-gauges.ts";
import { startInboxMaintenance } from "./relay/inbox-maintenance.ts";
import { createInboxStore } from "./relay/inbox-store.ts";
import { createRelayCore, type RelayCore } from "./relay/index.ts";
import { createSessionStore } from "./relay/session-store.ts";
import { SessionLog } from "./relay/sessions.ts";
import { type StreamExtras, startStreams } from "./relay/stream-service.ts";
import { startTyping } from "./relay/typing-setup.ts";
import { closeStorage, openStorage, type Storage } from "./storage/storage.ts";
import { usersFeature } from "./users/index.ts";
import { VERSION } from "./version.ts";

export interface RelayDeps {
  now?: () => number;
  fetch?: typeof fetch;
  log?: Logger;
  /** M2-3: the final's card markdown and chunker, the typing hook (wired at merge time). */
  streams?: StreamExtras;
}

export interface Relay {
  ctx: RelayContext;
  app: App;
  /** The plugin side (hub, outbox, revocation sweep), for tests and the composition root. */
  core: RelayCore;
  /** Listens on HOST:PORT; resolves with the bound port (PORT=0 picks a free one). */
  listen(): Promise<number>;
  /** Stops accepting, runs shutdown hooks (sockets closed with 1012, work drained), closes the DB. */
  stop(): Promise<void>;
}

/** How long HTTP requests in flight may take to finish on shutdown (the whole stop stays < 10 s). */
const DRAIN_MS = 5000;

/** Feature modules, in data-flow order; later issues append theirs here. */
export const FEATURES: FeatureModule[] = [
  feishuIngestFeature,
  usersFeature,
  groupsFeature,
  adminConsoleFeature,
];

/** `<hostname>-<6 hex>`: unique per process, readable in /health and the console. */
export function defaultNodeId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, "-")
      .slice(0, 40) || "node";
  return `${host}-${randomBytes(3).toString("hex")}`;
}

export async function createRelay(raw: Raw, deps: RelayDeps = {}): Promise<Relay> {
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const storage: Storage = await openStorage(raw, { log: deps.log ?? new Logger() });
  if (storage.dialect !== "sqlite") {
    // Until every store has its PostgreSQL adapter (M2-6 in progress), cluster mode refuses to start.
    await closeStorage(storage);
    throw new Error("cluster mode (DATABASE_URL) is not complete yet");
  }
  const db: Db = storage.db;
  const dbPath = storage.path;
  const kv = createKv(storage, now);
  const config: Config = await finishConfig(raw, kv);
  const log = deps.log ?? new Logger(config.LOG_LEVEL);
  const metrics = new Registry();
  registerProcessMetrics(metrics, startedAt, now);
  registerBuildInfo(metrics, VERSION);
  const inboxStore = createInboxStore(storage, {
    maxPending: config.INBOX_MAX_PENDING,
    maxPendingBytes: config.INBOX_MAX_PENDING_BYTES,
  });
  registerInboxGauges(metrics, inboxStore, now);
  const closers: Array<() => void | Promise<void>> = [];
  const checkpointer = new Checkpointer(db.$client, { log, metrics });

  const ctx: RelayContext = {
    config,
    storage,
    db,
    kv,
    log,
    metrics,
    now,
    fetch: deps.fetch ?? fetch,
    version: VERSION,
    startedAt,
    nodeId: config.NODE_ID ?? defaultNodeId(),
    inbox: new Inbox(inboxStore, { now, log, metrics, onCommit: () => checkpointer.ensureStarted() }),
    status: { feishu: () => "unconfigured", connections: () => 0 },
    hub: { isConnected: () => false, disconnect: () => {} },
    onShutdown: (fn) => closers.push(fn),
  };
  const sessions = new SessionLog(
    createSessionStore(storage, ctx.nodeId),
    now,
    log.child({ module: "sessions" }),
  );
  const stale = await sessions.closeStale();
  if (stale) log.info("sessions_closed_stale", { count: stale });
  const feishu = createFeishu(ctx);
  if (feishu) {
    ctx.feishu = feishu;
    ctx.status.feishu = () => feishu.health();
    startMessageContext(ctx, feishu);
  }
  const media = createMedia(ctx, dbPath);
  const typing = feishu && startTyping(ctx, feishu.reactions);
  // Registered before the outbox's hooks: stops after the outbox drained, before the DB closes.
  // A streaming card is the first reply to its message: the Typing reaction goes when it is sent.
  const streams = startStreams(ctx, feishu, {
    onCardSent: (replyTo) => typing?.replied(replyTo),
    ...deps.streams,
  });
  // The outbox owns retrying, so the sender tries once (rate limits still respected).
  const sendPort = feishu && feishuSendPort(feishu, media.store, config.FEISHU_RENDER_MODE, streams);
  const core = createRelayCore(ctx, {
    sendPort: () => sendPort,
    bot: async () => (feishu ? feishu.directory.bot() : { openId: "", name: "" }),
    admit: media.admit,
    onSent: (req) => {
      media.onSent(req);
      // The first reply to a message ends its Typing reaction (a streaming card: C's onCardSent).
      if (req.replyTo) typing?.replied(req.replyTo);
    },
    typing,
    streams,
    sessions,
  });
  startInboxMaintenance(ctx, undefined, core.outbox);
  const app = buildApp(ctx, [...FEATURES, ...core.features, media.feature]);
  // Runs before the outbox drains: sends queued behind a rate limit stop waiting and stay pending.
  if (feishu) ctx.onShutdown(() => feishu.close());
  // Registered last so it runs first on shutdown: plugins are told to reconnect (1012) at once.
  ctx.onShutdown(() => core.hub.closeAll());
  let stopping: Promise<void> | undefined;

  return {
    ctx,
    app,
    core,
    async listen() {
      // reusePort off (Elysia turns it on): a second relay on the same port must fail, not share it.
      app.listen({
        hostname: config.HOST,
        port: config.PORT,
        // PUT /api/media streams up to MEDIA_MAX_BYTES; every other route caps its body at 1 MiB
        // itself (ops/body.ts), so this only bounds what Bun accepts before our own checks.
        maxRequestBodySize: Math.max(8 * 1024 * 1024, config.MEDIA_MAX_BYTES + 1024 * 1024),
        reusePort: false,
      });
      const port = app.server?.port ?? config.PORT;
      log.info("relay_listening", {
        host: config.HOST,
        port,
        version: VERSION,
        publicUrl: config.PUBLIC_URL,
      });
      return port;
    },
    stop() {
      stopping ??= (async () => {
        log.info("relay_stopping");
        // Hooks first: the gateway refuses new upgrades and closes sockets with 1012, the outbox
        // finishes its in-flight sends. Then the server drains HTTP requests, bounded in time.
        for (const close of closers.reverse()) {
          try {
            await close();
          } catch (err) {
            log.error("shutdown_hook_failed", { err: err as Error });
          }
        }
        const server = app.server;
        if (server) {
          const drained = server.stop(false).then(() => true);
          const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), DRAIN_MS).unref());
          if (!(await Promise.race([drained, timedOut]))) await server.stop(true);
        }
        await ctx.inbox.close();
        await checkpointer.stop();
        db.$client.close();
        log.info("relay_stopped");
      })();
      return stopping;
    },
  };
}
