/**
 * `channels.feishu-relay` → the one account this channel runs.
 *
 * One relay token belongs to one Feishu user and the relay allows one live connection per user, so
 * multi-account adds nothing here: the account id is always "default".
 */

export const CHANNEL_ID = "feishu-relay";

/**
 * Which group messages share an agent session, named as the official Feishu channel names them:
 * one per group (default), per sender in a group, per topic, or per sender in a topic.
 */
export const GROUP_SESSION_SCOPES = ["group", "group_sender", "group_topic", "group_topic_sender"] as const;
export type GroupSessionScope = (typeof GROUP_SESSION_SCOPES)[number];
export const DEFAULT_ACCOUNT_ID = "default";

export interface FeishuRelayAccount {
  accountId: string;
  enabled: boolean;
  configured: boolean;
  /** The WebSocket URL (ws:/wss:), normalised; undefined when missing or invalid. */
  relayUrl?: string;
  token?: string;
  /** Send live drafts of answers when the relay offers feature `stream` (default true). */
  streaming: boolean;
  /** How group messages are split into sessions (default "group"). */
  groupSessionScope: GroupSessionScope;
  /** Why the account cannot start, when it cannot. Never contains the token. */
  problem?: string;
}

interface RawSection {
  enabled?: unknown;
  relayUrl?: unknown;
  token?: unknown;
  streaming?: unknown;
  groupSessionScope?: unknown;
}

/** Reads `cfg.channels["feishu-relay"]` without trusting its shape. */
export function channelSection(cfg: unknown): RawSection | undefined {
  const channels = (cfg as { channels?: Record<string, unknown> } | null | undefined)?.channels;
  const section = channels?.[CHANNEL_ID];
  return section && typeof section === "object" ? (section as RawSection) : undefined;
}

/**
 * Accepts ws:// and wss:// URLs, and http(s):// ones (mapped to ws(s)://) because people paste the
 * relay's web address. Returns undefined for anything else.
 */
export function normalizeRelayUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") return undefined;
  // A token pasted into the URL would be sent twice and logged nowhere useful: drop it.
  url.searchParams.delete("token");
  return url.href;
}

export function resolveAccount(cfg: unknown, accountId?: string | null): FeishuRelayAccount {
  const section = channelSection(cfg);
  const id = accountId || DEFAULT_ACCOUNT_ID;
  const enabled = section?.enabled !== false;
  const rawUrl = typeof section?.relayUrl === "string" ? section.relayUrl.trim() : "";
  const token = typeof section?.token === "string" && section.token.trim() ? section.token.trim() : undefined;
  const relayUrl = rawUrl ? normalizeRelayUrl(rawUrl) : undefined;
  let problem: string | undefined;
  if (!rawUrl) problem = "channels.feishu-relay.relayUrl is not set";
  else if (!relayUrl) problem = "channels.feishu-relay.relayUrl must be a ws:// or wss:// URL";
  else if (!token) problem = "channels.feishu-relay.token is not set";
  const streaming = section?.streaming !== false;
  const groupSessionScope = parseGroupSessionScope(section?.groupSessionScope);
  return {
    accountId: id,
    enabled,
    configured: !problem,
    relayUrl,
    token,
    streaming,
    groupSessionScope,
    problem,
  };
}

/** An unknown value falls back to "group": the manifest schema rejects it before we get here. */
export function parseGroupSessionScope(raw: unknown): GroupSessionScope {
  return GROUP_SESSION_SCOPES.find((s) => s === raw) ?? "group";
}

/** Listed whenever the section exists, so `openclaw status` can say what is missing. */
export function listAccountIds(cfg: unknown): string[] {
  return channelSection(cfg) ? [DEFAULT_ACCOUNT_ID] : [];
}
