/**
 * The bot joined or left a group (M2-4): the "how to /bind" notice goes out once per group, marked
 * in `chat_info.notice_at` (only that column: the rest of the row is the chat-info cache's).
 */
import type { Db } from "../db/open.ts";

export class NoticeMarks {
  readonly #claim;
  readonly #release;

  constructor(db: Db) {
    const q = db.$client;
    this.#claim = q.query<{ chatId: string }, [string, number]>(
      `INSERT INTO chat_info (chat_id, notice_at) VALUES (?1, ?2)
       ON CONFLICT (chat_id) DO UPDATE SET notice_at = excluded.notice_at WHERE chat_info.notice_at IS NULL
       RETURNING chat_id AS chatId`,
    );
    this.#release = q.query("UPDATE chat_info SET notice_at = NULL WHERE chat_id = ? AND notice_at = ?");
  }

  /** True for the one caller that may post the notice in this group (and marks it posted at `at`). */
  claim(chatId: string, at: number): boolean {
    return this.#claim.get(chatId, at) !== null;
  }

  /** The notice could not be sent: the next "bot added" may try again. */
  release(chatId: string, at: number): void {
    this.#release.run(chatId, at);
  }
}

/** Posted once in a group the bot was added to by a registered user. Chinese first, then English. */
export function botAddedText(): string {
  return [
    "大家好！我是共用的 OpenClaw 机器人。",
    "想让本群由你的 OpenClaw 智能体回答？请发送「@我 /bind」：之后本群所有 @我 的消息都交给你的智能体处理（包括未注册的成员），回答也发在本群。发送「@我 /unbind」可以解除绑定。",
    "未绑定时，每个已注册成员 @我 的消息由他自己的智能体回答。",
    "",
    "Hello! I am the shared OpenClaw bot.",
    'Want your OpenClaw agent to answer in this group? Send "@me /bind": from then on every @-mention of me here goes to your agent (from any member, registered or not), and it answers in this group. "@me /unbind" removes the binding.',
    "Without a binding, each registered member's @-mention is answered by their own agent.",
  ].join("\n");
}
