/**
 * `gateway.startAccount`: runs the relay connection for one account until OpenClaw aborts it, and
 * feeds each inbound message to the agent. Stays pending on purpose (see relay-client.ts).
 */
import { untilAborted } from "./backoff.ts";
import type { FeishuRelayAccount } from "./config.ts";
import { StreamGate } from "./draft-stream.ts";
import { handleInbound } from "./inbound.ts";
import { eventLog, type Logger } from "./log.ts";
import { type FetchFn, MediaHttp } from "./media-http.ts";
import { mediaLimits } from "./media-rules.ts";
import type { ClientRegistry } from "./outbound.ts";
import type { LoadMedia } from "./payload-send.ts";
import { RelayClient, type RelayClientOptions, type StatusPatch } from "./relay-client.ts";
import { relayHttpBase } from "./relay-http.ts";
import { channelRuntimeFor, getPluginRuntime } from "./runtime.ts";
import { PLUGIN_NAME, PLUGIN_VERSION } from "./version.ts";

/**
 * One attachment's download, body included, must finish within this; a stalled relay must not hold a
 * message (and every later ack) forever. Generous: 30 MiB at 100 KiB/s.
 */
const MEDIA_TIMEOUT_MS = 5 * 60_000;

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

/** Test seams: timings, the WebSocket implementation and the `fetch` of the media endpoints. */
export type ClientTuning = Pick<
  RelayClientOptions,
  "backoff" | "random" | "helloTimeoutMs" | "sendTimeoutMs" | "heartbeatMs" | "WebSocket"
> & { fetch?: FetchFn };

export async function startAccount(
  ctx: GatewayContextLike,
  registry: ClientRegistry,
  tuning: ClientTuning = {},
  loadMedia: () => LoadMedia | undefined = () => undefined,
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
  const { fetch, ...socketTuning } = tuning;
  const http = new MediaHttp({ base: relayHttpBase(account.relayUrl), token: account.token, fetch });
  // One back-off for all turns: a relay that could not create a card is not asked again per message.
  const streamGate = new StreamGate();
  const client: RelayClient = new RelayClient({
    ...socketTuning,
    url: account.relayUrl,
    token: account.token,
    userAgent: `${PLUGIN_NAME}/${PLUGIN_VERSION}${hostVersion ? ` openclaw/${hostVersion}` : ""}`,
    log,
    onStatus: setStatus,
    onMessage: async (frame) => {
      if (!rt) throw new Error("no OpenClaw channel runtime available");
      const limits = mediaLimits(client.hello);
      await handleInbound(frame, {
        rt,
        cfg: ctx.cfg,
        accountId,
        ownerOpenId: client.hello?.user.openId,
        bot: client.hello?.bot,
        groupSessionScope: account.groupSessionScope,
        link,
        media: limits
          ? {
              limits,
              download: (id, maxBytes) =>
                http.download(
                  id,
                  maxBytes,
                  AbortSignal.any([ctx.abortSignal, AbortSignal.timeout(MEDIA_TIMEOUT_MS)]),
                ),
            }
          : undefined,
        load: loadMedia(),
        stream: account.streaming ? { link: client, gate: streamGate } : undefined,
        signal: ctx.abortSignal,
        log,
      });
    },
  });
  const link = {
    send: (req: Parameters<RelayClient["send"]>[0], opts?: Parameters<RelayClient["send"]>[1]) =>
      client.send(req, opts),
    get hello() {
      return client.hello;
    },
    http,
    log,
  };
  registry.set(accountId, link);
  try {
    await client.run(ctx.abortSignal);
  } finally {
    if (registry.get(accountId) === link) registry.delete(accountId);
  }
}
