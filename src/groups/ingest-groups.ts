/**
 * What ingest needs for groups (M2-4), behind one port: the binding of a chat, the /bind and /unbind
 * commands, and the bot joining or leaving a group. Sends happen through `reply` and `post`, which
 * ingest calls only after Feishu's push is answered; a failed send is logged, never thrown.
 */
import type { Db } from "../db/open.ts";
import type { Logger } from "../ops/logger.ts";
import type { BindingStore, GroupBinding } from "./binding-store.ts";
import { botAddedText, NoticeMarks } from "./bot-membership.ts";
import { type CommandFacts, type CommandResult, runGroupCommand } from "./group-commands.ts";
import type { GroupCommand } from "./group-routing.ts";

/** A plain-text reply to a received message. */
export type TextReply = (messageId: string, text: string) => Promise<unknown>;
/** A plain-text message into a chat; `uuid` makes a retried send idempotent. */
export type ChatPost = (chatId: string, text: string, uuid: string) => Promise<unknown>;

export interface IngestGroups {
  binding(chatId: string): Pick<GroupBinding, "ownerUserId" | "requireMention"> | undefined;
  /** Applies the command now; its answer goes out with `reply`. */
  command(command: GroupCommand, facts: CommandFacts): CommandResult;
  reply(messageId: string, text: string): void;
  /** True when the "how to /bind" notice is to be posted (once per group, ever). */
  botAdded(chatId: string): boolean;
  postNotice(chatId: string): void;
  /** The bot left the group: its binding goes. True when there was one. */
  botRemoved(chatId: string): boolean;
}

export interface IngestGroupsDeps {
  db: Db;
  now: () => number;
  log: Logger;
  bindings: BindingStore;
  ownerName(userId: number): string;
  /** Read per send, so a sender that appears later is picked up; undefined sends nothing. */
  reply: () => TextReply | undefined;
  post: () => ChatPost | undefined;
}

export function ingestGroups(deps: IngestGroupsDeps): IngestGroups {
  const marks = new NoticeMarks(deps.db);
  const claimed = new Map<string, number>();
  return {
    binding: (chatId) => deps.bindings.get(chatId),
    command(command, facts) {
      const result = runGroupCommand(deps.bindings, deps.ownerName, command, facts);
      if (result.kind === "reply" && result.changed)
        deps.log.info(command === "bind" ? "group_bound" : "group_unbound", {
          chatId: facts.chatId,
          userId: facts.sender?.id,
        });
      return result;
    },
    reply(messageId, text) {
      const send = deps.reply();
      if (!send) {
        deps.log.warn("feishu_notice_skipped", { kind: "group_command", reason: "no_sender", messageId });
        return;
      }
      send(messageId, text).then(
        () => deps.log.info("feishu_notice_sent", { kind: "group_command", messageId }),
        (err: Error) => deps.log.warn("feishu_notice_failed", { kind: "group_command", messageId, err }),
      );
    },
    botAdded(chatId) {
      const at = deps.now();
      if (!marks.claim(chatId, at)) return false;
      claimed.set(chatId, at);
      return true;
    },
    postNotice(chatId) {
      const at = claimed.get(chatId);
      claimed.delete(chatId);
      const post = deps.post();
      const fail = (reason: string, err?: Error) => {
        // Not posted: the next "bot added" in this group may post it.
        if (at !== undefined) marks.release(chatId, at);
        deps.log.warn("feishu_notice_failed", { kind: "bot_added", chatId, reason, ...(err ? { err } : {}) });
      };
      if (!post) return fail("no_sender");
      post(chatId, botAddedText(), `bot-added-${chatId}`).then(
        () => deps.log.info("feishu_notice_sent", { kind: "bot_added", chatId }),
        (err: Error) => fail("send_failed", err),
      );
    },
    botRemoved(chatId) {
      const removed = deps.bindings.unbind(chatId);
      if (removed) deps.log.info("group_unbound", { chatId, reason: "bot_removed" });
      return removed;
    },
  };
}
