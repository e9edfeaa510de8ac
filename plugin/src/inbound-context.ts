/**
 * What the agent sees of one relay `message` frame, as pure functions: the session peer for the
 * configured group scope, the text with the bot's own mention removed, the quoted message as
 * reply-to facts, a forwarded chat as a readable block, and who may run commands.
 * (docs/protocol.md "Groups and context (M2-4)"; PARITY §2.5.)
 */
import type { ContextMessage, Forwarded, MessageFrame } from "../../src/relay/protocol.ts";
import type { GroupSessionScope } from "./config.ts";

export interface Peer {
  kind: "direct" | "group";
  id: string;
}

/**
 * The peer OpenClaw routes the session by. Topic scopes use `${chatId}:topic:${threadId ?? rootId}`
 * with the group as parent peer (so group bindings still apply), as the official channel does; a
 * message outside any topic falls back to the group (or group + sender).
 */
export function sessionPeer(
  frame: MessageFrame,
  scope: GroupSessionScope = "group",
): { peer: Peer; parentPeer?: Peer } {
  if (frame.chatType !== "group") return { peer: { kind: "direct", id: frame.sender.openId } };
  const group: Peer = { kind: "group", id: frame.chatId };
  const topic = frame.threadId ?? frame.rootId;
  const bySender = scope === "group_sender" || scope === "group_topic_sender";
  const byTopic = (scope === "group_topic" || scope === "group_topic_sender") && Boolean(topic);
  if (!bySender && !byTopic) return { peer: group };
  let id = frame.chatId;
  if (byTopic) id += `:topic:${topic}`;
  if (bySender) id += `:sender:${frame.sender.openId}`;
  return { peer: { kind: "group", id }, parentPeer: group };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * An M2-4 relay already leaves the bot's own mention out of `text`; an older one renders it as
 * `@<bot name>`, which would keep "@Bot /status" from parsing as a command. Removed only when the
 * message did mention the bot, so a plain "@Bot" typed as text in a DM stays.
 */
export function withoutBotMention(
  frame: MessageFrame,
  bot: { openId?: string; name?: string } | undefined,
): string {
  const name = bot?.name?.trim();
  if (!name || !frame.mentionedBot) return frame.text;
  if (bot?.openId && !frame.mentions.some((m) => m.openId === bot.openId)) return frame.text;
  const stripped = frame.text.replace(new RegExp(`@${escapeRegExp(name)}(?=\\s|$)`, "gu"), " ");
  return stripped === frame.text ? frame.text : stripped.replace(/[ \t]{2,}/g, " ").trim();
}

function senderLabel(m: Pick<ContextMessage, "senderName" | "senderOpenId" | "senderType">): string {
  return m.senderName || m.senderOpenId || (m.senderType === "app" ? "bot" : "unknown");
}

/** The quoted message as OpenClaw's reply-to facts (MsgContext ReplyToId/ReplyToBody/ReplyToSender). */
export function quotedFacts(
  quoted: ContextMessage | undefined,
): { id: string; body: string; sender: string } | undefined {
  if (!quoted) return undefined;
  return { id: quoted.messageId, body: quoted.text, sender: senderLabel(quoted) };
}

/** A forwarded chat as text the agent can read: one `name: text` line per message, oldest first. */
export function forwardedBlock(forwarded: Forwarded | undefined): string | undefined {
  if (!forwarded || forwarded.messages.length === 0) return undefined;
  const lines = forwarded.messages.map((m) => `${senderLabel(m)}: ${m.text}`);
  const head = `[Forwarded chat: ${forwarded.messages.length} messages, oldest first]`;
  const tail = forwarded.truncated
    ? "[Forwarded chat truncated: some messages were left out]"
    : "[End of forwarded chat]";
  return [head, ...lines, tail].join("\n");
}

/** The body the agent reads: the text, then the forwarded chat when there is one. */
export function agentText(text: string, forwarded: Forwarded | undefined): string {
  const block = forwardedBlock(forwarded);
  return block ? `${text}\n\n${block}` : text;
}

/** The group's name when the relay sent it, else its id. */
export function chatLabel(frame: MessageFrame): string {
  return frame.chatName?.trim() || frame.chatId;
}

/**
 * Only the relay token's owner runs OpenClaw commands. In a bound group anyone may write to the
 * owner's agent, so a command from anyone else is passed on as plain text, not executed.
 */
export function commandAuthorized(frame: MessageFrame, ownerOpenId: string | undefined): boolean {
  return Boolean(ownerOpenId) && frame.sender.openId === ownerOpenId;
}
