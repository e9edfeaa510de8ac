/**
 * The replies ingest triggers on its own (DESIGN §5): the sign-in link for an unknown sender (at most
 * once per 10 min per sender), "your agent is offline, the message is queued" (at most once per
 * hour per user), and a DM to the owner when the offline cap dropped queued messages (at most once
 * per 30 min per user, counting every drop since the last one). The onboarding decisions live in
 * users/onboarding.ts; this sends them, off the answer's path.
 */
import type { RelayContext } from "../context.ts";
import { KeyedTurns } from "../ops/keyed-turns.ts";
import type { Logger } from "../ops/logger.ts";
import {
  offlineNoticeText,
  onboardingText,
  shouldNotifyOffline,
  shouldOnboard,
} from "../users/onboarding.ts";
import type { IngestNotices } from "./event-ingest.ts";

type DroppedOverCap = Parameters<IngestNotices["droppedOverCap"]>[0];

/** A plain-text reply to a received message (it lands in that chat, or thread). */
export type TextReply = (messageId: string, text: string) => Promise<unknown>;

/** A plain-text direct message to a user; `uuid` makes a retried send idempotent. */
export type DirectMessage = (openId: string, text: string, uuid: string) => Promise<unknown>;

/** At most one "messages were dropped" DM per user this often; later drops are counted into the next. */
export const DROP_NOTICE_INTERVAL_MS = 30 * 60 * 1000;

/** Drops not yet told to their owner, per user. */
interface DropTally {
  dropped: number;
  oldestReceivedAt: number;
}

export interface NoticeDeps extends Pick<RelayContext, "kv" | "now" | "hub"> {
  publicUrl: string;
  log: Logger;
  /** Undefined while the Feishu sender is not available: nothing is sent and no mark is set. */
  reply: () => TextReply | undefined;
  /** As `reply`, for direct messages; absent: no DM is ever sent. */
  dm?: () => DirectMessage | undefined;
}

export function ingestNotices(deps: NoticeDeps): IngestNotices & { idle(): Promise<void> } {
  const tallies = new Map<number, DropTally>();
  const turns = new KeyedTurns<number>();
  const decideDrop = async ({ userId, openId, dropped, oldestReceivedAt }: DroppedOverCap, now: number) => {
    const tally = tallies.get(userId);
    const total = {
      dropped: (tally?.dropped ?? 0) + dropped,
      oldestReceivedAt: Math.min(tally?.oldestReceivedAt ?? oldestReceivedAt, oldestReceivedAt),
    };
    tallies.set(userId, total);
    const dm = deps.dm?.();
    if (!dm) {
      deps.log.warn("feishu_notice_skipped", { kind: "dropped", reason: "no_sender", userId });
      return;
    }
    try {
      if (!(await deps.kv.setIfAbsent(`notice:dropped:${userId}`, "1", now + DROP_NOTICE_INTERVAL_MS))) {
        deps.log.debug("feishu_notice_skipped", { kind: "dropped", reason: "rate_limited", userId });
        return;
      }
    } catch (err) {
      deps.log.warn("feishu_notice_failed", { kind: "dropped", userId, err: err as Error });
      return;
    }
    tallies.delete(userId);
    dm(
      openId,
      droppedNoticeText(total.dropped, total.oldestReceivedAt),
      `notice-dropped-${userId}-${now}`,
    ).then(
      () => deps.log.info("feishu_notice_sent", { kind: "dropped", userId, dropped: total.dropped }),
      (err: Error) => deps.log.warn("feishu_notice_failed", { kind: "dropped", userId, err }),
    );
  };
  const send = (kind: string, messageId: string, text: string, reply: TextReply) => {
    reply(messageId, text).then(
      () => deps.log.info("feishu_notice_sent", { kind, messageId }),
      (err: Error) => deps.log.warn("feishu_notice_failed", { kind, messageId, err }),
    );
  };
  return {
    unknownSender({ openId, messageId }) {
      const reply = deps.reply();
      if (!reply) {
        deps.log.warn("feishu_notice_skipped", { kind: "onboarding", reason: "no_sender", messageId });
        return;
      }
      shouldOnboard(deps, openId).then(
        (yes) => yes && send("onboarding", messageId, onboardingText(deps.publicUrl), reply),
        (err: Error) => deps.log.warn("feishu_notice_failed", { kind: "onboarding", messageId, err }),
      );
    },
    storedForUser({ userId, messageId }) {
      if (deps.hub.isConnected(userId)) return;
      const reply = deps.reply();
      if (!reply) return;
      shouldNotifyOffline(deps, userId).then(
        (yes) => yes && send("offline", messageId, offlineNoticeText(), reply),
        (err: Error) => deps.log.warn("feishu_notice_failed", { kind: "offline", messageId, err }),
      );
    },
    droppedOverCap(drop) {
      // One user's drops are decided in order: the kv mark is a database round trip now, and a drop
      // must not be counted into a DM whose decision was made before it arrived.
      const { userId } = drop;
      const at = deps.now();
      turns
        .run(userId, () => decideDrop(drop, at))
        .catch((err: Error) => deps.log.warn("feishu_notice_failed", { kind: "dropped", userId, err }));
    },
    idle: () => turns.idle(),
  };
}

/**
 * Chinese first, then English. Times in China Standard Time (UTC+8), where the bot's users are; the
 * zone is written out so nobody has to guess.
 */
export function droppedNoticeText(dropped: number, oldestReceivedAt: number): string {
  const since = formatUtc8(oldestReceivedAt);
  return [
    `你的 OpenClaw 离线期间积压的消息超过了上限，已丢弃最早的 ${dropped} 条（最早一条收到于 ${since}）。更新的消息仍在排队，连接后会送达。`,
    "",
    `While your OpenClaw was offline, more messages queued up than the relay keeps: the oldest ${dropped} were dropped (the first of them arrived ${since}). Newer messages are still queued and will be delivered when it reconnects.`,
  ].join("\n");
}

/** `2026-12-03 00:07 (UTC+8)` */
export function formatUtc8(ms: number): string {
  const d = new Date(ms + 8 * 3600 * 1000).toISOString();
  return `${d.slice(0, 10)} ${d.slice(11, 16)} (UTC+8)`;
}
