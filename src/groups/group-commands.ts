/**
 * "@Bot /bind" and "@Bot /unbind" in a group (M2-4): the binding changes at once (before Feishu is
 * answered), the reply text is sent later by ingest like its other notices. Replies are Chinese first,
 * then English.
 */
import type { BindingStore } from "./binding-store.ts";
import type { GroupCommand } from "./group-routing.ts";

export interface CommandFacts {
  chatId: string;
  senderOpenId: string;
  /** The sender when they are a relay user. */
  sender?: { id: number; name: string };
}

export type CommandResult =
  /** The bot answers the command message with this text. */
  | { kind: "reply"; text: string; changed: boolean }
  /** An unregistered sender asked to bind: they get the sign-in hint instead. */
  | { kind: "sign_in" };

export async function runGroupCommand(
  store: Pick<BindingStore, "get" | "bindIfUnbound" | "unbind">,
  ownerName: (userId: number) => Promise<string>,
  command: GroupCommand,
  facts: CommandFacts,
): Promise<CommandResult> {
  const { chatId, sender } = facts;
  if (command === "bind") {
    if (!sender) return { kind: "sign_in" };
    const result = await store.bindIfUnbound({
      chatId,
      ownerUserId: sender.id,
      boundBy: `open_id:${facts.senderOpenId}`,
    });
    if (result.bound) return reply(boundText(nameOr(sender.name, facts.senderOpenId)), true);
    if (result.binding.ownerUserId === sender.id) return reply(alreadyYoursText(), false);
    return reply(ownedByText(await ownerName(result.binding.ownerUserId)), false);
  }
  const binding = await store.get(chatId);
  if (!binding) return reply(notBoundText(), false);
  if (!sender || binding.ownerUserId !== sender.id)
    return reply(notYoursText(await ownerName(binding.ownerUserId)), false);
  // Owned by the sender when read; a concurrent re-bind by an admin makes this a no-op.
  if (!(await store.unbind(chatId, sender.id))) return reply(notBoundText(), false);
  return reply(unboundText(), true);
}

function reply(text: string, changed: boolean): CommandResult {
  return { kind: "reply", text, changed };
}

function nameOr(name: string, openId: string): string {
  return name.trim() || openId;
}

export function boundText(name: string): string {
  return [
    `已绑定：本群的 @ 消息将由 ${name} 的智能体回答。发送「@我 /unbind」可以解除。`,
    `Bound: @-mentions in this group will be answered by ${name}'s agent. Send "@me /unbind" to undo.`,
  ].join("\n");
}

export function alreadyYoursText(): string {
  return ["本群已经绑定到你的智能体。", "This group is already bound to your agent."].join("\n");
}

export function ownedByText(owner: string): string {
  return [
    `本群已绑定到 ${owner} 的智能体。如需更换，请先由 ${owner} 发送「@我 /unbind」，或联系管理员。`,
    `This group is already bound to ${owner}'s agent. To change it, ${owner} can send "@me /unbind" first, or ask an admin.`,
  ].join("\n");
}

export function notYoursText(owner: string): string {
  return [
    `抱歉，只有绑定者 ${owner} 或管理员可以解除本群的绑定。`,
    `Sorry, only ${owner}, who bound this group, or an admin can unbind it.`,
  ].join("\n");
}

export function notBoundText(): string {
  return [
    "本群没有绑定任何智能体；每个已注册成员 @我 的消息由他自己的智能体回答。",
    "This group is not bound to an agent; each registered member's @-mention is answered by their own agent.",
  ].join("\n");
}

export function unboundText(): string {
  return [
    "已解除绑定：之后每个已注册成员 @我 的消息由他自己的智能体回答。",
    "Unbound: from now on each registered member's @-mention is answered by their own agent.",
  ].join("\n");
}
