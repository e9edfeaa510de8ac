/**
 * Long-connection mode (FEISHU_EVENT_MODE=ws|both, feishu-reference.md §3): the official SDK's
 * `WSClient` owns the undocumented wire protocol; its handler feeds the same parse → route → dedupe →
 * store path as the webhook. The SDK acks an event when the handler resolves and reports 500 when it
 * throws, so a failed commit is re-pushed by Feishu rather than lost. The SDK itself never dedupes.
 */
import type * as Lark from "@larksuiteoapi/node-sdk";
import type { Config } from "../config/definition.ts";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import type { EventIngest } from "./event-ingest.ts";
import { EventParseError, MESSAGE_EVENT, parseEvent, unflattenSdkEvent } from "./event-parser.ts";

/** `WSClient.start()` silently does nothing for any other app id (reference §3.2). */
const WS_APP_ID = /^cli_[0-9a-fA-F]{16}$/;

/** Subscribed events other than messages: acknowledged and marked seen, so the SDK does not warn. */
export const IGNORED_WS_EVENTS = [
  "im.chat.member.bot.added_v1",
  "im.chat.member.bot.deleted_v1",
  "im.chat.access_event.bot_p2p_chat_entered_v1",
  "im.message.message_read_v1",
  "im.message.recalled_v1",
  "im.message.reaction.created_v1",
  "im.message.reaction.deleted_v1",
];

/**
 * The SDK (30 MB unpacked) is loaded only when the long connection starts: importing it eagerly
 * cost every start-up, webhook-only ones included, about 250 ms.
 */
const loadSdk = (): Promise<typeof Lark> => import("@larksuiteoapi/node-sdk");

/** FEISHU_DOMAIN → the SDK's domain: its own constants for the two clouds, else the base URL as is. */
export function larkDomain(lark: typeof Lark, domain: string): Lark.Domain | string {
  if (domain === "feishu") return lark.Domain.Feishu;
  if (domain === "lark") return lark.Domain.Lark;
  return domain;
}

export interface LongConnection {
  stop(): void;
}

export interface LongConnectionDeps {
  config: Pick<Config, "FEISHU_EVENT_MODE" | "FEISHU_APP_ID" | "FEISHU_APP_SECRET" | "FEISHU_DOMAIN">;
  log: Logger;
  metrics: Registry;
  ingest: EventIngest;
}

/** Starts the SDK client in the background; undefined when the mode or the app configuration says no. */
export function startLongConnection(deps: LongConnectionDeps): LongConnection | undefined {
  const { config } = deps;
  const log = deps.log.child({ module: "feishu_ws" });
  if (config.FEISHU_EVENT_MODE === "webhook") return undefined;
  const appId = config.FEISHU_APP_ID;
  if (!appId || !config.FEISHU_APP_SECRET || !WS_APP_ID.test(appId)) {
    log.warn("feishu_ws_not_started", {
      reason: appId ? "FEISHU_APP_ID does not look like cli_<16 hex>" : "FEISHU_APP_ID/SECRET unset",
    });
    return undefined;
  }
  let client: Lark.WSClient | undefined;
  let stopped = false;
  loadSdk().then(
    (lark) => {
      if (stopped) return;
      client = createClient(lark, deps, log, appId);
      log.info("feishu_ws_starting", { domain: config.FEISHU_DOMAIN });
    },
    (err: Error) => log.error("feishu_ws_failed", { err }),
  );
  return {
    stop() {
      stopped = true;
      client?.close({ force: true });
    },
  };
}

function createClient(
  lark: typeof Lark,
  deps: LongConnectionDeps,
  log: Logger,
  appId: string,
): Lark.WSClient {
  const { config } = deps;
  const sdkLog = sdkLogger(log);
  // Capped at info: the SDK logs whole event payloads (message text) at debug.
  const loggerLevel =
    log.level === "warn" || log.level === "error" ? lark.LoggerLevel[log.level] : lark.LoggerLevel.info;
  const handler = eventHandler(deps, log);
  const handles: Record<string, (data: Record<string, unknown>) => Promise<void>> = {
    [MESSAGE_EVENT]: handler,
  };
  for (const type of IGNORED_WS_EVENTS) handles[type] = handler;
  const dispatcher = new lark.EventDispatcher({ logger: sdkLog, loggerLevel }).register(handles);
  const client = new lark.WSClient({
    appId,
    appSecret: config.FEISHU_APP_SECRET,
    domain: larkDomain(lark, config.FEISHU_DOMAIN),
    logger: sdkLog,
    loggerLevel,
    onReady: () => log.info("feishu_ws_ready"),
    onReconnecting: () => log.warn("feishu_ws_reconnecting"),
    onReconnected: () => log.info("feishu_ws_reconnected"),
    onError: (err: Error) => log.error("feishu_ws_failed", { err }),
  });
  void client.start({ eventDispatcher: dispatcher });
  return client;
}

/** One handler for every registered type; it resolves after the inbox commit (well within 3 s). */
function eventHandler(deps: LongConnectionDeps, log: Logger) {
  const rejected = deps.metrics.counter("events_rejected_total", "Feishu pushes refused, by reason.");
  return async (data: Record<string, unknown>): Promise<void> => {
    let event: ReturnType<typeof parseEvent>;
    try {
      event = parseEvent(unflattenSdkEvent(data));
    } catch (err) {
      if (!(err instanceof EventParseError)) throw err;
      // A malformed event stays malformed when re-pushed: acknowledge it and say so.
      rejected.inc({ reason: err.code });
      log.warn("feishu_event_rejected", { reason: err.code, message: err.message, source: "ws" });
      return;
    }
    if (event.kind !== "challenge") await deps.ingest.ingest(event, "ws");
  };
}

/** The SDK logs variadic strings; each call becomes one JSON line under our logger. */
function sdkLogger(log: Logger) {
  // The SDK's LoggerProxy hands over its arguments as one array.
  const line = (msg: unknown[]) => ({ msg: msg.flat().map(String).join(" ") });
  return {
    error: (...msg: unknown[]) => log.error("feishu_sdk", line(msg)),
    warn: (...msg: unknown[]) => log.warn("feishu_sdk", line(msg)),
    info: (...msg: unknown[]) => log.info("feishu_sdk", line(msg)),
    debug: (...msg: unknown[]) => log.debug("feishu_sdk", line(msg)),
    trace: (...msg: unknown[]) => log.debug("feishu_sdk", line(msg)),
  };
}
