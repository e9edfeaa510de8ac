/**
 * What ingest needs for groups (M2-4), behind one port: the binding of a chat, the /bind and /unbind
 * commands, and the bot joining or leaving a group. Sends happen through `reply` and `post`, which
 * ingest calls only after Feishu's push is answered; a failed send is logged, never thrown.
 */
import type { ChatInfoStore } from "../feishu/chat-info-store.ts";
import type { Logger } from "../ops/logger.ts";
import type { BindingStore, GroupBinding } from "./binding-store.ts";
import { botAddedText } from "./bot-membership.ts";
import { type CommandFacts, type CommandResult, runGroupCommand } from "./group-commands.ts";
import type { GroupCommand } from "./group-routing.ts";

/** A plain-text reply to a received message. */
export type TextReply = (messageId: string, text: string) => Promise<unknown>;
/** A plain-text message into a chat; `uuid` makes a retried send idempotent. */
export type ChatPost = (chatId: string, text: string, uuid: string) => Promise<unknown>;

export interface IngestGroups {
  binding(chatId: string): Promise<Pick<GroupBinding, "ownerUserId" | "requireMention"> | undefined>;
  /** Applies the command now; its answer goes out with `reply`. */
  command(command: GroupCommand, facts: CommandFacts): Promise<CommandResult>;
  reply(messageId: string, text: string): void;
  /** True when the "how to /bind" notice is to be posted (once per group, ever, across nodes). */
  botAdded(chatId: string): Promise<boolean>;
  postNotice(chatId: string): void;
  /** The bot left the group: its binding goes. True when there was one. */
  botRemoved(chatId: string): Promise<boolean>;
}

export interface IngestGroupsDeps {
  now: () => number;
  log: Logger;
  bindings: BindingStore;
  /** Where the bot-added notice is marked (chat_info.notice_at). */
  chatInfo: Pick<ChatInfoStore, "claimNotice" | "releaseNotice">;
  ownerName(userId: number): Promise<string>;
  /** Read per send, so a sender that appears later is picked up; undefined sends nothing. */
  reply: () => TextReply | undefined;
  post: () => ChatPost | undefined;
}

export function ingestGroups(deps: IngestGroupsDeps): IngestGroups {
  const marks = deps.chatInfo;
  const claimed = new Map<string, number>();
  return {
    binding: (chatId) => deps.bindings.get(chatId),
    async command(command, facts) {
      const result = await runGroupCommand(deps.bindings, deps.ownerName, command, facts);
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
    async botAdded(chatId) {
      const at = deps.now();
      if (!(await marks.claimNotice(chatId, at))) return false;
      claimed.set(chatId, at);
      return true;
    },
    postNotice(chatId) {
      const at = claimed.get(chatId);
      claimed.delete(chatId);
      const post = deps.post();
      const fail = (reason: string, err?: Error) => {
        // Not posted: the next "bot added" in this group may post it.
        if (at !== undefined)
          marks
            .releaseNotice(chatId, at)
            .catch((err: Error) => deps.log.warn("group_notice_release_failed", { chatId, err }));
        deps.log.warn("feishu_notice_failed", { kind: "bot_added", chatId, reason, ...(err ? { err } : {}) });
      };
      if (!post) return fail("no_sender");
      post(chatId, botAddedText(), `bot-added-${chatId}`).then(
        () => deps.log.info("feishu_notice_sent", { kind: "bot_added", chatId }),
        (err: Error) => fail("send_failed", err),
      );
    },
    async botRemoved(chatId) {
      const removed = await deps.bindings.unbind(chatId);
      if (removed) deps.log.info("group_unbound", { chatId, reason: "bot_removed" });
      return removed;
    },
  };
}
