/**
 * The composition root: opens the database, finishes the config, builds every service and the app,
 * and owns start-up and the graceful stop (DESIGN §8).
 */
import { hostname } from "node:os";
import { adminConsoleFeature } from "./admin/index.ts";
import { RecentLog } from "./admin/recent-log.ts";
import { AdminSessions } from "./admin/sessions.ts";
import { createConsoleStats } from "./admin/stats.ts";
import { type App, buildApp, type FeatureModule } from "./app.ts";
import { createNodeRegistry } from "./cluster/nodes.ts";
import { createSignals } from "./cluster/signals.ts";
import type { Config, Raw } from "./config/definition.ts";
import { finishConfig } from "./config/load.ts";
import type { RelayContext } from "./context.ts";
import { Checkpointer } from "./db/checkpointer.ts";
import { createKv } from "./db/kv.ts";
import { createChatInfoStore } from "./feishu/chat-info-store.ts";
import { createFeishu } from "./feishu/index.ts";
import { feishuIngestFeature } from "./feishu/ingest-feature.ts";
import { createBindingStore } from "./groups/binding-store.ts";
import { groupsFeature } from "./groups/index.ts";
import { createMedia } from "./media/index.ts";
import { feishuSendPort } from "./media/send-port.ts";
import { randomBytes } from "./ops/crypto.ts";
import { Logger } from "./ops/logger.ts";
import {
  Registry,
  registerBuildInfo,
  registerClusterMetrics,
  registerProcessMetrics,
} from "./ops/metrics.ts";
import { HTTP_DRAIN_MS, SHUTDOWN_DEADLINE_MS, Shutdown } from "./ops/shutdown.ts";
import { startMessageContext } from "./relay/context-setup.ts";
import { Hub } from "./relay/hub.ts";
import { Inbox } from "./relay/inbox.ts";
import { registerInboxGauges } from "./relay/inbox-gauges.ts";
import { startInboxMaintenance } from "./relay/inbox-maintenance.ts";
import { createInboxStore } from "./relay/inbox-store.ts";
import { createRelayCore, type RelayCore } from "./relay/index.ts";
import { CloseCode } from "./relay/protocol.ts";
import { createSessionStore } from "./relay/session-store.ts";
import { SessionLog } from "./relay/sessions.ts";
import { type StreamExtras, startStreams } from "./relay/stream-service.ts";
import { startTyping } from "./relay/typing-setup.ts";
import { closeStorage, DEFAULT_DATABASE_PATH, openStorage, type Storage } from "./storage/storage.ts";
import { usersFeature } from "./users/index.ts";
import { LlmConfig } from "./users/llm-config.ts";
import { FeishuOAuth } from "./users/oauth.ts";
import { TokenService } from "./users/tokens.ts";
import { createUserStore } from "./users/user-store.ts";
import { VERSION } from "./version.ts";

export interface RelayDeps {
  now?: () => number;
  fetch?: typeof fetch;
  log?: Logger;
  /** M2-3: the final's card markdown and chunker, the typing hook (wired at merge time). */
  streams?: StreamExtras;
  /** How long acks gather before one write (default ACK_FLUSH_MS); tests lengthen it. */
  ackFlushMs?: number;
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

/** How long shutdown waits for the acks of frames already sent before closing the sockets. */
const ACK_DRAIN_MS = 1000;

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
  const storage: Storage = await openStorage(raw, { log: deps.log ?? new Logger() });
  try {
    return await assemble(storage, raw, deps);
  } catch (err) {
    // A relay that cannot start (a bad config value, say) leaves no pool or file handle open.
    await closeStorage(storage).catch(() => undefined);
    throw err;
  }
}

/** Everything on top of the open storage; createRelay closes the storage if this throws. */
async function assemble(storage: Storage, raw: Raw, deps: RelayDeps): Promise<Relay> {
  const now = deps.now ?? Date.now;
  const startedAt = now();
  // Cluster mode keeps uploaded media beside DATABASE_PATH, on each node's own disk (media-store.ts).
  const dbPath = storage.dialect === "sqlite" ? storage.path : raw.DATABASE_PATH || DEFAULT_DATABASE_PATH;
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
  const shutdown = new Shutdown(log, SHUTDOWN_DEADLINE_MS, now);
  // SQLite's WAL is checkpointed off the hot path; PostgreSQL does its own.
  const checkpointer =
    storage.dialect === "sqlite" ? new Checkpointer(storage.db.$client, { log, metrics }) : undefined;
  const fetchImpl = deps.fetch ?? fetch;
  const users = createUserStore(storage, now);
  // Revocation closes the user's socket wherever it is in the cluster (`plugins`, built below).
  const tokens = new TokenService({
    config,
    kv,
    now,
    log,
    users,
    disconnect: (userId, code, reason) => plugins.disconnect(userId, code, reason),
  });
  const nodeId = config.NODE_ID ?? defaultNodeId();
  const signals = createSignals(storage, nodeId, log.child({ module: "cluster" }));
  const inbox = new Inbox(inboxStore, {
    now,
    log,
    metrics,
    onCommit: checkpointer && (() => checkpointer.afterCommit()),
    ...(deps.ackFlushMs !== undefined ? { ackFlushMs: deps.ackFlushMs } : {}),
  });
  // The live plugin connections of this node; the gateway registers sockets in it.
  const hub = new Hub(inbox, { nodeId, signals, log: log.child({ module: "hub" }), now });
  const plugins: RelayContext["hub"] = {
    isConnected: (id) => hub.isConnected(id),
    // A revocation (4001) closes the socket wherever it is in the cluster; other codes act here only.
    disconnect: (id, code, reason) =>
      code === CloseCode.unauthorized ? hub.revoke(id, reason) : hub.disconnect(id, code, reason),
  };
  const feishu = createFeishu({ config, log, metrics, now, fetch: fetchImpl, kv, storage });

  const ctx: RelayContext = {
    config,
    storage,
    kv,
    log,
    metrics,
    now,
    fetch: fetchImpl,
    version: VERSION,
    startedAt,
    nodeId,
    signals,
    cluster: createNodeRegistry(
      storage,
      { id: nodeId, version: VERSION, startedAt },
      { now, log: log.child({ module: "cluster" }), localUsers: () => hub.userIds() },
    ),
    inbox,
    users,
    tokens,
    bindings: createBindingStore(storage, now),
    chatInfo: createChatInfoStore(storage),
    // Validated here: a bad LLM_PROVIDERS stops start-up.
    llm: LlmConfig.fromConfig(config),
    oauth: new FeishuOAuth({ config, kv, now, log, fetch: fetchImpl, users, tokens }),
    adminSessions: new AdminSessions(kv, now),
    consoleStats: createConsoleStats(storage),
    recentLog: RecentLog.tapping(log),
    ...(feishu ? { feishu } : {}),
    status: { feishu: () => (feishu ? feishu.health() : "unconfigured"), connections: () => hub.size },
    hub: plugins,
    onShutdown: (phase, name, step) => shutdown.add(phase, name, step),
  };
  // After the work drained, before the database closes: the node leaves the registry.
  ctx.onShutdown("flush", "cluster", async () => {
    await ctx.cluster.stop();
    await ctx.signals.stop();
  });
  registerClusterMetrics(metrics, ctx.nodeId, ctx.cluster);
  const sessions = new SessionLog(
    createSessionStore(storage, ctx.nodeId),
    now,
    log.child({ module: "sessions" }),
  );
  const stale = await sessions.closeStale();
  if (stale) log.info("sessions_closed_stale", { count: stale });
  if (feishu) startMessageContext(ctx, feishu);
  const media = createMedia(ctx, dbPath);
  const typing = feishu && startTyping(ctx, feishu.reactions);
  // A streaming card is the first reply to its message: the Typing reaction goes when it is sent.
  const streams = startStreams(ctx, feishu, {
    onCardSent: (replyTo) => typing?.replied(replyTo),
    ...deps.streams,
  });
  // The outbox owns retrying, so the sender tries once (rate limits still respected).
  const sendPort = feishu && feishuSendPort(feishu, media.store, config.FEISHU_RENDER_MODE, streams);
  const core = createRelayCore(ctx, {
    hub,
    sendPort: () => sendPort,
    bot: async () => (feishu ? feishu.directory.bot() : { openId: "", name: "" }),
    admit: media.admit,
    onSent: async (req) => {
      // The first reply to a message ends its Typing reaction (a streaming card: C's onCardSent).
      if (req.replyTo) typing?.replied(req.replyTo);
      await media.onSent(req);
    },
    typing,
    streams,
    sessions,
  });
  startInboxMaintenance(ctx, undefined, core.outbox);
  // Listening before serving: no wake-up for this node's sockets can be missed.
  await ctx.signals.start();
  await ctx.cluster.start();
  const app = buildApp(ctx, [...FEATURES, ...core.features, media.feature]);
  // Before the outbox drains: sends queued behind a rate limit stop waiting and stay pending.
  if (feishu) ctx.onShutdown("intake", "feishu", () => feishu.close());
  // Plugins are told to reconnect (1012) at once, to another node or to this one after a restart.
  // Before the sockets close, the acks of what they were sent come in and are stored, so a plugin
  // reconnecting to another node of a cluster at once does not get those messages again.
  ctx.onShutdown("intake", "plugin-sockets", async () => {
    await core.hub.drain(ACK_DRAIN_MS);
    await ctx.inbox.flushAcks();
    core.hub.closeAll();
  });
  ctx.onShutdown("http", "http-server", async () => {
    const server = app.server;
    if (!server) return;
    const drained = server.stop(false).then(() => true);
    const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), HTTP_DRAIN_MS).unref());
    if (!(await Promise.race([drained, timedOut]))) await server.stop(true);
  });
  ctx.onShutdown("flush", "inbox", () => ctx.inbox.close());
  ctx.onShutdown("storage", "database", async () => {
    await checkpointer?.stop();
    await closeStorage(storage);
  });
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
        await shutdown.run();
        log.info("relay_stopped");
      })();
      return stopping;
    },
  };
}
