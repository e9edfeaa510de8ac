/**
 * The client for the relay's plugin endpoint (DESIGN §4, protocol v1): one connection at a time
 * (relay-socket.ts) inside our own reconnect loop. OpenClaw treats a returning `startAccount` as a
 * crash and restarts it on its own slow schedule, so `run` stays pending until aborted.
 *
 * - The token goes in `?token=` because Node's WebSocket is not guaranteed to send custom headers
 *   (a User-Agent is offered, best effort). Hence the URL is never logged.
 * - Close codes: 4001 (unauthorized) and 4002 (replaced by a newer connection) are terminal — the
 *   first cannot fix itself, and two gateways sharing a token would evict each other forever — so
 *   we report them and wait for an abort (a config reload restarts us). Anything else reconnects
 *   with jittered, capped exponential back-off.
 * - `message` frames are deduped and acked by DeliveryTracker; `send` frames are correlated with
 *   their `sent` / `error` answers by PendingSends.
 * - `draft` frames (feature `stream`) are written only on a ready socket and never resent; an
 *   `error` naming a draft's id goes back to its stream through DraftRoutes.
 */

import type { DraftFrame, SendFrame, SendRequest } from "../../src/relay/protocol.ts";
import { CloseCode, type HelloFrame, type MessageFrame } from "../../src/relay/protocol.ts";
import { type BackoffPolicy, backoffDelay, DEFAULT_BACKOFF, sleep, untilAborted } from "./backoff.ts";
import { DeliveryTracker } from "./delivery-tracker.ts";
import { type DraftErrorHandler, DraftRoutes } from "./draft-routes.ts";
import { displayUrl, type EventLog, errorText } from "./log.ts";
import { PendingSends, RelaySendError, type SendAnswer, type SendOptions } from "./pending-sends.ts";
import { RecentIds } from "./recent-ids.ts";
import { type RoutedFrame, runRelaySocket, type WebSocketCtor } from "./relay-socket.ts";

export type { WebSocketCtor } from "./relay-socket.ts";

/** What the client reports; a subset of OpenClaw's ChannelAccountSnapshot. */
export interface StatusPatch {
  running?: boolean;
  connected?: boolean;
  lifecycle?: "starting" | "ready" | "recovering" | "blocked" | "stopped";
  terminalDisconnect?: boolean;
  lastConnectedAt?: number | null;
  lastDisconnect?: { at: number; status?: number; error?: string } | null;
  lastError?: string | null;
  reconnectAttempts?: number;
  lastInboundAt?: number | null;
  lastMessageAt?: number | null;
  lastOutboundAt?: number | null;
  lastTransportActivityAt?: number | null;
}

export interface RelayClientOptions {
  /** The relay endpoint, e.g. wss://relay.example.com/openclaw (without the token). */
  url: string;
  token: string;
  userAgent?: string;
  log: EventLog;
  /** Hands one message to the agent; it is acked once the returned promise settles. */
  onMessage: (frame: MessageFrame) => Promise<void>;
  onHello?: (hello: HelloFrame) => void;
  onStatus?: (patch: StatusPatch) => void;
  backoff?: Partial<BackoffPolicy>;
  random?: () => number;
  /** From the start of a connection attempt until `hello`. */
  helloTimeoutMs?: number;
  /** Deadline for a `send` to be answered by `sent` / `error`. */
  sendTimeoutMs?: number;
  /** Overrides hello.heartbeatSec (tests). */
  heartbeatMs?: number;
  WebSocket?: WebSocketCtor;
}

const KNOWN_FRAME_TYPES = new Set(["hello", "message", "sent", "queued", "error", "pong"]);

/** Queued sends whose late outcome we still recognise; older ones are logged as unknown. */
const QUEUED_REMEMBERED = 1000;

/** Drafts whose `error` we can still route; a refusal comes within a round trip. */
const DRAFTS_REMEMBERED = 1000;

/** OpenClaw's health monitor reads transport activity; reporting it every frame would be noise. */
const ACTIVITY_REPORT_EVERY_MS = 10_000;

export class RelayClient {
  readonly #o: RelayClientOptions;
  readonly #backoff: BackoffPolicy;
  readonly #tracker: DeliveryTracker;
  readonly #sends: PendingSends;
  /** Ids answered `queued`, so their late `sent` / `error` is logged as such. */
  readonly #queued = new RecentIds(QUEUED_REMEMBERED);
  readonly #drafts = new DraftRoutes(DRAFTS_REMEMBERED);
  /** The current socket, set once its `hello` arrived; our frames are written only then. */
  #ready: WebSocket | undefined;
  #hello: HelloFrame | undefined;
  #lastActivityReport = 0;

  constructor(opts: RelayClientOptions) {
    this.#o = opts;
    this.#backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.#tracker = new DeliveryTracker((seq) => this.#write({ type: "ack", seq }));
    this.#sends = new PendingSends((f) => this.#write(f), opts.sendTimeoutMs ?? 60_000);
  }

  /** The latest `hello` (who we are, the bot), once connected at least once. */
  get hello(): HelloFrame | undefined {
    return this.#hello;
  }

  get connected(): boolean {
    return this.#ready !== undefined;
  }

  /**
   * Sends a message through the relay and resolves with its `sent` answer, or `queued` when the
   * relay keeps it through a Feishu outage (delivered later; do not resend); rejects on `error`.
   */
  async send(req: SendRequest, opts?: SendOptions): Promise<SendAnswer> {
    const sent = await this.#sends.send(req, opts);
    this.#status({ lastOutboundAt: Date.now() });
    return sent;
  }

  /**
   * Writes a `draft` now if connected and returns whether it was written; never waits and never
   * queues: only the newest draft matters, and the final answer is a durable `send`.
   */
  draft(frame: DraftFrame, onError: DraftErrorHandler): boolean {
    if (!this.#write(frame)) return false;
    this.#drafts.add(frame.id, onError);
    return true;
  }

  /** Waits for every message handling in flight to settle. */
  drain(): Promise<void> {
    return this.#tracker.drain();
  }

  /** Connects and reconnects until `signal` aborts. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    this.#sends.reopen();
    let attempt = 0;
    this.#status({ running: true, connected: false, lifecycle: "starting" });
    this.#o.log.info("relay_connecting", { url: displayUrl(this.#o.url) });
    while (!signal.aborted) {
      const outcome = await this.#connectOnce(signal);
      if (signal.aborted || outcome.aborted) break;
      const at = Date.now();
      if (outcome.code === CloseCode.unauthorized || outcome.code === CloseCode.replaced) {
        await this.#terminal(outcome.code, at, signal);
        break;
      }
      attempt = outcome.gotHello ? 1 : attempt + 1;
      const delay = backoffDelay(attempt, this.#backoff, this.#o.random);
      const error = `disconnected (${outcome.code}${outcome.reason ? ` ${outcome.reason}` : ""})`;
      this.#o.log.warn("relay_disconnected", {
        code: outcome.code,
        reason: outcome.reason,
        retryInMs: delay,
      });
      this.#status({
        connected: false,
        lifecycle: "recovering",
        lastError: error,
        lastDisconnect: { at, status: outcome.code, error },
        reconnectAttempts: attempt,
      });
      await sleep(delay, signal);
    }
    this.#sends.close(new RelaySendError("stopped", "the feishu-relay channel stopped", true));
    this.#status({ running: false, connected: false, lifecycle: "stopped" });
    this.#o.log.info("relay_stopped");
  }

  /** 4001 / 4002: report, fail pending sends, and stay pending until aborted. */
  async #terminal(code: number, at: number, signal: AbortSignal): Promise<void> {
    const unauthorized = code === CloseCode.unauthorized;
    const error = unauthorized
      ? "relay rejected the token (4001): check channels.feishu-relay.token"
      : "replaced by a newer connection with the same token (4002): another gateway uses this token";
    this.#o.log.error(unauthorized ? "relay_unauthorized" : "relay_replaced", { code });
    this.#sends.close(new RelaySendError(unauthorized ? "unauthorized" : "replaced", error, false));
    this.#status({
      running: false,
      connected: false,
      lifecycle: "blocked",
      terminalDisconnect: true,
      lastError: error,
      lastDisconnect: { at, status: code, error },
    });
    await untilAborted(signal);
  }

  #connectOnce(signal: AbortSignal) {
    const gen = this.#tracker.newConnection();
    return runRelaySocket({
      url: this.#o.url,
      token: this.#o.token,
      userAgent: this.#o.userAgent,
      WebSocket: this.#o.WebSocket,
      helloTimeoutMs: this.#o.helloTimeoutMs ?? 20_000,
      heartbeatMs: this.#o.heartbeatMs,
      log: this.#o.log,
      signal,
      onReady: (ws, hello) => {
        this.#ready = ws;
        this.#hello = hello;
        const now = Date.now();
        this.#o.log.info("relay_connected", { sessionId: hello.sessionId, pending: hello.pending, gen });
        this.#status({
          running: true,
          connected: true,
          lifecycle: "ready",
          lastConnectedAt: now,
          lastError: null,
          reconnectAttempts: 0,
          lastTransportActivityAt: now,
        });
        this.#o.onHello?.(hello);
        this.#sends.flush();
      },
      onFrame: (frame) => this.#onFrame(frame),
      onBadFrame: (raw, problem) => this.#onBadFrame(raw, problem),
      onActivity: (now) => this.#reportActivity(now),
      onClosed: (ws) => {
        if (this.#ready === ws) this.#ready = undefined;
        this.#sends.disconnected();
        this.#drafts.clear();
      },
    });
  }

  #onFrame(frame: RoutedFrame): void {
    switch (frame.type) {
      case "message":
        this.#onMessage(frame);
        return;
      case "sent":
        if (this.#sends.sent(frame)) return;
        if (this.#queued.settle(frame.id)) {
          this.#o.log.info("relay_send_delivered_late", { id: frame.id, messageId: frame.messageId });
        } else this.#o.log.debug("relay_sent_unknown_id", { id: frame.id });
        return;
      case "queued":
        if (!this.#sends.queued(frame)) return;
        this.#queued.add(frame.id);
        this.#o.log.warn("relay_send_queued", { id: frame.id, uuid: frame.uuid, retryAt: frame.retryAt });
        return;
      case "error":
        if (
          frame.id &&
          this.#sends.failed(frame.id, frame.code, frame.message, frame.retryable, frame.retryAfterMs)
        )
          return;
        if (frame.id && this.#queued.settle(frame.id)) {
          this.#o.log.error("relay_send_failed_late", { id: frame.id, code: frame.code });
          return;
        }
        if (frame.id && this.#drafts.fail(frame.id, frame.code, frame.message)) return;
        this.#o.log.warn("relay_error_frame", { code: frame.code, id: frame.id, retryable: frame.retryable });
        return;
      case "pong":
        return;
    }
  }

  #onMessage(frame: MessageFrame): void {
    const now = Date.now();
    this.#status({ lastInboundAt: now, lastMessageAt: now });
    const verdict = this.#tracker.accept(frame.seq, frame.messageId);
    if (verdict !== "dispatch") {
      this.#o.log.debug("relay_message_duplicate", { seq: frame.seq, messageId: frame.messageId, verdict });
      return;
    }
    const handling = Promise.resolve()
      .then(() => this.#o.onMessage(frame))
      .catch((err) => {
        // Acked anyway: a message that fails every time must not be redelivered forever.
        this.#o.log.error("message_handling_failed", {
          seq: frame.seq,
          messageId: frame.messageId,
          error: errorText(err, [this.#o.token]),
        });
      });
    void this.#tracker.track(frame.seq, frame.messageId, handling);
  }

  /** A frame that fails the schema: if it is a message we still ack past it, or it would loop. */
  #onBadFrame(raw: string, problem: string): void {
    let data: { type?: unknown; seq?: unknown } | undefined;
    try {
      data = JSON.parse(raw);
    } catch {
      data = undefined;
    }
    const type = String(data?.type ?? "?");
    // A frame type from a newer relay: ignore it quietly (protocol.md, Compatibility).
    if (!KNOWN_FRAME_TYPES.has(type)) {
      this.#o.log.debug("relay_frame_ignored", { type });
      return;
    }
    this.#o.log.warn("relay_bad_frame", { type, problem });
    if (data?.type === "message" && Number.isInteger(data.seq) && (data.seq as number) > 0) {
      this.#tracker.skip(data.seq as number);
    }
  }

  #write(frame: SendFrame | DraftFrame | { type: "ack"; seq: number }): boolean {
    const ws = this.#ready;
    if (ws?.readyState !== 1) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  #reportActivity(now: number): void {
    if (now - this.#lastActivityReport < ACTIVITY_REPORT_EVERY_MS) return;
    this.#lastActivityReport = now;
    this.#status({ lastTransportActivityAt: now });
  }

  #status(patch: StatusPatch): void {
    try {
      this.#o.onStatus?.(patch);
    } catch {
      // Status is best effort; it must never break the connection loop.
    }
  }
}
