/**
 * The replies ingest triggers on its own (DESIGN §5): the sign-in link for an unknown sender (at most
 * once per 10 min per sender) and "your agent is offline, the message is queued" (at most once per
 * hour per user). The decisions live in users/onboarding.ts; this sends them, off the answer's path.
 */
import type { RelayContext } from "../context.ts";
import type { Logger } from "../ops/logger.ts";
import {
  offlineNoticeText,
  onboardingText,
  shouldNotifyOffline,
  shouldOnboard,
} from "../users/onboarding.ts";
import type { IngestNotices } from "./event-ingest.ts";

/** A plain-text reply to a received message (it lands in that chat, or thread). */
export type TextReply = (messageId: string, text: string) => Promise<unknown>;

export interface NoticeDeps extends Pick<RelayContext, "kv" | "now" | "hub"> {
  publicUrl: string;
  log: Logger;
  /** Undefined while the Feishu sender is not available: nothing is sent and no mark is set. */
  reply: () => TextReply | undefined;
}

export function ingestNotices(deps: NoticeDeps): IngestNotices {
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
      if (shouldOnboard(deps, openId)) send("onboarding", messageId, onboardingText(deps.publicUrl), reply);
    },
    storedForUser({ userId, messageId }) {
      if (deps.hub.isConnected(userId)) return;
      const reply = deps.reply();
      if (reply && shouldNotifyOffline(deps, userId)) send("offline", messageId, offlineNoticeText(), reply);
    },
  };
}
