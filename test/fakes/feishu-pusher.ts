/** The platform side of webhook delivery: POSTs envelopes to the relay like Feishu does (reference §1). */
import { randomInt, randomUUID } from "node:crypto";
import type { FakeContext } from "./feishu-common.ts";
import {
  type Envelope,
  encryptFeishu,
  envelopeMessage,
  signFeishu,
  withNewEventId,
} from "./feishu-events.ts";

export interface PushOptions {
  /** Encrypt with this key; `undefined` uses the fake's default key, `""` sends plaintext. */
  encryptKey?: string;
  /** Overrides the verification token inside the envelope (header.token or token). */
  verificationToken?: string;
  /** Send the X-Lark-* signature headers. Default: only when encrypting (a plaintext push signs with key ""). */
  sign?: boolean;
  /** Corrupt the signature (flip its last hex digit). */
  badSignature?: boolean;
  /** X-Lark-Request-Timestamp in unix seconds (default: fake clock); for freshness tests. */
  timestamp?: number;
  nonce?: string;
  /** Pretty-print the JSON so that re-serialising the parsed body no longer equals the raw bytes. */
  pretty?: boolean;
  headers?: Record<string, string>;
  /** The platform waits 3 s for an answer; after that the push counts as failed. */
  timeoutMs?: number;
}

export interface PushRequest {
  url: string;
  rawBody: string;
  headers: Record<string, string>;
  envelope: Envelope;
  options: PushOptions;
}

export interface PushResult {
  /** HTTP status, or 0 when there was no answer in time / the connection failed. */
  status: number;
  body: string;
  json?: unknown;
  timedOut: boolean;
  error?: string;
  durationMs: number;
  request: PushRequest;
}

/** The documented retry schedule (15 s, 5 min, 1 h, 6 h) scaled down 1000× for tests. */
export const DEFAULT_RETRY_DELAYS_MS = [15, 300, 3600, 21600];

export class WebhookPusher {
  readonly pushes: PushResult[] = [];

  constructor(private readonly ctx: FakeContext) {}

  /** Builds the raw body and headers exactly as they will go on the wire. */
  prepare(url: string, envelope: Envelope, options: PushOptions = {}): PushRequest {
    const withToken =
      options.verificationToken === undefined ? envelope : setToken(envelope, options.verificationToken);
    const plaintext = JSON.stringify(withToken, null, options.pretty ? 2 : undefined);
    const key = options.encryptKey ?? this.ctx.encryptKey;
    const rawBody = key
      ? JSON.stringify({ encrypt: encryptFeishu(plaintext, key) }, null, options.pretty ? 2 : undefined)
      : plaintext;
    const headers: Record<string, string> = {
      "content-type": "application/json;charset=utf-8",
      "user-agent": "Go-http-client/1.1",
      "x-request-id": randomUUID(),
    };
    if (options.sign ?? key !== "") {
      const timestamp = String(options.timestamp ?? Math.floor(this.ctx.clock() / 1000));
      const nonce = options.nonce ?? String(randomInt(100000000, 999999999));
      let signature = signFeishu(timestamp, nonce, key, rawBody);
      if (options.badSignature) signature = signature.slice(0, -1) + (signature.endsWith("0") ? "1" : "0");
      headers["x-lark-request-timestamp"] = timestamp;
      headers["x-lark-request-nonce"] = nonce;
      headers["x-lark-signature"] = signature;
    }
    return { url, rawBody, headers: { ...headers, ...options.headers }, envelope, options };
  }

  async push(url: string, envelope: Envelope, options: PushOptions = {}): Promise<PushResult> {
    this.remember(envelope);
    return this.send(this.prepare(url, envelope, options));
  }

  /** Sends a prepared request byte for byte (same body, same signature headers): a replay. */
  async send(request: PushRequest): Promise<PushResult> {
    const started = performance.now();
    const timeoutMs = request.options.timeoutMs ?? 3000;
    let result: PushResult;
    try {
      const res = await fetch(request.url, {
        method: "POST",
        headers: request.headers,
        body: request.rawBody,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await res.text();
      result = { status: res.status, body, json: tryJson(body), timedOut: false, durationMs: 0, request };
    } catch (error) {
      const timedOut =
        error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      result = { status: 0, body: "", timedOut, error: String(error), durationMs: 0, request };
    }
    result.durationMs = performance.now() - started;
    this.pushes.push(result);
    return result;
  }

  /**
   * Re-delivers a pushed event. Default: same envelope (same event_id), freshly encrypted and signed, as an
   * at-least-once duplicate. `newEventId`: same message_id under a new event_id. `sameBytes`: a byte-exact replay.
   */
  repush(
    previous: PushResult,
    opts: { newEventId?: boolean; sameBytes?: boolean } = {},
  ): Promise<PushResult> {
    const req = previous.request;
    if (opts.sameBytes) return this.send(req);
    const envelope = opts.newEventId ? withNewEventId(req.envelope) : req.envelope;
    return this.push(req.url, envelope, req.options);
  }

  /** Pushes until HTTP 200, waiting `retryDelaysMs[i]` between tries, like the platform's retry schedule. */
  async pushWithRetries(
    url: string,
    envelope: Envelope,
    options: PushOptions & { retryDelaysMs?: number[] } = {},
  ): Promise<PushResult[]> {
    const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const results = [await this.push(url, envelope, options)];
    for (const delay of delays) {
      if (results[results.length - 1].status === 200) break;
      await Bun.sleep(delay);
      results.push(await this.push(url, envelope, options));
    }
    return results;
  }

  remember(envelope: unknown): void {
    const m = envelopeMessage(envelope);
    if (m) this.ctx.messages.set(m.messageId, { chatId: m.chatId, rootId: m.rootId, threadId: m.threadId });
  }
}

function setToken(envelope: Envelope, token: string): Envelope {
  const copy = structuredClone(envelope);
  if ("schema" in copy) copy.header.token = token;
  else copy.token = token;
  return copy;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
