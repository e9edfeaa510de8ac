/**
 * A scriptable stand-in for the relay's `/openclaw` endpoint: a real Bun WebSocket server on
 * 127.0.0.1 (port 0) that speaks protocol v1 with the shared frame schemas. By default it greets
 * with `hello`, answers `ping` with `pong` and every `send` with `sent`; tests override per call.
 * On the same port it serves the two media endpoints of feature `media` (`GET /api/media/:id` from
 * `mediaFiles`, `PUT /api/media` recorded in `uploads`), with the relay's status codes and error shape.
 */
import type { ServerWebSocket } from "bun";
import {
  type ClientFrame,
  type DraftFrame,
  HEARTBEAT_SEC,
  type HelloFrame,
  type MessageFrame,
  PROTOCOL_VERSION,
  parseClientFrame,
  type SendFrame,
  type ServerFrame,
} from "../../../src/relay/protocol.ts";

export interface RelayConn {
  n: number;
  token: string | null;
  userAgent: string | null;
  ws: ServerWebSocket<ConnData>;
  frames: ClientFrame[];
  closed?: { code: number; reason: string };
  send(frame: ServerFrame): void;
}

interface ConnData {
  conn?: RelayConn;
  token: string | null;
  userAgent: string | null;
}

export type SendAnswer = (frame: SendFrame, conn: RelayConn) => ServerFrame | undefined;

/** One file `GET /api/media/:id` serves. */
export interface FakeMediaFile {
  bytes: Uint8Array;
  mime: string;
  name?: string;
  /** Stream without Content-Length (as when Feishu gives none). */
  unannounced?: boolean;
}

export interface MediaRequest {
  method: string;
  path: string;
  authorization: string | null;
}

export interface FakeUpload {
  mediaId: string;
  bytes: Uint8Array;
  contentType: string | null;
  fileName: string | null;
}

/** A relay error answer: `{"error":{"code","message"}}`. */
export function errorResponse(status: number, code: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error: { code, message: `${code} (fake relay)` } }, { status, headers });
}

export interface FakeRelayOptions {
  /** What happens when a socket opens; default: send `hello`. */
  onOpen?: (conn: RelayConn) => void;
  /** How to answer a `send`; default: `sent` with a fresh om_ id. Return undefined to stay silent. */
  answerSend?: SendAnswer;
  /** How to answer a `draft` (feature `stream`); default: no answer, as the relay does when all is well. */
  answerDraft?: (frame: DraftFrame, conn: RelayConn) => ServerFrame | undefined;
  /** Answer pings (default true). */
  pong?: boolean;
  /** `GET /api/media/:id` serves these, by attachment id; other ids answer 404. */
  mediaFiles?: Record<string, FakeMediaFile>;
  /** Overrides any media request (e.g. a 429 or a 415); undefined = default handling. */
  mediaAnswer?: (req: Request, path: string) => Response | undefined;
  /** The token the media endpoints accept (401 otherwise); default: any. */
  mediaToken?: string;
}

export const OWNER = { id: "7", openId: "ou_owner", name: "Owner" };

export function helloFrame(overrides: Partial<HelloFrame> = {}): HelloFrame {
  return {
    type: "hello",
    protocol: PROTOCOL_VERSION,
    sessionId: crypto.randomUUID(),
    user: OWNER,
    bot: { openId: "ou_bot", name: "Bot" },
    pending: 0,
    heartbeatSec: HEARTBEAT_SEC,
    ...overrides,
  };
}

export function messageFrame(seq: number, overrides: Partial<MessageFrame> = {}): MessageFrame {
  return {
    type: "message",
    seq,
    messageId: `om_msg${seq}`,
    chatId: "oc_dm",
    chatType: "p2p",
    sender: { openId: OWNER.openId, name: OWNER.name },
    mentionedBot: false,
    msgType: "text",
    text: `hello ${seq}`,
    content: { text: `hello ${seq}` },
    mentions: [],
    createTime: 1_700_000_000_000 + seq,
    ...overrides,
  };
}

let sentCounter = 0;
export function answerSent(f: SendFrame): ServerFrame {
  return { type: "sent", id: f.id, messageId: `om_sent${++sentCounter}` };
}

export class FakeRelay {
  readonly conns: RelayConn[] = [];
  readonly mediaRequests: MediaRequest[] = [];
  readonly uploads: FakeUpload[] = [];
  readonly opts: FakeRelayOptions;
  readonly server: ReturnType<typeof Bun.serve>;
  #waiters: Array<() => void> = [];

  constructor(opts: FakeRelayOptions = {}) {
    this.opts = opts;
    this.server = Bun.serve<ConnData, never>({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req, server) => {
        const url = new URL(req.url);
        if (url.pathname.startsWith("/api/media")) return this.#media(req, url.pathname);
        const data: ConnData = {
          token: url.searchParams.get("token"),
          userAgent: req.headers.get("user-agent"),
        };
        return server.upgrade(req, { data }) ? undefined : new Response("upgrade required", { status: 426 });
      },
      websocket: {
        open: (ws) => {
          const conn: RelayConn = {
            n: this.conns.length + 1,
            token: ws.data.token,
            userAgent: ws.data.userAgent,
            ws,
            frames: [],
            send: (frame) => {
              ws.send(JSON.stringify(frame));
            },
          };
          ws.data.conn = conn;
          this.conns.push(conn);
          (this.opts.onOpen ?? ((c) => c.send(helloFrame())))(conn);
          this.#notify();
        },
        message: (ws, raw) => {
          const conn = ws.data.conn!;
          const parsed = parseClientFrame(String(raw));
          if (!parsed.ok) throw new Error(`plugin sent a bad frame: ${parsed.message}: ${raw}`);
          const frame = parsed.frame;
          conn.frames.push(frame);
          if (frame.type === "ping" && this.opts.pong !== false) conn.send({ type: "pong" });
          if (frame.type === "send") {
            const answer = (this.opts.answerSend ?? answerSent)(frame, conn);
            if (answer) conn.send(answer);
          }
          if (frame.type === "draft") {
            const answer = this.opts.answerDraft?.(frame, conn);
            if (answer) conn.send(answer);
          }
          this.#notify();
        },
        close: (ws, code, reason) => {
          const conn = ws.data.conn;
          if (conn) conn.closed = { code, reason };
          this.#notify();
        },
      },
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.server.port}/openclaw`;
  }

  /** Every frame of a type the plugin sent, over all connections, in order. */
  framesOf<T extends ClientFrame["type"]>(type: T): Extract<ClientFrame, { type: T }>[] {
    return this.conns.flatMap((c) =>
      c.frames.filter((f): f is Extract<ClientFrame, { type: T }> => f.type === type),
    );
  }

  /** Resolves once `check` returns a truthy value (re-checked on every socket event). */
  async waitFor<T>(
    check: () => T | undefined | null | false,
    timeoutMs = 2000,
    what = "condition",
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  get httpBase(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  stop(): void {
    this.server.stop(true);
  }

  async #media(req: Request, path: string): Promise<Response> {
    const authorization = req.headers.get("authorization");
    this.mediaRequests.push({ method: req.method, path, authorization });
    this.#notify();
    const scripted = this.opts.mediaAnswer?.(req, path);
    if (scripted) return scripted;
    if (
      !authorization?.startsWith("Bearer ") ||
      (this.opts.mediaToken && authorization !== `Bearer ${this.opts.mediaToken}`)
    )
      return errorResponse(401, "unauthorized");
    if (req.method === "PUT" && path === "/api/media") {
      const bytes = new Uint8Array(await req.arrayBuffer());
      if (bytes.byteLength === 0) return errorResponse(400, "empty_media");
      const upload: FakeUpload = {
        mediaId: `med_${this.uploads.length + 1}`,
        bytes,
        contentType: req.headers.get("content-type"),
        fileName: req.headers.get("x-file-name"),
      };
      this.uploads.push(upload);
      this.#notify();
      const name = upload.fileName ? decodeURIComponent(upload.fileName) : undefined;
      return Response.json(
        {
          mediaId: upload.mediaId,
          size: bytes.byteLength,
          mime: upload.contentType ?? "",
          name,
          expiresAt: Date.now() + 86_400_000,
        },
        { status: 201 },
      );
    }
    const id = decodeURIComponent(path.slice("/api/media/".length));
    const file = req.method === "GET" ? this.opts.mediaFiles?.[id] : undefined;
    if (!file) return errorResponse(404, "not_found");
    const headers: Record<string, string> = { "content-type": file.mime };
    if (file.name)
      headers["content-disposition"] = `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`;
    if (!file.unannounced) return new Response(file.bytes as unknown as BodyInit, { headers });
    // A stream of unknown length: Bun then answers chunked, without Content-Length.
    const chunk = 256;
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= file.bytes.byteLength) return controller.close();
        controller.enqueue(file.bytes.slice(at, at + chunk));
        at += chunk;
      },
    });
    return new Response(body, { headers });
  }

  #notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** An `onOpen` that sends `hello` and then the given frames. */
export function greetWith(...frames: ServerFrame[]): (conn: RelayConn) => void {
  return (conn) => {
    conn.send(helloFrame());
    for (const f of frames) conn.send(f);
  };
}
