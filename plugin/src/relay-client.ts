/**
 * The WebSocket client for the relay's plugin endpoint (DESIGN §4, protocol v1).
 *
 * One connection at a time, with our own reconnect loop: OpenClaw treats a returning `startAccount`
 * as a crash and restarts it on its own slow schedule, so `run` stays pending until aborted.
 *
 * - Auth: the token goes in `?token=` because Node's WebSocket is not guaranteed to send custom
 *   headers (a User-Agent is offered, best effort). Hence the URL is never logged.
 * - Close codes: 4001 (unauthorized) and 4002 (replaced by a newer connection) are terminal — the
 *   first cannot fix itself, and two gateways sharing a token would evict each other forever — so
 *   we report them and wait for an abort (a config reload restarts us). Anything else reconnects.
 * - Liveness: an app-level `ping` every heartbeat; a connection that has been silent for
 *   2.5 heartbeats is abandoned without waiting for a close handshake that may never come.
 */

import type { SendFrame, SendRequest, SentFrame } from "../../src/relay/protocol.ts";
import { CloseCode, type HelloFrame, type MessageFrame, parseServerFrame } from "../../src/relay/protocol.ts";
import { type BackoffPolicy, backoffDelay, DEFAULT_BACKOFF, sleep, untilAborted } from "./backoff.ts";
import { DeliveryTracker } from "./delivery-tracker.ts";
import { displayUrl, type EventLog, errorText } from "./log.ts";
import { PendingSends, RelaySendError, type SendOptions } from "./pending-sends.ts";

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

export type WebSocketCtor = new (url: string, init?: unknown) => WebSocket;

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

interface Outcome {
  code: number;
  reason: string;
  gotHello: boolean;
  aborted?: boolean;
}

const OPEN = 1;
const DEAD_AFTER_BEATS = 2.5;
/** Client-chosen close code when we give up on a silent connection. */
const CLOSE_HEARTBEAT_TIMEOUT = 4000;
const ACTIVITY_REPORT_EVERY_MS = 10_000;

export class RelayClient {
  readonly #o: RelayClientOptions;
  readonly #backoff: BackoffPolicy;
  readonly #tracker: DeliveryTracker;
  readonly #sends: PendingSends;
  /** Set once `hello` arrived on the current connection; frames are written only then. */
  #ready: WebSocket | undefined;
  #hello: HelloFrame | undefined;
  /** Whether the WebSocket constructor accepts an init object with headers (Bun, Node ≥ 22.x). */
  #headersSupported = true;
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

  /** Sends a message through the relay and resolves with its `sent` answer; rejects on `error`. */
  async send(req: SendRequest, opts?: SendOptions): Promise<SentFrame> {
    const sent = await this.#sends.send(req, opts);
    this.#status({ lastOutboundAt: Date.now() });
    return sent;
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
        const unauthorized = outcome.code === CloseCode.unauthorized;
        const error = unauthorized
          ? "relay rejected the token (4001): check channels.feishu-relay.token"
          : "replaced by a newer connection with the same token (4002): another gateway uses this token";
        this.#o.log.error(unauthorized ? "relay_unauthorized" : "relay_replaced", { code: outcome.code });
        this.#sends.close(new RelaySendError(unauthorized ? "unauthorized" : "replaced", error, false));
        this.#status({
          running: false,
          connected: false,
          lifecycle: "blocked",
          terminalDisconnect: true,
          lastError: error,
          lastDisconnect: { at, status: outcome.code, error },
        });
        await untilAborted(signal);
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

  /** Waits for every message handling in flight to settle. */
  drain(): Promise<void> {
    return this.#tracker.drain();
  }

  #connectOnce(signal: AbortSignal): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let ws: WebSocket;
      try {
        ws = this.#open();
      } catch (err) {
        resolve({ code: 1006, reason: errorText(err, [this.#o.token]), gotHello: false });
        return;
      }
      const gen = this.#tracker.newConnection();
      let gotHello = false;
      let settled = false;
      let lastFrameAt = Date.now();
      let beat: ReturnType<typeof setInterval> | undefined;

      const finish = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(helloTimer);
        clearInterval(beat);
        signal.removeEventListener("abort", onAbort);
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
        if (this.#ready === ws) this.#ready = undefined;
        this.#sends.disconnected();
        resolve(outcome);
      };
      // Closes without waiting for the close handshake: a dead peer may never answer it.
      const abandon = (code: number, reason: string, aborted = false) => {
        try {
          ws.close(code, reason);
        } catch {
          // Already closing; nothing to do.
        }
        finish({ code, reason, gotHello, aborted });
      };
      const onAbort = () => abandon(1000, "shutting down", true);
      signal.addEventListener("abort", onAbort, { once: true });
      const helloTimer = setTimeout(
        () => abandon(CLOSE_HEARTBEAT_TIMEOUT, "no hello"),
        this.#o.helloTimeoutMs ?? 20_000,
      );

      const onHello = (hello: HelloFrame) => {
        if (gotHello) return;
        gotHello = true;
        clearTimeout(helloTimer);
        this.#hello = hello;
        this.#ready = ws;
        const beatMs = this.#o.heartbeatMs ?? hello.heartbeatSec * 1000;
        beat = setInterval(() => {
          if (Date.now() - lastFrameAt > beatMs * DEAD_AFTER_BEATS) {
            this.#o.log.warn("relay_heartbeat_timeout", { silentMs: Date.now() - lastFrameAt });
            abandon(CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout");
          } else this.#write({ type: "ping" });
        }, beatMs);
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
      };

      ws.onmessage = (ev: MessageEvent) => {
        if (settled) return;
        lastFrameAt = Date.now();
        this.#reportActivity(lastFrameAt);
        if (typeof ev.data !== "string") return;
        this.#onFrame(ev.data, onHello);
      };
      ws.onerror = (ev: Event) => {
        const message = (ev as Event & { message?: string }).message;
        if (message) this.#o.log.debug("relay_socket_error", { error: errorText(message, [this.#o.token]) });
      };
      ws.onclose = (ev: CloseEvent) => finish({ code: ev.code, reason: ev.reason ?? "", gotHello });
    });
  }

  #open(): WebSocket {
    const Ctor = this.#o.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketCtor | undefined);
    if (!Ctor) throw new Error("no global WebSocket (Node >= 22 or Bun is required)");
    const url = new URL(this.#o.url);
    url.searchParams.set("token", this.#o.token);
    if (this.#headersSupported && this.#o.userAgent) {
      try {
        return new Ctor(url.href, { headers: { "user-agent": this.#o.userAgent } });
      } catch {
        // A spec-strict WebSocket reads the object as a protocol list and throws: drop the header.
        this.#headersSupported = false;
      }
    }
    return new Ctor(url.href);
  }

  #onFrame(raw: string, onHello: (h: HelloFrame) => void): void {
    const parsed = parseServerFrame(raw);
    if (!parsed.ok) {
      this.#onBadFrame(raw, parsed.message);
      return;
    }
    const frame = parsed.frame;
    switch (frame.type) {
      case "hello":
        onHello(frame);
        return;
      case "message":
        this.#onMessage(frame);
        return;
      case "sent":
        if (!this.#sends.sent(frame)) this.#o.log.debug("relay_sent_unknown_id", { id: frame.id });
        return;
      case "error":
        if (frame.id && this.#sends.failed(frame.id, frame.code, frame.message, frame.retryable)) return;
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
    this.#o.log.warn("relay_bad_frame", { type: String(data?.type ?? "?"), problem });
    if (data?.type === "message" && Number.isInteger(data.seq) && (data.seq as number) > 0) {
      this.#tracker.skip(data.seq as number);
    }
  }

  #write(frame: SendFrame | { type: "ack"; seq: number } | { type: "ping" }): boolean {
    const ws = this.#ready;
    if (!ws || ws.readyState !== OPEN) return false;
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
