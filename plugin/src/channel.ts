/**
 * The `feishu-relay` ChannelPlugin: metadata, config, target grammar, the gateway connection and
 * proactive sends. A factory so tests can build an instance with fast timings; the package exports
 * one default instance.
 */
import type { ChannelPlugin } from "openclaw/plugin-sdk/channel-core";
import {
  CHANNEL_ID,
  DEFAULT_ACCOUNT_ID,
  type FeishuRelayAccount,
  listAccountIds,
  resolveAccount,
} from "./config.ts";
import { type ClientTuning, type GatewayContextLike, startAccount } from "./gateway.ts";
import { displayUrl } from "./log.ts";
import { type ClientRegistry, type OutboundContextLike, sendOutbound } from "./outbound.ts";
import type { LoadMedia } from "./payload-send.ts";
import { getPluginRuntime } from "./runtime.ts";
import { normalizeTarget, targetChatType } from "./targets.ts";

/** Texts longer than this are split by OpenClaw before `sendText`; Feishu posts stay readable. */
export const TEXT_CHUNK_LIMIT = 4000;

export interface FeishuRelayPluginOptions {
  /** Test seams for the relay client (back-off, timeouts, WebSocket, fetch). */
  client?: ClientTuning;
  /** Test seam: stands in for OpenClaw's `runtime.media.loadWebMedia`. */
  loadMedia?: LoadMedia;
}

/** The account as `openclaw channels status` shows it; never the token itself. */
function describeAccount(account: FeishuRelayAccount) {
  return {
    accountId: account.accountId,
    enabled: account.enabled,
    configured: account.configured,
    baseUrl: account.relayUrl ? displayUrl(account.relayUrl) : undefined,
    tokenStatus: account.token ? "configured" : "missing",
  };
}

export function createFeishuRelayPlugin(
  options: FeishuRelayPluginOptions = {},
): ChannelPlugin<FeishuRelayAccount> & { readonly clients: ClientRegistry } {
  const clients: ClientRegistry = new Map();
  // Looked up per send: the host runtime is registered after the plugin object is built.
  const loadMedia = (): LoadMedia | undefined => options.loadMedia ?? getPluginRuntime()?.media?.loadWebMedia;
  return {
    id: CHANNEL_ID,
    clients,
    meta: {
      id: CHANNEL_ID,
      label: "Feishu (relay)",
      selectionLabel: "Feishu/Lark via shared bot relay (飞书中转)",
      docsPath: "/channels/feishu-relay",
      docsLabel: "feishu-relay",
      blurb: "Chat with your agent through a Feishu/Lark bot shared by many people, via an OpenClaw Relay.",
      markdownCapable: true,
    },
    capabilities: { chatTypes: ["direct", "group"], reply: true, media: true },
    reload: { configPrefixes: [`channels.${CHANNEL_ID}`] },
    config: {
      listAccountIds: (cfg) => listAccountIds(cfg),
      resolveAccount: (cfg, accountId) => resolveAccount(cfg, accountId),
      defaultAccountId: () => DEFAULT_ACCOUNT_ID,
      inspectAccount: (cfg, accountId) => {
        // The same facts as the status snapshot, with the URL under the name `inspect` uses.
        const { baseUrl, ...facts } = describeAccount(resolveAccount(cfg, accountId));
        return { ...facts, relayUrl: baseUrl };
      },
      isEnabled: (account) => account.enabled,
      disabledReason: () => `channels.${CHANNEL_ID}.enabled is false`,
      isConfigured: (account) => account.configured,
      unconfiguredReason: (account) => account.problem ?? "not configured",
      describeAccount: (account) => describeAccount(account),
    },
    // Hosts before 2026.9 show only what this returns: without it `openclaw channels status` there
    // lacks the connection state the gateway reported through setStatus (running, connected, …).
    status: {
      buildAccountSnapshot: ({ account, runtime }) => ({ ...runtime, ...describeAccount(account) }),
    },
    messaging: {
      targetPrefixes: [CHANNEL_ID],
      normalizeTarget: (raw) => normalizeTarget(raw),
      inferTargetChatType: ({ to }) => targetChatType(to),
      targetResolver: {
        looksLikeId: (raw, normalized) => Boolean(normalizeTarget(normalized ?? raw) ?? normalizeTarget(raw)),
        hint: "user:ou_… (yourself) or chat:oc_… (a chat your messages came from)",
      },
    },
    gateway: {
      startAccount: (ctx) =>
        startAccount(ctx as unknown as GatewayContextLike, clients, options.client, loadMedia),
    },
    outbound: {
      deliveryMode: "gateway",
      textChunkLimit: TEXT_CHUNK_LIMIT,
      chunkerMode: "markdown",
      sendText: (ctx) => sendOutbound(clients, ctx as OutboundContextLike),
      // Local paths and URLs alike, through OpenClaw's loader; fails visibly when it cannot send.
      sendMedia: (ctx) => sendOutbound(clients, ctx as OutboundContextLike, loadMedia()),
    },
  };
}
