/**
 * Long-connection gateway (reference §3): `POST /callback/ws/endpoint` hands out a one-time ws URL; the socket
 * speaks binary `pbbp2.Frame`s. Events go out only after the client's first ping (the SDK under Node attaches its
 * message listener late), and each push resolves when the client acks it.
 */
import { randomBytes } from "node:crypto";
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { type FakeContext, hex, ok, parseJsonObject, type Reply, WaitableList } from "./feishu-common.ts";
import { decodeFrame, encodeFrame, type Frame, type FrameHeader, frameHeader } from "./pbbp2.ts";

/** Seconds, as the real gateway sends them; fractions work with the Node SDK (it multiplies by 1000). */
export interface WsClientConfig {
  PingInterval: number;
  ReconnectCount: number;
  ReconnectInterval: number;
  ReconnectNonce: number;
}

export const DEFAULT_WS_CLIENT_CONFIG: WsClientConfig = {
  PingInterval: 2,
  ReconnectCount: -1,
  ReconnectInterval: 1,
  ReconnectNonce: 1,
};

export const WS_SERVICE_ID = 7;
export const WS_MAX_CONNECTIONS = 50;

export interface WsConnData {
  id: number;
  deviceId: string;
}

export interface WsAck {
  /** The gateway's frame `message_id` header (not a Feishu om_ id). */
  frameMessageId: string;
  /** `code` of the ack payload: 200 ok, 500 when the handler threw. */
  code: number;
  /** Decoded `data` of the ack (base64 JSON of the handler's return value), when present. */
  data?: unknown;
  bizRt?: string;
  traceId?: string;
  connectionId: number;
  headers: FrameHeader[];
  at: number;
}

export interface WsPushOptions {
  /** Split the payload into this many fragments (sum=N, seq=0..N-1). */
  fragments?: number;
  /** Reuse a frame message_id (e.g. to mimic a gateway re-send). */
  frameMessageId?: string;
  /** Reject when no ack arrives in time (default 10 s). */
  timeoutMs?: number;
}

interface Pending {
  frameMessageId: string;
  type: string;
  payload: Uint8Array;
  fragments: number;
  awaitAck: boolean;
  resolve: (ack: WsAck | undefined) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  connectionId?: number;
}

interface Conn {
  ws: ServerWebSocket<WsConnData>;
  ready: boolean;
  seq: bigint;
}

export class WsGateway {
  clientConfig: WsClientConfig = { ...DEFAULT_WS_CLIENT_CONFIG };
  /** Turn off to simulate a half-open gateway that stops answering pings. */
  answerPings = true;
  /** Re-send events whose connection closed before the ack (at-least-once, like the platform). */
  redeliverUnacked = true;
  maxConnections = WS_MAX_CONNECTIONS;
  readonly acks = new WaitableList<WsAck>();
  /** Every connection that became ready (first ping seen), for waiting on (re)connects. */
  readonly readyLog = new WaitableList<{ connectionId: number; at: number }>();
  endpointCalls = 0;
  private endpointFailures: { remaining: number; code: number; msg: string }[] = [];
  private readonly conns = new Map<number, Conn>();
  private readonly tickets = new Set<string>();
  private queue: Pending[] = [];
  private readonly inflight = new Map<string, Pending>();
  private nextConnId = 1;

  constructor(
    private readonly ctx: FakeContext,
    private readonly baseWsUrl: () => string,
  ) {}

  get connections(): number {
    return this.conns.size;
  }

  get readyConnections(): number {
    return [...this.conns.values()].filter((c) => c.ready).length;
  }

  /** Make the next `n` endpoint calls answer `code` (e.g. 1000040343 retryable, 514 auth failed). */
  failEndpointNext(n: number, code: number, msg = "fake endpoint failure"): void {
    this.endpointFailures.push({ remaining: n, code, msg });
  }

  /**
   * POST /callback/ws/endpoint. Failures answer HTTP 200 with a non-zero code and `data:{}`: the SDK reads
   * `data.URL` before looking at `code`, and a missing `data` would turn a fatal error into endless retries.
   */
  endpoint(rawBody: string): Reply {
    this.endpointCalls++;
    const failure = this.endpointFailures[0];
    if (failure) {
      if (--failure.remaining <= 0) this.endpointFailures.shift();
      return ok({ code: failure.code, msg: failure.msg, data: {} });
    }
    const body = parseJsonObject(rawBody);
    if (!body || body.AppID !== this.ctx.appId || body.AppSecret !== this.ctx.appSecret) {
      return ok({ code: 514, msg: "auth failed", data: {} });
    }
    if (this.conns.size >= this.maxConnections) {
      return ok({ code: 1000040350, msg: "exceed connection limit", data: {} });
    }
    const ticket = hex(16);
    this.tickets.add(ticket);
    // fpid first: the SDK parses the whole URL with querystring, so the first key carries the URL prefix.
    const query = new URLSearchParams({
      fpid: "1",
      aid: "552564",
      device_id: `dev${this.nextConnId}`,
      access_key: hex(16),
      service_id: String(WS_SERVICE_ID),
      ticket,
    });
    return ok({
      code: 0,
      msg: "ok",
      data: { URL: `${this.baseWsUrl()}/ws/v2?${query}`, ClientConfig: { ...this.clientConfig } },
    });
  }

  /** Upgrades `/ws/v2?…&ticket=…`; a ticket works once. Rejections carry the Handshake-* headers. */
  upgrade(req: Request, url: URL, server: Server<WsConnData>): Response | undefined {
    const ticket = url.searchParams.get("ticket") ?? "";
    if (!this.tickets.delete(ticket)) {
      return new Response("forbidden", {
        status: 403,
        headers: {
          "Handshake-Status": "403",
          "Handshake-Msg": "invalid ticket",
          "Handshake-Autherrcode": "403",
        },
      });
    }
    const data: WsConnData = { id: this.nextConnId++, deviceId: url.searchParams.get("device_id") ?? "" };
    if (server.upgrade(req, { data })) return undefined;
    return new Response("upgrade failed", { status: 400 });
  }

  readonly handlers: WebSocketHandler<WsConnData> = {
    open: (ws) => {
      this.conns.set(ws.data.id, { ws, ready: false, seq: 0n });
    },
    message: (ws, message) => this.onMessage(ws, message),
    close: (ws) => this.onClose(ws.data.id),
    // The SDK's own ping frames keep the socket busy; no need for transport-level idle handling.
    idleTimeout: 0,
  };

  private onMessage(ws: ServerWebSocket<WsConnData>, message: string | Uint8Array): void {
    if (typeof message === "string") return;
    let frame: Frame;
    try {
      frame = decodeFrame(message);
    } catch {
      return; // A broken frame from a client is its problem; the real gateway ignores it too.
    }
    const conn = this.conns.get(ws.data.id);
    if (!conn) return;
    const type = frameHeader(frame, "type");
    if (frame.method === 0 && type === "ping") this.onPing(conn, frame);
    else if (frame.method === 1) this.onAck(conn, frame);
  }

  private onPing(conn: Conn, ping: Frame): void {
    if (this.answerPings) {
      const payload = new TextEncoder().encode(JSON.stringify(this.clientConfig));
      conn.ws.send(
        encodeFrame({
          seqId: 0n,
          logId: 0n,
          service: ping.service,
          method: 0,
          headers: [{ key: "type", value: "pong" }],
          payload,
        }),
      );
    }
    if (!conn.ready) {
      conn.ready = true;
      this.readyLog.push({ connectionId: conn.ws.data.id, at: Date.now() });
      this.flush();
    }
  }

  private onAck(conn: Conn, frame: Frame): void {
    const frameMessageId = frameHeader(frame, "message_id") ?? "";
    let payload: { code?: unknown; data?: unknown } = {};
    try {
      payload = JSON.parse(new TextDecoder().decode(frame.payload ?? new Uint8Array())) as typeof payload;
    } catch {
      // keep the empty payload: recorded as code 0 so tests notice
    }
    const ack: WsAck = {
      frameMessageId,
      code: typeof payload.code === "number" ? payload.code : 0,
      data: typeof payload.data === "string" ? decodeAckData(payload.data) : undefined,
      bizRt: frameHeader(frame, "biz_rt"),
      traceId: frameHeader(frame, "trace_id"),
      connectionId: conn.ws.data.id,
      headers: frame.headers,
      at: Date.now(),
    };
    this.acks.push(ack);
    const pending = this.inflight.get(frameMessageId);
    if (pending) {
      this.inflight.delete(frameMessageId);
      clearTimeout(pending.timer);
      pending.resolve(ack);
    }
  }

  private onClose(id: number): void {
    this.conns.delete(id);
    for (const [key, pending] of this.inflight) {
      if (pending.connectionId !== id) continue;
      this.inflight.delete(key);
      if (this.redeliverUnacked) this.queue.unshift(pending);
    }
  }

  /** Sends an event (v2 envelope as UTF-8 JSON) and resolves with the client's ack. */
  pushEvent(envelope: unknown, opts: WsPushOptions = {}): Promise<WsAck> {
    const payload = new TextEncoder().encode(JSON.stringify(envelope));
    return this.enqueue("event", payload, true, opts) as Promise<WsAck>;
  }

  /** Sends any data frame (e.g. type "card", or a garbage payload); resolves once written, no ack expected. */
  async pushRaw(type: string, payload: Uint8Array | string, opts: WsPushOptions = {}): Promise<void> {
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    await this.enqueue(type, bytes, false, opts);
  }

  private enqueue(
    type: string,
    payload: Uint8Array,
    awaitAck: boolean,
    opts: WsPushOptions,
  ): Promise<WsAck | undefined> {
    const promise = new Promise<WsAck | undefined>((resolve, reject) => {
      const frameMessageId = opts.frameMessageId ?? `msg_${hex(12)}`;
      const timeoutMs = opts.timeoutMs ?? 10_000;
      const pending: Pending = {
        frameMessageId,
        type,
        payload,
        fragments: Math.max(1, Math.floor(opts.fragments ?? 1)),
        awaitAck,
        resolve,
        reject,
        timer: setTimeout(() => this.expire(pending, timeoutMs), timeoutMs),
      };
      this.queue.push(pending);
      this.flush();
    });
    // Fire-and-forget pushes must not surface as unhandled rejections on timeout or reset;
    // callers that await still see the error.
    promise.catch(() => {});
    return promise;
  }

  private expire(pending: Pending, timeoutMs: number): void {
    this.queue = this.queue.filter((p) => p !== pending);
    this.inflight.delete(pending.frameMessageId);
    pending.reject(new Error(`fake feishu ws: no ack for ${pending.frameMessageId} within ${timeoutMs} ms`));
  }

  /** Delivers queued frames to a random ready connection (cluster mode: one client gets each event). */
  private flush(): void {
    const ready = [...this.conns.values()].filter((c) => c.ready);
    if (ready.length === 0) return;
    const queue = this.queue;
    this.queue = [];
    for (const pending of queue) {
      const conn = ready[Math.floor(Math.random() * ready.length)];
      this.sendFrames(conn, pending);
      if (pending.awaitAck) {
        pending.connectionId = conn.ws.data.id;
        this.inflight.set(pending.frameMessageId, pending);
      } else {
        clearTimeout(pending.timer);
        pending.resolve(undefined);
      }
    }
  }

  private sendFrames(conn: Conn, pending: Pending): void {
    const traceId = hex(8);
    const size = Math.ceil(pending.payload.length / pending.fragments);
    for (let seq = 0; seq < pending.fragments; seq++) {
      conn.seq++;
      const frame: Frame = {
        seqId: conn.seq,
        logId: randomBytes(8).readBigUInt64BE() >> 1n,
        service: WS_SERVICE_ID,
        method: 1,
        headers: [
          { key: "type", value: pending.type },
          { key: "message_id", value: pending.frameMessageId },
          { key: "sum", value: String(pending.fragments) },
          { key: "seq", value: String(seq) },
          { key: "trace_id", value: traceId },
        ],
        payload: pending.payload.subarray(seq * size, (seq + 1) * size),
        logIdNew: `${Date.now()}_${hex(6)}`,
      };
      conn.ws.send(encodeFrame(frame));
    }
  }

  /** Closes every socket so clients reconnect. `abrupt` drops TCP without a close frame. */
  dropConnections(opts: { abrupt?: boolean } = {}): void {
    for (const conn of this.conns.values()) {
      if (opts.abrupt) conn.ws.terminate();
      else conn.ws.close(1001, "going away");
    }
  }

  /** Resolves once `count` connections have become ready (first ping) since `since` (a Date.now() value). */
  waitForReady(count = 1, timeoutMs = 5000, since = 0): Promise<void> {
    let seen = 0;
    return this.readyLog
      .waitFor((entry) => entry.at >= since && ++seen >= count, timeoutMs, `${count} ready ws connection(s)`)
      .then(() => undefined);
  }

  reset(): void {
    this.acks.clear();
    this.readyLog.clear();
    this.endpointFailures = [];
    this.endpointCalls = 0;
    for (const pending of [...this.queue, ...this.inflight.values()]) {
      clearTimeout(pending.timer);
      pending.reject(new Error("fake feishu reset"));
    }
    this.queue = [];
    this.inflight.clear();
  }

  stop(): void {
    this.reset();
    this.dropConnections({ abrupt: true });
  }
}

function decodeAckData(base64: string): unknown {
  try {
    return JSON.parse(Buffer.from(base64, "base64").toString("utf8"));
  } catch {
    return base64;
  }
}
