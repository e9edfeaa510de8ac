/**
 * Target grammar shared by inbound contexts and outbound sends: `user:<open_id>` for a person,
 * `chat:<chat_id>` for a chat, exactly what the relay's `send.to` takes. OpenClaw may hand them
 * back prefixed with the channel id (`feishu-relay:user:ou_…`, from `OriginatingTo`), and people
 * type bare ids, so both are accepted.
 */
import { CHANNEL_ID } from "./config.ts";

export type RelayTarget = `user:ou_${string}` | `chat:oc_${string}`;

const ID = /^[A-Za-z0-9_-]{1,120}$/;

/** Canonical `user:ou_…` / `chat:oc_…`, or undefined when `raw` is not a target of this channel. */
export function normalizeTarget(raw: string): RelayTarget | undefined {
  let s = raw.trim();
  const prefix = `${CHANNEL_ID}:`;
  if (s.toLowerCase().startsWith(prefix)) s = s.slice(prefix.length);
  const m = /^(user|chat|open_id|chat_id):(.+)$/i.exec(s);
  const kind = m?.[1]?.toLowerCase();
  const id = (m ? m[2]! : s).trim();
  if (!ID.test(id)) return undefined;
  if (id.startsWith("ou_") && (!kind || kind === "user" || kind === "open_id"))
    return `user:${id}` as RelayTarget;
  if (id.startsWith("oc_") && (!kind || kind === "chat" || kind === "chat_id"))
    return `chat:${id}` as RelayTarget;
  return undefined;
}

/** The form stored in inbound contexts (`From`, `To`, `OriginatingTo`). */
export function qualifiedTarget(target: RelayTarget): string {
  return `${CHANNEL_ID}:${target}`;
}

export function targetChatType(target: string): "direct" | "group" | undefined {
  const t = normalizeTarget(target);
  if (!t) return undefined;
  return t.startsWith("user:") ? "direct" : "group";
}
