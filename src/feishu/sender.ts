/**
 * Sends the bot's messages (feishu-reference.md §5.1, §5.2): a new message to a user or chat, or a
 * reply to a message (into its thread when asked). Long text goes out as several messages, in
 * order, only the first quoting the message it answers (followUp); each part carries a uuid
 * derived from the caller's, so any retry — ours, the outbox's or the plugin's — never posts a
 * part twice. Resolves with Feishu's message ids, in order.
 */
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import { FeishuApiError } from "./api-error.ts";
import {
  ContentError,
  type OutgoingMessage,
  partUuid,
  type RenderedPart,
  renderParts,
  UUID_MAX,
} from "./outgoing-content.ts";
import { abortableSleep, type CallPriority, type SendRateLimiter } from "./rate-limiter.ts";
import type { FeishuRestClient } from "./rest-client.ts";
import { DEFAULT_RETRY_POLICY, type RetryMode, type RetryPolicy, sendWithRetries } from "./send-retry.ts";

export interface SendOptions {
  /** Makes the send idempotent for an hour (≤ 50 characters); generated when absent. */
  uuid?: string;
  /** "in-process" (default): wait out rate limits and retry transient failures here. "once": one attempt. */
  retry?: RetryMode;
  signal?: AbortSignal;
  /** Who the send is for (the relay's user): owners share the app-wide budget round-robin. */
  owner?: string;
  /** M2-3: `update` for a streaming card's first message (a draft); default `final`. */
  priority?: CallPriority;
}

export interface CreateRequest extends OutgoingMessage, SendOptions {
  receiveIdType: "open_id" | "chat_id";
  receiveId: string;
}

export interface ReplyRequest extends OutgoingMessage, SendOptions {
  messageId: string;
  /** True when the original message is in a thread (the answer then stays in it). */
  replyInThread?: boolean;
  /** The chat of the original message, when known: lets the per-chat limit apply to replies. */
  chatId?: string;
}

/** Where a message goes; the same shape as the relay's `DeliveryTarget`. */
export type Destination =
  | { kind: "create"; receiveIdType: "open_id" | "chat_id"; receiveId: string }
  | { kind: "reply"; messageId: string; replyInThread: boolean; chatId?: string };

export interface SenderOptions {
  client: FeishuRestClient;
  limiter: SendRateLimiter;
  log: Logger;
  metrics: Registry;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Used when a call does not say (default "in-process"). */
  defaultRetry?: RetryMode;
  policy?: Partial<RetryPolicy>;
}

const LONGEST_UUID = "u".repeat(UUID_MAX);
const encoder = new TextEncoder();

export class FeishuSender {
  readonly #o: SenderOptions;
  readonly #deps;
  /** Aborted by `close()`: every wait (limiter, back-off) ends at once; calls in flight finish. */
  readonly #closing = new AbortController();

  constructor(opts: SenderOptions) {
    this.#o = opts;
    this.#deps = {
      limiter: opts.limiter,
      now: opts.now ?? Date.now,
      sleep: opts.sleep ?? abortableSleep,
      random: opts.random ?? Math.random,
      log: opts.log,
      metrics: opts.metrics,
      policy: { ...DEFAULT_RETRY_POLICY, ...opts.policy },
    };
  }

  /** A new message to a user (`open_id`) or a chat (`chat_id`). */
  send(req: CreateRequest): Promise<string[]> {
    return this.deliver(
      { kind: "create", receiveIdType: req.receiveIdType, receiveId: req.receiveId },
      req,
      req,
    );
  }

  /** A reply to `messageId`, in its chat (and thread with `replyInThread`). */
  reply(req: ReplyRequest): Promise<string[]> {
    const dest: Destination = {
      kind: "reply",
      messageId: req.messageId,
      replyInThread: req.replyInThread ?? false,
      chatId: req.chatId,
    };
    return this.deliver(dest, req, req);
  }

  /** Ends all waits for rate limits and back-off (shutdown); those sends fail as retryable. */
  close(): void {
    this.#closing.abort(new Error("the Feishu sender is closing"));
  }

  /**
   * The outbox's entry point: a destination, the message, and the options. A reply whose target
   * was recalled (230011, or 231003 "not found or recalled") goes out once more as a new message
   * to the same chat, top level (a new message cannot name a thread), under the same uuid: the
   * refused reply posted nothing, and a retry of the whole send takes the same path again.
   */
  async deliver(dest: Destination, msg: OutgoingMessage, opts: SendOptions = {}): Promise<string[]> {
    const uuid = opts.uuid || crypto.randomUUID();
    try {
      return await this.#deliver(dest, msg, opts, uuid);
    } catch (err) {
      if (dest.kind !== "reply" || !dest.chatId || !isRecalledTarget(err)) throw err;
      this.#o.log.info("feishu_reply_target_recalled", {
        messageId: dest.messageId,
        code: (err as FeishuApiError).code,
      });
      const topLevel: Destination = { kind: "create", receiveIdType: "chat_id", receiveId: dest.chatId };
      return this.#deliver(topLevel, msg, opts, uuid);
    }
  }

  async #deliver(
    dest: Destination,
    msg: OutgoingMessage,
    opts: SendOptions,
    uuid: string,
  ): Promise<string[]> {
    const mode = opts.retry ?? this.#o.defaultRetry ?? "in-process";
    const rest = followUp(dest);
    const parts = this.#render(dest === rest ? [dest] : [dest, rest], msg);
    const waits = opts.signal ? AbortSignal.any([opts.signal, this.#closing.signal]) : this.#closing.signal;
    const ids: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const to = i === 0 ? dest : rest;
      const body = requestBody(to, parts[i]!, partUuid(uuid, i, parts.length));
      try {
        ids.push(
          await sendWithRetries(
            limiterKey(to),
            () => this.#post(to, body, opts.signal),
            mode,
            this.#deps,
            waits,
            opts.owner,
            opts.priority,
          ),
        );
      } catch (err) {
        const fields = err instanceof FeishuApiError ? err.toLog() : { err: err as Error };
        this.#o.log.warn("feishu_send_failed", {
          ...fields,
          target: to.kind,
          part: i,
          parts: parts.length,
        });
        throw err;
      }
    }
    this.#o.log.debug("feishu_message_sent", { target: dest.kind, parts: parts.length, messageId: ids[0] });
    return ids;
  }

  /** Parts that fit whichever of `dests` (the first part's and the later parts') has the larger body. */
  #render(dests: Destination[], msg: OutgoingMessage): RenderedPart[] {
    const dest = dests[0]!;
    try {
      return renderParts(msg, (part) =>
        Math.max(
          ...dests.map((d) => encoder.encode(JSON.stringify(requestBody(d, part, LONGEST_UUID))).length),
        ),
      );
    } catch (err) {
      if (!(err instanceof ContentError)) throw err;
      throw new FeishuApiError({
        kind: "content",
        code: err.code,
        msg: err.message,
        status: 0,
        retryable: false,
        api: apiName(dest),
      });
    }
  }

  async #post(dest: Destination, body: Record<string, unknown>, signal?: AbortSignal): Promise<string> {
    const path =
      dest.kind === "create"
        ? `/open-apis/im/v1/messages?receive_id_type=${dest.receiveIdType}`
        : `/open-apis/im/v1/messages/${encodeURIComponent(dest.messageId)}/reply`;
    const api = apiName(dest);
    const answer = await this.#o.client.request({ method: "POST", path, body, api, signal });
    const id = answer.data.message_id;
    if (typeof id === "string" && id) return id;
    // Retrying is safe (same uuid) and Feishu should then answer with the id.
    throw new FeishuApiError({
      kind: "http",
      code: "feishu_bad_response",
      msg: "no message_id in the answer",
      status: 200,
      logId: answer.logId,
      retryable: true,
      api,
    });
  }
}

/**
 * Where the parts after the first go. Only the first part quotes the message it answers (as the
 * official plugin's replyToMode "first"); the rest are new messages in the same chat. In a thread
 * every part stays a reply so the answer stays in the topic; without the chat id, replies it is.
 */
export function followUp(dest: Destination): Destination {
  if (dest.kind !== "reply" || dest.replyInThread || !dest.chatId) return dest;
  return { kind: "create", receiveIdType: "chat_id", receiveId: dest.chatId };
}

/** Feishu codes for "the message you reply to is gone" (reference §5.2; PARITY §1.2). */
export const RECALLED_TARGET_CODES: ReadonlySet<number | string> = new Set([230011, 231003]);

function isRecalledTarget(err: unknown): boolean {
  return err instanceof FeishuApiError && RECALLED_TARGET_CODES.has(err.code);
}

function apiName(dest: Destination): string {
  return dest.kind === "create" ? "im.message.create" : "im.message.reply";
}

/** Rate-limit key: the chat or user; a reply without its chat id is keyed by the original message. */
function limiterKey(dest: Destination): string {
  if (dest.kind === "create")
    return `${dest.receiveIdType === "chat_id" ? "chat" : "user"}:${dest.receiveId}`;
  return dest.chatId ? `chat:${dest.chatId}` : `message:${dest.messageId}`;
}

function requestBody(dest: Destination, part: RenderedPart, uuid: string): Record<string, unknown> {
  if (dest.kind === "create") {
    return { receive_id: dest.receiveId, msg_type: part.msgType, content: part.content, uuid };
  }
  return {
    msg_type: part.msgType,
    content: part.content,
    ...(dest.replyInThread ? { reply_in_thread: true } : {}),
    uuid,
  };
}
