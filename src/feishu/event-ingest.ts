/**
 * What happens to a Feishu event once it is authentic and parsed, for the webhook and the long
 * connection alike: find the owner, decide whether the message counts, and store it in the durable
 * inbox (which dedupes on event_id and message_id). Resolves only after the commit, so the caller
 * acknowledges Feishu after the message is safe. Delivery to the plugin follows `inbox.onStored`.
 */
import { HttpError } from "../ops/errors.ts";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import type { Inbox } from "../relay/inbox.ts";
import { type EventMeta, type FeishuEvent, type ParsedMessage, toInbound } from "./event-parser.ts";

export type EventSource = "webhook" | "ws";

/** The bot's own identity, to tell whether a message @-mentions it. */
export interface BotIdentity {
  /** The bot's open_id; rejects when it cannot be learnt right now. */
  openId(): Promise<string>;
}

/** Replies the bot sends on its own (sign-in link, "your agent is offline"); never awaited by ingest. */
export interface IngestNotices {
  unknownSender(sender: { openId: string; chatId: string; messageId: string }): void;
  storedForUser(user: { userId: number; messageId: string }): void;
}

export interface IngestDeps {
  inbox: Pick<Inbox, "accept" | "markEventSeen">;
  userByOpenId(openId: string): { id: number; name: string } | undefined;
  bot: BotIdentity;
  notices: IngestNotices;
  log: Logger;
  metrics: Registry;
  /** How long a group message may wait for the bot's identity (Feishu wants an answer within 3 s). */
  botTimeoutMs?: number;
}

export type IngestOutcome =
  | "stored"
  | "duplicate"
  | "unknown_sender"
  | "not_mentioned"
  | "from_bot"
  | "ignored_type";

/** The bot's open_id could not be learnt: the push is refused so that Feishu re-sends it later. */
export class BotIdentityUnavailable extends HttpError {
  constructor(cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(503, "bot_identity_unavailable", `the bot's open_id is unknown: ${why}`);
    this.name = "BotIdentityUnavailable";
  }
}

export class EventIngest {
  readonly #deps: IngestDeps;
  readonly #received;
  readonly #botTimeoutMs: number;

  constructor(deps: IngestDeps) {
    this.#deps = deps;
    this.#botTimeoutMs = deps.botTimeoutMs ?? 2000;
    this.#received = deps.metrics.counter(
      "events_received_total",
      "Feishu events received, by source and type.",
    );
  }

  /** Counts an event that is answered without ingesting (the URL-verification challenge). */
  countReceived(source: EventSource, type: string): void {
    this.#received.inc({ source, type });
  }

  async ingest(
    event: Exclude<FeishuEvent, { kind: "challenge" }>,
    source: EventSource,
  ): Promise<IngestOutcome> {
    this.countReceived(source, event.meta.eventType);
    const done = (outcome: IngestOutcome, extra: Record<string, unknown> = {}) => {
      this.#deps.log.info("feishu_event_received", {
        source,
        eventId: event.meta.eventId,
        eventType: event.meta.eventType,
        ...extra,
        outcome,
      });
      return outcome;
    };
    if (event.kind === "other") return done(this.#markSeen(event.meta, "ignored_type"));
    const { message, meta } = event;
    const ids = { messageId: message.messageId };
    if (event.senderType !== "user") return done(this.#markSeen(meta, "from_bot"), ids);
    const inbound = toInbound(message, await this.#botOpenId(message));
    if (inbound.chatType === "group" && !inbound.mentionedBot) {
      return done(this.#markSeen(meta, "not_mentioned"), ids);
    }
    const user = this.#deps.userByOpenId(message.sender.openId);
    if (!user) {
      const outcome = this.#markSeen(meta, "unknown_sender");
      if (outcome === "unknown_sender") {
        const who = { openId: message.sender.openId, chatId: message.chatId, messageId: message.messageId };
        this.#later(() => this.#deps.notices.unknownSender(who));
      }
      return done(outcome, ids);
    }
    inbound.sender = { openId: message.sender.openId, ...(user.name ? { name: user.name } : {}) };
    const result = await this.#deps.inbox.accept({
      userId: user.id,
      eventId: meta.eventId,
      message: inbound,
    });
    if (result.status === "stored") {
      this.#later(() => this.#deps.notices.storedForUser({ userId: user.id, messageId: message.messageId }));
      return done("stored", { ...ids, userId: user.id, seq: result.seq });
    }
    return done("duplicate", { ...ids, userId: user.id });
  }

  /** Events that store nothing still leave a dedupe mark; a re-push of one reports `duplicate`. */
  #markSeen(meta: EventMeta, outcome: IngestOutcome): IngestOutcome {
    return this.#deps.inbox.markEventSeen(meta.eventId) ? outcome : "duplicate";
  }

  /**
   * Only a message with mentions needs the bot's open_id. A group message must know it (else 503 and
   * Feishu re-pushes); a direct message counts anyway, so there an unknown bot just means "not mentioned".
   */
  async #botOpenId(message: ParsedMessage): Promise<string | undefined> {
    if (message.mentions.length === 0 && message.atOpenIds.length === 0) return undefined;
    try {
      return await withTimeout(this.#deps.bot.openId(), this.#botTimeoutMs);
    } catch (err) {
      if (message.chatType === "group") throw new BotIdentityUnavailable(err);
      this.#deps.log.warn("feishu_bot_identity_unavailable", { err: err as Error });
      return undefined;
    }
  }

  /** Runs after the current answer is on its way; a failure is logged, never thrown at the caller. */
  #later(fn: () => void): void {
    setImmediate(() => {
      try {
        fn();
      } catch (err) {
        this.#deps.log.error("feishu_notice_failed", { err: err as Error });
      }
    });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
