/**
 * What happens to a Feishu event once it is authentic and parsed, for the webhook and the long
 * connection alike: find the owner, decide whether the message counts, and store it in the durable
 * inbox (which dedupes on event_id and message_id). Resolves only after the commit, so the caller
 * acknowledges Feishu after the message is safe. Delivery to the plugin follows `inbox.onStored`.
 */

import { routeMessage } from "../groups/group-routing.ts";
import type { IngestGroups } from "../groups/ingest-groups.ts";
import { HttpError } from "../ops/errors.ts";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import type { Inbox } from "../relay/inbox.ts";
import type { Awaitable } from "../storage/storage.ts";
import { withMediaUrls } from "./attachments.ts";
import {
  type BotMembership,
  type EventMeta,
  eventTypeLabel,
  type FeishuEvent,
  type ParsedMessage,
  toInbound,
} from "./event-parser.ts";

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
  /** Storing a message pushed its owner over the offline cap: the oldest `dropped` are gone. */
  droppedOverCap(drop: { userId: number; openId: string; dropped: number; oldestReceivedAt: number }): void;
}

export interface IngestDeps {
  inbox: Pick<Inbox, "accept" | "markEventSeen">;
  userByOpenId(openId: string): Awaitable<{ id: number; name: string } | undefined>;
  /** A user's open_id, for notices to the owner of a bound group's inbox. */
  userOpenId?(userId: number): Promise<string | undefined>;
  bot: BotIdentity;
  notices: IngestNotices;
  log: Logger;
  metrics: Registry;
  /** The relay's public address: attachments get `<publicUrl>/api/media/<id>` as their `url`. */
  publicUrl?: string;
  /** How long a group message may wait for the bot's identity (Feishu wants an answer within 3 s). */
  botTimeoutMs?: number;
  /** M2-4: group bindings, /bind and /unbind, the bot joining or leaving groups. Absent: M1 routing. */
  groups?: IngestGroups;
}

export type IngestOutcome =
  | "stored"
  | "duplicate"
  | "unknown_sender"
  | "not_mentioned"
  | "from_bot"
  | "ignored_type"
  | "group_command"
  | "bot_added"
  | "bot_removed";

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
  readonly #botTimeoutMs: number;
  #laterQueue: Array<() => void> = [];
  /** `events_received_total` by source, then by type label. */
  readonly #countReceived: Record<EventSource, (type: string) => void>;

  constructor(deps: IngestDeps) {
    this.#deps = deps;
    this.#botTimeoutMs = deps.botTimeoutMs ?? 2000;
    const received = deps.metrics.counter(
      "events_received_total",
      "Feishu events received, by source and type.",
    );
    const bySource = (source: EventSource) => received.seriesBy((type: string) => ({ source, type }));
    this.#countReceived = { webhook: bySource("webhook"), ws: bySource("ws") };
  }

  /** The URL-verification challenge is answered by the route; it is counted and logged like any event. */
  challengeAnswered(source: EventSource): void {
    this.#countReceived[source]("url_verification");
    this.#deps.log.info("feishu_event_received", {
      source,
      eventType: "url_verification",
      outcome: "challenge",
    });
  }

  /** Routes and stores one event; resolves after the commit. Logs one line per event, never the text. */
  async ingest(
    event: Exclude<FeishuEvent, { kind: "challenge" }>,
    source: EventSource,
  ): Promise<IngestOutcome> {
    this.#countReceived[source](eventTypeLabel(event.meta.eventType));
    const { log } = this.#deps;
    try {
      const result = await this.#route(event);
      // The hot path builds the line only when it is written (production runs at info, benches at warn).
      if (log.enabled("info")) log.info("feishu_event_received", { ...logLine(event, source), ...result });
      return result.outcome;
    } catch (err) {
      // Not acknowledged: Feishu pushes it again later.
      log.warn("feishu_event_received", {
        ...logLine(event, source),
        outcome: "retry_later",
        err: err as Error,
      });
      throw err;
    }
  }

  async #route(
    event: Exclude<FeishuEvent, { kind: "challenge" }>,
  ): Promise<{ outcome: IngestOutcome; userId?: number; seq?: number }> {
    if (event.kind === "other") return { outcome: await this.#markSeen(event.meta, "ignored_type") };
    if (event.kind === "membership") return { outcome: await this.#membership(event.meta, event.membership) };
    const { message, meta } = event;
    if (event.senderType !== "user") return { outcome: await this.#markSeen(meta, "from_bot") };
    // Awaited only when there is something to wait for: most messages mention nobody, and SQLite
    // answers the user lookup synchronously (a promise turn less each, on the hot path).
    const mentions = message.mentions.length > 0 || message.atOpenIds.length > 0;
    const inbound = toInbound(message, mentions ? await this.#botOpenId(message) : undefined);
    const found = this.#deps.userByOpenId(message.sender.openId);
    const user = found instanceof Promise ? await found : found;
    const groups = this.#deps.groups;
    const binding = inbound.chatType === "group" ? await groups?.binding(message.chatId) : undefined;
    const route = routeMessage(inbound, binding, user, groups !== undefined);
    if (route.kind === "not_mentioned") return { outcome: await this.#markSeen(meta, "not_mentioned") };
    if (route.kind === "command") {
      const outcome = await this.#markSeen(meta, "group_command");
      if (outcome === "group_command") await this.#command(route.command, message, user);
      return { outcome, ...(user ? { userId: user.id } : {}) };
    }
    if (route.kind === "unknown_sender") {
      const outcome = await this.#markSeen(meta, "unknown_sender");
      if (outcome === "unknown_sender") this.#signInHint(message);
      return { outcome };
    }
    const userId = route.userId;
    inbound.sender = { openId: message.sender.openId, ...(user?.name ? { name: user.name } : {}) };
    if (route.boundChat) inbound.boundChat = true;
    if (inbound.attachments && this.#deps.publicUrl) {
      inbound.attachments = withMediaUrls(inbound.attachments, this.#deps.publicUrl);
    }
    const result = await this.#deps.inbox.accept({ userId, eventId: meta.eventId, message: inbound });
    if (result.status === "duplicate") return { outcome: "duplicate", userId };
    this.#later(() => this.#deps.notices.storedForUser({ userId, messageId: message.messageId }));
    const trimmed = result.trimmed;
    if (trimmed) {
      // The cap notice is a DM to the owner of the inbox, who is not the sender in a bound group.
      const ownerOpenId = route.boundChat ? await this.#deps.userOpenId?.(userId) : message.sender.openId;
      if (ownerOpenId) {
        const drop = { userId, openId: ownerOpenId, ...trimmed };
        this.#later(() => this.#deps.notices.droppedOverCap(drop));
      }
    }
    return { outcome: "stored", userId, seq: result.seq };
  }

  #signInHint(message: ParsedMessage): void {
    const who = { openId: message.sender.openId, chatId: message.chatId, messageId: message.messageId };
    this.#later(() => this.#deps.notices.unknownSender(who));
  }

  /** "/bind" or "/unbind": applied now, answered after the push is; stored for nobody. */
  async #command(
    command: "bind" | "unbind",
    message: ParsedMessage,
    user: { id: number; name: string } | undefined,
  ): Promise<void> {
    const groups = this.#deps.groups;
    if (!groups) return;
    const facts = {
      chatId: message.chatId,
      senderOpenId: message.sender.openId,
      ...(user ? { sender: user } : {}),
    };
    const result = await groups.command(command, facts);
    if (result.kind === "sign_in") this.#signInHint(message);
    else this.#later(() => groups.reply(message.messageId, result.text));
  }

  /** The bot joined a group (one notice, when a user of ours added it) or left it (binding gone). */
  async #membership(meta: EventMeta, m: BotMembership): Promise<IngestOutcome> {
    const groups = this.#deps.groups;
    const outcome = await this.#markSeen(meta, m.change === "added" ? "bot_added" : "bot_removed");
    if (outcome === "duplicate" || !groups) return outcome;
    if (m.change === "removed") {
      await groups.botRemoved(m.chatId);
      return outcome;
    }
    const operator = m.operatorOpenId ? await this.#deps.userByOpenId(m.operatorOpenId) : undefined;
    if (!operator) {
      this.#deps.log.info("group_notice_skipped", { chatId: m.chatId, reason: "operator_not_registered" });
      return outcome;
    }
    if (await groups.botAdded(m.chatId)) this.#later(() => groups.postNotice(m.chatId));
    return outcome;
  }

  /** Events that store nothing still leave a dedupe mark; a re-push of one reports `duplicate`. */
  async #markSeen(meta: EventMeta, outcome: IngestOutcome): Promise<IngestOutcome> {
    return (await this.#deps.inbox.markEventSeen(meta.eventId)) ? outcome : "duplicate";
  }

  /**
   * Asked only for a message with mentions: only those need the bot's open_id. A group message must
   * know it (else 503 and Feishu re-pushes); a direct message counts anyway, so there an unknown bot
   * just means "not mentioned".
   */
  async #botOpenId(message: ParsedMessage): Promise<string | undefined> {
    try {
      return await withTimeout(this.#deps.bot.openId(), this.#botTimeoutMs);
    } catch (err) {
      if (message.chatType === "group") throw new BotIdentityUnavailable(err);
      this.#deps.log.warn("feishu_bot_identity_unavailable", { err: err as Error });
      return undefined;
    }
  }

  /**
   * Runs after the current answer is on its way; a failure is logged, never thrown at the caller.
   * One timer for everything queued in a turn (a group commit answers many events at once).
   */
  #later(fn: () => void): void {
    this.#laterQueue.push(fn);
    if (this.#laterQueue.length > 1) return;
    setImmediate(() => {
      const queued = this.#laterQueue;
      this.#laterQueue = [];
      for (const f of queued) {
        try {
          f();
        } catch (err) {
          this.#deps.log.error("feishu_notice_failed", { err: err as Error });
        }
      }
    });
  }
}

function logLine(event: Exclude<FeishuEvent, { kind: "challenge" }>, source: EventSource) {
  return {
    source,
    eventId: event.meta.eventId,
    eventType: event.meta.eventType,
    ...(event.kind === "message" ? { messageId: event.message.messageId } : {}),
    ...(event.kind === "membership" ? { chatId: event.membership.chatId } : {}),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
