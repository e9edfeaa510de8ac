/**
 * `GET /openclaw`: the plugin WebSocket, protocol v1 (DESIGN §4) plus the original plugin's legacy
 * flow. Authentication happens right after the upgrade (a bad token closes with 4001); frames are
 * validated against the shared TypeBox schemas; a bad frame gets an `error` and the socket stays.
 */
import { randomUUID } from "node:crypto";
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import type { Logger } from "../ops/logger.ts";
import { bearerFromHeader } from "../ops/secure-compare.ts";
import { authFailuresOf, tokensOf } from "../users/tokens.ts";
import { type ConnectionUser, PluginConnection, type SocketLike } from "./connection.ts";
import type { Hub } from "./hub.ts";
import type { Outbox } from "./outbox.ts";
import {
  ClientFrame,
  CloseCode,
  checkFrame,
  HEARTBEAT_SEC,
  LegacyAuthFrame,
  LegacyLlmRequestFrame,
  PROTOCOL_VERSION,
  type SendFrame,
} from "./protocol.ts";
import { sendProblem, submitSend } from "./send-service.ts";
import type { SessionLog } from "./sessions.ts";

/** The original plugin may authenticate with a first frame within this time. */
export const LEGACY_AUTH_TIMEOUT_MS = 10_000;

type Phase = "authenticating" | "awaiting_auth" | "ready" | "closed";

interface SocketState {
  phase: Phase;
  meta: SocketMeta;
  conn?: PluginConnection;
  /** Frames that arrived while the token was being checked; handled in order afterwards. */
  early: unknown[];
  timer?: ReturnType<typeof setTimeout>;
}

export interface GatewayDeps {
  hub: Hub;
  sessions: SessionLog;
  outbox: Outbox;
  bot: () => Promise<{ openId: string; name: string }>;
}

export function gatewayRoutes(ctx: RelayContext, deps: GatewayDeps) {
  const { hub, outbox } = deps;
  const log = ctx.log.child({ module: "gateway" });
  const { sessions } = deps;
  const states = new WeakMap<object, SocketState>();
  const m = {
    connections: ctx.metrics.counter("ws_connections_total", "Plugin connections by outcome."),
    replay: ctx.metrics.histogram(
      "ws_replay_size",
      "Messages waiting when a plugin connected.",
      [0, 1, 5, 10, 50, 100, 500, 1000, 5000],
    ),
    frames: ctx.metrics.counter("ws_frames_received_total", "Plugin frames by type."),
    badFrames: ctx.metrics.counter("ws_bad_frames_total", "Plugin frames refused as malformed."),
  };

  const deliveryHooks = delivery(ctx);

  async function authenticate(token: string, ip: string) {
    const failures = authFailuresOf(ctx);
    if (failures.retryAfter(ip) > 0) return null;
    const verified = await tokensOf(ctx).verify(token);
    if (!verified) failures.hit(ip);
    return verified;
  }

  async function start(
    socket: SocketLike,
    state: SocketState,
    token: string,
    meta: SocketMeta,
    legacy: boolean,
  ) {
    const verified = await authenticate(token, meta.ip);
    if (state.phase === "closed") return;
    if (!verified || hub.closing) {
      state.phase = "closed";
      m.connections.inc({ outcome: verified ? "restarting" : "unauthorized" });
      socket.close(
        verified ? CloseCode.restarting : CloseCode.unauthorized,
        verified ? "relay restarting" : "unauthorized",
      );
      return;
    }
    // Learn the bot first: from here to the first pump nothing awaits, so no live message can
    // overtake the hello frame and none committed meanwhile is missed (the pump reads the inbox).
    const bot = legacy ? undefined : await deps.bot().catch(() => ({ openId: "", name: "" }));
    // The socket may have closed while we waited.
    if ((state.phase as Phase) === "closed") return;
    const u = verified.user;
    const user: ConnectionUser = {
      id: u.id,
      openId: u.openId,
      name: u.name,
      tokenVersion: verified.claims.ver,
    };
    const sessionId = randomUUID();
    const acked = ctx.inbox.ackedSeq(u.id);
    const conn = new PluginConnection(socket, user, sessionId, legacy, ctx.inbox, deliveryHooks, acked);
    state.conn = conn;
    state.phase = "ready";
    sessions.opened({
      id: sessionId,
      userId: u.id,
      remoteAddress: meta.ip,
      userAgent: meta.userAgent,
      protocol: legacy ? "legacy" : "v1",
    });
    const pending = ctx.inbox.pendingCount(u.id);
    m.connections.inc({ outcome: "accepted" });
    m.replay.observe(pending);
    log.info("plugin_connected", { userId: u.id, sessionId, pending, legacy, ip: meta.ip });
    if (bot) {
      conn.send({
        type: "hello",
        protocol: PROTOCOL_VERSION,
        sessionId,
        user: { id: String(u.id), openId: u.openId, name: u.name },
        bot,
        pending,
        heartbeatSec: HEARTBEAT_SEC,
      });
    } else conn.send({ type: "auth_success", userId: String(u.id), openId: u.openId });
    hub.register(conn);
    conn.pump();
    for (const frame of state.early.splice(0)) handleFrame(conn, frame, log);
  }

  function handleFrame(conn: PluginConnection, data: unknown, log: Logger) {
    if (conn.legacy) return handleLegacyFrame(conn, data);
    const parsed = checkFrame(ClientFrame, data);
    if (!parsed.ok) {
      m.badFrames.inc();
      conn.send({
        type: "error",
        id: idOf(data),
        code: parsed.code,
        message: parsed.message,
        retryable: false,
      });
      return;
    }
    const frame = parsed.frame;
    m.frames.inc({ type: frame.type });
    switch (frame.type) {
      case "ping":
        conn.send({ type: "pong" });
        return;
      case "ack": {
        conn.ack(frame.seq);
        log.debug("plugin_ack", { userId: conn.user.id, seq: frame.seq });
        return;
      }
      case "send":
        void answerSend(conn, frame);
        return;
    }
  }

  async function answerSend(conn: PluginConnection, frame: SendFrame) {
    const { type: _t, id, ...req } = frame;
    const problem = sendProblem(req);
    if (problem) {
      conn.send({ type: "error", id, code: "bad_frame", message: problem, retryable: false });
      return;
    }
    // Kept by the outbox through an outage: say so now; the final answer follows with the same id.
    const onQueued = ({ uuid, retryAt }: { uuid: string; retryAt: number }) =>
      conn.send({ type: "queued", id, uuid, retryAt });
    const outcome = await submitSend(ctx, outbox, conn.user, req, undefined, { onQueued });
    if (outcome.ok)
      conn.send({ type: "sent", id, messageId: outcome.messageIds[0] ?? "", messageIds: outcome.messageIds });
    else
      conn.send({
        type: "error",
        id,
        code: outcome.code,
        message: outcome.message,
        retryable: outcome.retryable,
        ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
      });
  }

  function handleLegacyFrame(conn: PluginConnection, data: unknown) {
    const type = (data as { type?: unknown } | null)?.type;
    if (type === "ping") return conn.send({ type: "pong" });
    const parsed = checkFrame(LegacyLlmRequestFrame, data);
    if (!parsed.ok) {
      conn.send({ type: "error", code: "bad_frame", message: parsed.message, retryable: false });
      return;
    }
    const text = typeof parsed.frame.content === "string" ? parsed.frame.content : parsed.frame.content.text;
    const replyTo = parsed.frame.messageId ?? ctx.inbox.latestMessageId(conn.user.id);
    void submitSend(ctx, outbox, conn.user, { msgType: "text", text, ...(replyTo ? { replyTo } : {}) }).then(
      (o) => {
        if (!o.ok) conn.send({ type: "error", code: o.code, message: o.message, retryable: o.retryable });
      },
    );
  }

  return new Elysia({ name: "gateway" }).ws("/openclaw", {
    detail: { summary: "Plugin WebSocket (protocol v1)", description: "See DESIGN §4." },
    open(ws) {
      const socket = ws.raw as unknown as SocketLike & object;
      const data = ws.data as unknown as {
        query: Record<string, string | undefined>;
        headers: Record<string, string | undefined>;
      };
      const token = bearerFromHeader(data.headers.authorization) ?? data.query.token;
      const meta: SocketMeta = { ip: ws.remoteAddress || "unknown", userAgent: data.headers["user-agent"] };
      const state: SocketState = { phase: token ? "authenticating" : "awaiting_auth", meta, early: [] };
      states.set(socket, state);
      if (token) {
        void start(socket, state, token, meta, false);
        return;
      }
      // No token in the upgrade: the original plugin authenticates with its first frame.
      state.timer = setTimeout(() => {
        if (state.phase !== "awaiting_auth") return;
        state.phase = "closed";
        socket.close(CloseCode.unauthorized, "no auth frame within 10 s");
      }, LEGACY_AUTH_TIMEOUT_MS);
    },
    message(ws, message) {
      const socket = ws.raw as unknown as SocketLike & object;
      const state = states.get(socket);
      if (!state || state.phase === "closed") return;
      if (state.phase === "ready" && state.conn) return handleFrame(state.conn, message, log);
      if (state.phase === "authenticating") {
        if (state.early.length < 100) state.early.push(message);
        return;
      }
      const auth = checkFrame(LegacyAuthFrame, message);
      if (!auth.ok) {
        state.phase = "closed";
        clearTimeout(state.timer);
        socket.close(CloseCode.unauthorized, "authenticate first");
        return;
      }
      clearTimeout(state.timer);
      state.phase = "authenticating";
      void start(socket, state, auth.frame.token, state.meta, true);
    },
    drain(ws) {
      states.get(ws.raw as unknown as object)?.conn?.drained();
    },
    close(ws, code) {
      const state = states.get(ws.raw as unknown as object);
      if (!state) return;
      clearTimeout(state.timer);
      state.phase = "closed";
      const conn = state.conn;
      if (!conn) return;
      conn.markClosed();
      hub.unregister(conn);
      sessions.closed(conn.sessionId, conn.user.id, code);
      log.info("plugin_disconnected", { userId: conn.user.id, sessionId: conn.sessionId, code });
    },
  });
}

interface SocketMeta {
  ip: string;
  userAgent?: string;
}

function idOf(data: unknown): string | undefined {
  const id = (data as { id?: unknown } | null)?.id;
  return typeof id === "string" ? id : undefined;
}

function delivery(ctx: RelayContext) {
  const delivered = ctx.metrics.counter("messages_delivered_total", "Messages written to a plugin socket.");
  const latency = ctx.metrics.histogram(
    "delivery_latency_seconds",
    "From webhook acceptance to the frame written to the plugin (replays included).",
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600],
  );
  return {
    delivered(msg: { receivedAt: number }) {
      delivered.inc();
      latency.observe(Math.max(0, ctx.now() - msg.receivedAt) / 1000);
    },
  };
}
