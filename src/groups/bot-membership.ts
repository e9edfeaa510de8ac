/**
 * The bot joined or left a group (M2-4): the "how to /bind" notice goes out once per group, marked
 * in `chat_info.notice_at` through the chat-info port (feishu/chat-info-store.ts `claimNotice`).
 */

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
