/**
 * `gateway.startAccount`: runs the relay connection for one account until OpenClaw aborts it, and
 * feeds each inbound message to the agent. Stays pending on purpose (see relay-client.ts).
 */
import { untilAborted } from "./backoff.ts";
import type { FeishuRelayAccount } from "./config.ts";
import { handleInbound } from "./inbound.ts";
import { eventLog, type Logger } from "./log.ts";
import type { ClientRegistry } from "./outbound.ts";
import { RelayClient, type RelayClientOptions, type StatusPatch } from "./relay-client.ts";
import { channelRuntimeFor, getPluginRuntime } from "./runtime.ts";
import { PLUGIN_NAME, PLUGIN_VERSION } from "./version.ts";

/** The fields of OpenClaw's ChannelGatewayContext we use. */
export interface GatewayContextLike {
  cfg: unknown;
  accountId: string;
  account: FeishuRelayAccount;
  abortSignal: AbortSignal;
  log?: Logger;
  setStatus: (next: { accountId: string } & StatusPatch & { configured?: boolean }) => void;
  channelRuntime?: unknown;
}

/** Test seams: timings and the WebSocket implementation. */
export type ClientTuning = Pick<
  RelayClientOptions,
  "backoff" | "random" | "helloTimeoutMs" | "sendTimeoutMs" | "heartbeatMs" | "WebSocket"
>;

export async function startAccount(
  ctx: GatewayContextLike,
  registry: ClientRegistry,
  tuning: ClientTuning = {},
): Promise<void> {
  const { account, accountId } = ctx;
  const log = eventLog(ctx.log, account.token ? [account.token] : []);
  const setStatus = (patch: StatusPatch & { configured?: boolean }) => ctx.setStatus({ accountId, ...patch });
  if (!account.configured || !account.relayUrl || !account.token) {
    // Retrying cannot help until the config changes, and a config change restarts the channel.
    log.error("account_not_configured", { problem: account.problem });
    setStatus({
      running: false,
      connected: false,
      configured: false,
      lifecycle: "blocked",
      terminalDisconnect: true,
      lastError: account.problem ?? "not configured",
    });
    await untilAborted(ctx.abortSignal);
    return;
  }
  const rt = channelRuntimeFor(ctx.channelRuntime);
  const hostVersion = getPluginRuntime()?.version;
  const client: RelayClient = new RelayClient({
    ...tuning,
    url: account.relayUrl,
    token: account.token,
    userAgent: `${PLUGIN_NAME}/${PLUGIN_VERSION}${hostVersion ? ` openclaw/${hostVersion}` : ""}`,
    log,
    onStatus: setStatus,
    onMessage: async (frame) => {
      if (!rt) throw new Error("no OpenClaw channel runtime available");
      await handleInbound(frame, {
        rt,
        cfg: ctx.cfg,
        accountId,
        ownerOpenId: client.hello?.user.openId,
        send: (req) => client.send(req, { signal: ctx.abortSignal }),
        log,
      });
    },
  });
  registry.set(accountId, client);
  try {
    await client.run(ctx.abortSignal);
  } finally {
    if (registry.get(accountId) === client) registry.delete(accountId);
  }
}
