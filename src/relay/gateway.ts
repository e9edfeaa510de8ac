/**
 * `GET /openclaw`: the plugin WebSocket, protocol v1 (DESIGN §4) plus the original plugin's legacy
 * flow. A token in the upgrade is checked before upgrading (plugin-auth.ts): a client over the
 * failed-auth limit with a bad token gets 429, a bad token otherwise closes with 4001 right after the
 * upgrade. Frames are validated against the shared TypeBox schemas; a bad frame gets an `error` and
 * the socket stays. Nothing here may reject unobserved: a failure becomes an `error` frame or a close
 * the plugin retries, and a log line.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { IMAGE_MAX_BYTES } from "../media/mime-table.ts";
import type { Logger } from "../ops/logger.ts";
import { clientIp, rateLimited } from "../ops/rate-limit.ts";
import { bearerFromHeader } from "../ops/secure-compare.ts";
import type { VerifiedToken } from "../users/tokens.ts";
import { type ConnectionUser, PluginConnection, type SocketLike, type TopicPublisher } from "./connection.ts";
import type { Hub } from "./hub.ts";
import type { StoredMessage } from "./inbox.ts";
import type { Outbox } from "./outbox.ts";
import { type AuthVerdict, judgeToken } from "./plugin-auth.ts";
import {
  ClientFrame,
  CloseCode,
  checkFrame,
  type DraftFrame,
  Feature,
  HEARTBEAT_SEC,
  LegacyAuthFrame,
  LegacyLlmRequestFrame,
  PROTOCOL_VERSION,
  type SendFrame,
} from "./protocol.ts";
import { BUSY_MESSAGE, databaseBusy, isDatabaseBusy, sendFailure } from "./send-failure.ts";
import { sendProblem, submitSend } from "./send-service.ts";
import type { SessionLog } from "./sessions.ts";
import type { StreamManager } from "./streams.ts";
import type { TypingHooks } from "./typing.ts";

/** The original plugin may authenticate with a first frame within this time. */
export const LEGACY_AUTH_TIMEOUT_MS = 10_000;

type Phase = "authenticating" | "awaiting_auth" | "ready" | "closed";

interface SocketState {
  phase: Phase;
  meta: SocketMeta;
  /** The server's pub/sub, for the user's topic (absent when the app is not served by Bun). */
  topics?: TopicPublisher;
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
  /** M2-3: streaming cards (feature `stream`); absent, drafts are answered `stream_unavailable`. */
  streams?: StreamManager;
  /** How long a connection without a token may take to send the legacy auth frame (tests shorten it). */
  legacyAuthTimeoutMs?: number;
  /** M2-3: the typing indicator (told of deliveries and acks). */
  typing?: TypingHooks;
}

/** What the upgrade learned about a request, handed to `open` (Elysia gives it the same Request). */
interface Admission {
  ip: string;
  verdict?: AuthVerdict;
  topics?: TopicPublisher;
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

  const deliveryHooks = delivery(ctx, deps.typing);

  const legacyAuthMs = deps.legacyAuthTimeoutMs ?? LEGACY_AUTH_TIMEOUT_MS;
  const admissions = new WeakMap<Request, Admission>();
  /** Sockets upgraded but not yet handed to the hub: shutdown closes them too. */
  const unready = new Set<SocketLike>();
  ctx.onShutdown("intake", "unready-sockets", () => {
    for (const socket of unready) {
      const state = states.get(socket as object);
      if (state) {
        clearTimeout(state.timer);
        state.phase = "closed";
      }
      socket.close(CloseCode.restarting, "relay restarting");
    }
    unready.clear();
  });

  const checkToken = (token: string, ip: string) =>
    judgeToken(token, ip, (t) => ctx.tokens.verify(t), ctx.tokens.failures);

  /** Logs a failure of work nobody awaits, so it can never become an unhandled rejection. */
  function detach(work: Promise<unknown>, event: string, fields: Record<string, unknown> = {}): void {
    work.catch((err) => log.error(event, { ...fields, err: err as Error }));
  }

  /** Acts on a token verdict: connect, 4001 (bad token), or 1013 (over the failure limit). */
  function admit(socket: SocketLike, state: SocketState, verdict: AuthVerdict, legacy: boolean): void {
    if (state.phase === "closed") return;
    if (verdict.kind === "accept") {
      setUp(socket, state, start(socket, state, verdict.verified, legacy));
      return;
    }
    refuse(socket, state, verdict.kind === "throttle" ? "throttled" : "unauthorized");
  }

  /**
   * Connection set-up that fails (typically a write-locked database) closes the socket with 1011,
   * which the plugin retries; replay catches up once it is back.
   */
  function setUp(socket: SocketLike, state: SocketState, work: Promise<void>): void {
    detach(
      work.catch((err) => {
        if (state.phase !== "closed") {
          state.phase = "closed";
          unready.delete(socket);
          state.conn?.markClosed();
          socket.close(CloseCode.internalError, "connection setup failed; try again later");
        }
        throw err;
      }),
      "plugin_connect_failed",
      { ip: state.meta.ip },
    );
  }

  function refuse(socket: SocketLike, state: SocketState, outcome: "throttled" | "unauthorized") {
    state.phase = "closed";
    clearTimeout(state.timer);
    unready.delete(socket);
    m.connections.inc({ outcome });
    if (outcome === "throttled")
      socket.close(CloseCode.tryAgain, "too many failed attempts; try again later");
    else socket.close(CloseCode.unauthorized, "unauthorized");
  }

  /** Once shutdown began nobody is admitted: 1012 sends the plugin to the next process. */
  function turnedAway(socket: SocketLike, state: SocketState): boolean {
    if (!hub.closing) return false;
    state.phase = "closed";
    unready.delete(socket);
    m.connections.inc({ outcome: "restarting" });
    socket.close(CloseCode.restarting, "relay restarting");
    return true;
  }

  async function start(socket: SocketLike, state: SocketState, verified: VerifiedToken, legacy: boolean) {
    const meta = state.meta;
    if (turnedAway(socket, state)) return;
    // Learn the bot and the user's cursor first: from here to the first pump nothing awaits, so no
    // live message can overtake the hello frame and none committed meanwhile is missed (the pump
    // reads the inbox after `acked`).
    const u = verified.user;
    const [bot, acked, pending] = await Promise.all([
      legacy ? undefined : deps.bot().catch(() => ({ openId: "", name: "" })),
      ctx.inbox.ackedSeq(u.id),
      ctx.inbox.pendingCount(u.id),
    ]);
    // The socket may have closed, or shutdown begun, while we waited.
    if ((state.phase as Phase) === "closed" || turnedAway(socket, state)) return;
    const user: ConnectionUser = {
      id: u.id,
      openId: u.openId,
      name: u.name,
      tokenVersion: verified.claims.ver,
    };
    const sessionId = crypto.randomUUID();
    const conn = new PluginConnection(
      socket,
      user,
      sessionId,
      legacy,
      ctx.inbox,
      deliveryHooks,
      acked,
      state.topics,
    );
    state.conn = conn;
    state.phase = "ready";
    unready.delete(socket);
    sessions.opened({
      id: sessionId,
      userId: u.id,
      remoteAddress: meta.ip,
      userAgent: meta.userAgent,
      protocol: legacy ? "legacy" : "v1",
    });
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
        features: deps.streams?.available ? [Feature.media, Feature.stream] : [Feature.media],
        media: { maxBytes: ctx.config.MEDIA_MAX_BYTES, imageMaxBytes: IMAGE_MAX_BYTES },
        ...(deps.streams?.available
          ? { stream: { minIntervalMs: ctx.config.FEISHU_STREAM_INTERVAL_MS } }
          : {}),
      });
    } else conn.send({ type: "auth_success", userId: String(u.id), openId: u.openId });
    hub.register(conn);
    conn.pump();
    for (const frame of state.early.splice(0)) handleFrameSafely(socket, state, frame);
  }

  /** A frame whose handling threw still gets an answer; the connection stays. */
  function handleFrameSafely(socket: SocketLike, state: SocketState, data: unknown): void {
    try {
      if (state.conn) handleFrame(state.conn, data, log);
    } catch (err) {
      const busy = isDatabaseBusy(err);
      log.error("plugin_frame_failed", { userId: state.conn?.user.id, busy, err: err as Error });
      if (!busy) m.badFrames.inc();
      if (state.phase === "closed") return;
      socket.send(
        JSON.stringify({
          type: "error",
          id: idOf(data),
          code: busy ? "unavailable" : "bad_frame",
          message: busy ? BUSY_MESSAGE : "frame could not be handled",
          retryable: busy,
        }),
      );
    }
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
      case "ping": {
        // The pong follows the acks received before the ping into the database: a plugin that pings
        // after its last ack and then reconnects to another node of a cluster resumes after that ack.
        const pong = () => conn.send({ type: "pong" });
        Promise.resolve()
          .then(() => ctx.inbox.flushAcks())
          .then(pong, (err) => {
            log.warn("plugin_ack_flush_failed", { userId: conn.user.id, err: err as Error });
            pong();
          });
        return;
      }
      case "ack": {
        conn.ack(frame.seq);
        deps.typing?.acked(conn.user.id, Math.min(frame.seq, conn.lastSentSeq));
        log.debug("plugin_ack", { userId: conn.user.id, seq: frame.seq });
        return;
      }
      case "send":
        detach(answerSend(conn, frame), "plugin_send_failed", { userId: conn.user.id });
        return;
      case "draft":
        detach(answerDraft(conn, frame), "plugin_draft_failed", { userId: conn.user.id });
        return;
    }
  }

  /** Drafts are answered only when they cannot be shown (a failure here too: the plugin goes on plainly). */
  async function answerDraft(conn: PluginConnection, frame: DraftFrame) {
    const answer = deps.streams
      ? await deps.streams.draft(conn.user, frame).catch((err) => {
          log.error("plugin_draft_failed", {
            userId: conn.user.id,
            busy: isDatabaseBusy(err),
            err: err as Error,
          });
          return { code: "stream_unavailable", message: "the draft could not be handled" };
        })
      : { code: "stream_unavailable", message: "streaming is not available on this relay" };
    if (answer) conn.send({ type: "error", id: frame.id, ...answer, retryable: false });
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
    const outcome = await submitSend(ctx, outbox, conn.user, req, undefined, { onQueued }).catch((err) =>
      sendFailure(err, log, { userId: conn.user.id }),
    );
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
    const outcome = Promise.resolve(parsed.frame.messageId ?? ctx.inbox.latestMessageId(conn.user.id))
      .then((replyTo) =>
        submitSend(ctx, outbox, conn.user, {
          msgType: "text",
          text,
          ...(replyTo ? { replyTo } : {}),
        }),
      )
      .catch((err) => sendFailure(err, log, { userId: conn.user.id, legacy: true }));
    detach(
      outcome.then((o) => {
        if (!o.ok) conn.send({ type: "error", code: o.code, message: o.message, retryable: o.retryable });
      }),
      "plugin_send_failed",
      { userId: conn.user.id },
    );
  }

  return new Elysia({ name: "gateway" }).ws("/openclaw", {
    detail: { summary: "Plugin WebSocket (protocol v1)", description: "See DESIGN §4." },
    // Runs before the upgrade; a throw answers the HTTP request instead (429 here).
    async upgrade({ request, server, headers, query }) {
      const ip = clientIp(request, server);
      const token = bearerFromHeader(headers.authorization) ?? query.token;
      const verdict = token
        ? await checkToken(token, ip).catch((err) => {
            log.error("plugin_auth_failed", { ip, busy: isDatabaseBusy(err), err: err as Error });
            throw isDatabaseBusy(err) ? databaseBusy() : err;
          })
        : undefined;
      if (verdict?.kind === "throttle") {
        m.connections.inc({ outcome: "throttled" });
        throw rateLimited(verdict.retryAfterSec);
      }
      const topics = server
        ? { publish: (topic: string, data: string) => server.publish(topic, data) }
        : undefined;
      admissions.set(request, { ip, verdict, topics });
    },
    open(ws) {
      const socket = ws.raw as unknown as SocketLike & object;
      const data = ws.data as unknown as { request: Request; headers: Record<string, string | undefined> };
      const admission = admissions.get(data.request) ?? { ip: ws.remoteAddress || "unknown" };
      const meta: SocketMeta = { ip: admission.ip, userAgent: data.headers["user-agent"] };
      const state: SocketState = {
        phase: admission.verdict ? "authenticating" : "awaiting_auth",
        meta,
        topics: admission.topics,
        early: [],
      };
      states.set(socket, state);
      unready.add(socket);
      if (admission.verdict) return admit(socket, state, admission.verdict, false);
      // No token in the upgrade: the original plugin authenticates with its first frame.
      state.timer = setTimeout(() => {
        if (state.phase !== "awaiting_auth") return;
        state.phase = "closed";
        unready.delete(socket);
        socket.close(CloseCode.unauthorized, "no auth frame in time");
      }, legacyAuthMs);
    },
    message(ws, message) {
      const socket = ws.raw as unknown as SocketLike & object;
      const state = states.get(socket);
      if (!state || state.phase === "closed") return;
      if (state.phase === "ready") return handleFrameSafely(socket, state, message);
      if (state.phase === "authenticating") {
        if (state.early.length < 100) state.early.push(message);
        return;
      }
      const auth = checkFrame(LegacyAuthFrame, message);
      clearTimeout(state.timer);
      if (!auth.ok) {
        state.phase = "closed";
        unready.delete(socket);
        socket.close(CloseCode.unauthorized, "authenticate first");
        return;
      }
      state.phase = "authenticating";
      setUp(
        socket,
        state,
        checkToken(auth.frame.token, state.meta.ip).then((verdict) => admit(socket, state, verdict, true)),
      );
    },
    drain(ws) {
      states.get(ws.raw as unknown as object)?.conn?.drained();
    },
    close(ws, code) {
      const socket = ws.raw as unknown as SocketLike & object;
      const state = states.get(socket);
      unready.delete(socket);
      if (!state) return;
      clearTimeout(state.timer);
      state.phase = "closed";
      const conn = state.conn;
      if (!conn) return;
      conn.markClosed();
      hub.unregister(conn);
      // Its last acks are written now rather than after ACK_FLUSH_MS: the plugin may reconnect to
      // another node of a cluster at once, which must resume after them.
      void ctx.inbox.flushAcksSafely();
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

function delivery(ctx: RelayContext, typing?: TypingHooks) {
  const delivered = ctx.metrics.counter("messages_delivered_total", "Messages written to a plugin socket.");
  const latency = ctx.metrics.histogram(
    "delivery_latency_seconds",
    "From webhook acceptance to the frame written to the plugin (replays included).",
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600],
  );
  return {
    delivered(msg: StoredMessage) {
      delivered.inc();
      latency.observe(Math.max(0, ctx.now() - msg.receivedAt) / 1000);
      typing?.delivered(msg);
    },
    readFailed(err: unknown) {
      ctx.log.error("inbox_read_failed", { err: err as Error });
    },
  };
}
