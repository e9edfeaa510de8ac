/**
 * Whose inbox a user's message goes to (M2-4), decided from facts ingest already has. Pure.
 * - A direct message, or a group without a binding: the sender's own agent, if they are a user
 *   (else the sign-in hint); in a group only when the bot is @-mentioned.
 * - A bound group: the owner's agent, whoever sent it (no sign-in hint for strangers there); an
 *   @-mention is needed unless the binding says `requireMention: false`.
 * - "@Bot /bind" and "@Bot /unbind" in a group are commands for the relay, stored for nobody.
 */
import type { GroupBinding } from "./binding-store.ts";

export type GroupCommand = "bind" | "unbind";

export interface RoutedMessage {
  chatType: "p2p" | "group";
  mentionedBot: boolean;
  /** With the bot's own mention already left out. */
  text: string;
}

export type Route =
  | { kind: "deliver"; userId: number; boundChat: boolean }
  | { kind: "command"; command: GroupCommand }
  | { kind: "not_mentioned" }
  | { kind: "unknown_sender" };

/** `commands: false` (a relay without group support) reads "/bind" as an ordinary message. */
export function routeMessage(
  message: RoutedMessage,
  binding: Pick<GroupBinding, "ownerUserId" | "requireMention"> | undefined,
  sender: { id: number } | undefined,
  commands = true,
): Route {
  if (message.chatType === "p2p") return sender ? own(sender) : { kind: "unknown_sender" };
  const command = commands && message.mentionedBot ? groupCommand(message.text) : undefined;
  if (command) return { kind: "command", command };
  if (!binding) {
    if (!message.mentionedBot) return { kind: "not_mentioned" };
    return sender ? own(sender) : { kind: "unknown_sender" };
  }
  if (binding.requireMention && !message.mentionedBot) return { kind: "not_mentioned" };
  return { kind: "deliver", userId: binding.ownerUserId, boundChat: true };
}

/** `/bind` or `/unbind`, alone, any case, surrounding spaces ignored. */
export function groupCommand(text: string): GroupCommand | undefined {
  const word = text.trim().toLowerCase();
  return word === "/bind" ? "bind" : word === "/unbind" ? "unbind" : undefined;
}

function own(sender: { id: number }): Route {
  return { kind: "deliver", userId: sender.id, boundChat: false };
}
