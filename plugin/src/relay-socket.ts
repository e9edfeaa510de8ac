/**
 * One WebSocket connection to the relay, from dial to close: authentication in the URL, the wait
 * for `hello`, app-level heartbeats and the dead-connection watchdog. The reconnect loop, frame
 * routing and bookkeeping live in relay-client.ts; this module only says how a connection ended.
 */
import {
  type ErrorFrame,
  type HelloFrame,
  type MessageFrame,
  type PongFrame,
  parseServerFrame,
  type QueuedFrame,
  type SentFrame,
} from "../../src/relay/protocol.ts";
import { type EventLog, errorText } from "./log.ts";

export type WebSocketCtor = new (url: string, init?: unknown) => WebSocket;

/** Every server frame except `hello`, which this module consumes. */
export type RoutedFrame = MessageFrame | SentFrame | QueuedFrame | ErrorFrame | PongFrame;

export interface Outcome {
  code: number;
  reason: string;
  gotHello: boolean;
  aborted?: boolean;
}

export interface RelaySocketOptions {
  url: string;
  token: string;
  userAgent?: string;
  WebSocket?: WebSocketCtor;
  helloTimeoutMs: number;
  /** Overrides hello.heartbeatSec (tests). */
  heartbeatMs?: number;
  log: EventLog;
  signal: AbortSignal;
  /** `hello` arrived: the socket may now carry our frames. */
  onReady(ws: WebSocket, hello: HelloFrame): void;
  onFrame(frame: RoutedFrame): void;
  onBadFrame(raw: string, problem: string): void;
  /** Any frame arrived (liveness). */
  onActivity(now: number): void;
  /** The socket is finished, just before the returned promise resolves. */
  onClosed(ws: WebSocket): void;
}

const OPEN = 1;
/** A silent connection is given up after this many heartbeats. */
const DEAD_AFTER_BEATS = 2.5;
/** Client-chosen close code when we give up on a connection ourselves. */
export const CLOSE_GIVE_UP = 4000;

/** WebSocket constructors found not to take an init object with headers (spec-strict ones). */
const noHeaders = new WeakSet<WebSocketCtor>();

function open(o: RelaySocketOptions): WebSocket {
  const Ctor = o.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketCtor | undefined);
  if (!Ctor) throw new Error("no global WebSocket (Node >= 22 or Bun is required)");
  const url = new URL(o.url);
  url.searchParams.set("token", o.token);
  // Bun and Node's undici accept `{ headers }`; a spec-strict WebSocket reads the object as a
  // protocol list and throws, so we drop the header for that constructor from then on.
  if (o.userAgent && !noHeaders.has(Ctor)) {
    try {
      return new Ctor(url.href, { headers: { "user-agent": o.userAgent } });
    } catch {
      noHeaders.add(Ctor);
    }
  }
  return new Ctor(url.href);
}

/** Connects once and resolves when that connection is over (never rejects). */
export function runRelaySocket(o: RelaySocketOptions): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    let ws: WebSocket;
    try {
      ws = open(o);
    } catch (err) {
      resolve({ code: 1006, reason: errorText(err, [o.token]), gotHello: false });
      return;
    }
    let gotHello = false;
    let settled = false;
    let lastFrameAt = Date.now();
    let beat: ReturnType<typeof setInterval> | undefined;

    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(helloTimer);
      clearInterval(beat);
      o.signal.removeEventListener("abort", onAbort);
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      o.onClosed(ws);
      resolve(outcome);
    };
    // Closes without waiting for the close handshake: a dead peer may never answer it.
    const abandon = (code: number, reason: string, aborted = false) => {
      try {
        ws.close(code, reason);
      } catch {
        // Already closing.
      }
      finish({ code, reason, gotHello, aborted });
    };
    const onAbort = () => abandon(1000, "shutting down", true);
    o.signal.addEventListener("abort", onAbort, { once: true });
    const helloTimer = setTimeout(() => abandon(CLOSE_GIVE_UP, "no hello"), o.helloTimeoutMs);

    const onHello = (hello: HelloFrame) => {
      if (gotHello) return;
      gotHello = true;
      clearTimeout(helloTimer);
      const beatMs = o.heartbeatMs ?? hello.heartbeatSec * 1000;
      beat = setInterval(() => {
        const silentMs = Date.now() - lastFrameAt;
        if (silentMs > beatMs * DEAD_AFTER_BEATS) {
          o.log.warn("relay_heartbeat_timeout", { silentMs });
          abandon(CLOSE_GIVE_UP, "heartbeat timeout");
        } else if (ws.readyState === OPEN) ws.send(JSON.stringify({ type: "ping" }));
      }, beatMs);
      o.onReady(ws, hello);
    };

    ws.onmessage = (ev: MessageEvent) => {
      if (settled) return;
      lastFrameAt = Date.now();
      o.onActivity(lastFrameAt);
      if (typeof ev.data !== "string") return;
      const parsed = parseServerFrame(ev.data);
      if (!parsed.ok) o.onBadFrame(ev.data, parsed.message);
      else if (parsed.frame.type === "hello") onHello(parsed.frame);
      else o.onFrame(parsed.frame);
    };
    ws.onerror = (ev: Event) => {
      const message = (ev as Event & { message?: string }).message;
      if (message) o.log.debug("relay_socket_error", { error: errorText(message, [o.token]) });
    };
    ws.onclose = (ev: CloseEvent) => finish({ code: ev.code, reason: ev.reason ?? "", gotHello });
  });
}
