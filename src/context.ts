/**
 * The services one relay process shares, built once by `createRelay` (server.ts) and handed to every
 * module. I/O dependencies (clock, fetch, db) live here so tests can substitute them.
 */
import type { RecentLog } from "./admin/recent-log.ts";
import type { AdminSessions } from "./admin/sessions.ts";
import type { ConsoleStats } from "./admin/stats.ts";
import type { NodeRegistry } from "./cluster/nodes.ts";
import type { Signals } from "./cluster/signals.ts";
import type { Config } from "./config/definition.ts";
import type { Kv } from "./db/kv.ts";
import type { ChatInfoStore } from "./feishu/chat-info-store.ts";
import type { Feishu } from "./feishu/index.ts";
import type { BindingStore } from "./groups/binding-store.ts";
import type { Logger } from "./ops/logger.ts";
import type { Registry } from "./ops/metrics.ts";
import type { ShutdownPhase, ShutdownStep } from "./ops/shutdown.ts";
import type { Inbox } from "./relay/inbox.ts";
import type { Storage } from "./storage/storage.ts";
import type { LlmConfig } from "./users/llm-config.ts";
import type { FeishuOAuth } from "./users/oauth.ts";
import type { TokenService } from "./users/tokens.ts";
import type { UserStore } from "./users/user-store.ts";

export type FeishuHealth = "ok" | "unconfigured" | "failing";

export interface RelayContext {
  config: Config;
  /** The open database (SQLite or PostgreSQL); store adapters are built from it in createRelay. */
  storage: Storage;
  kv: Kv;
  log: Logger;
  metrics: Registry;
  now: () => number;
  fetch: typeof fetch;
  version: string;
  startedAt: number;
  /** This process's name in a cluster (NODE_ID, or `<hostname>-<random>`); also set on SQLite. */
  nodeId: string;
  /** Wake-ups between the nodes of a cluster (in-process on SQLite). */
  signals: Signals;
  /** The node registry and the cluster's view (nodes alive, where users are connected). */
  cluster: NodeRegistry;
  /** Durable per-user message store: ingest writes it, the gateway replays and acks it. */
  inbox: Inbox;
  users: UserStore;
  /** User tokens (issue, verify, revoke) and the per-IP failure limiter every credential check shares. */
  tokens: TokenService;
  /** Group chats bound to a user's agent (M2-4). */
  bindings: BindingStore;
  /** `chat_info` rows: cached group names and the bot-added notice mark. */
  chatInfo: ChatInfoStore;
  /** LLM_PROVIDERS, validated at start-up. */
  llm: LlmConfig;
  /** Feishu web sign-in (users and console admins). */
  oauth: FeishuOAuth;
  /** The admin console's sessions (kv) and its read-only queries. */
  adminSessions: AdminSessions;
  consoleStats: ConsoleStats;
  /** The newest warn/error log entries, for the console. */
  recentLog: RecentLog;
  /** The Feishu REST side (token, client, sender, directory); undefined when no app is configured. */
  feishu?: Feishu;
  /** Live facts other modules own, read by /health. */
  status: {
    feishu: () => FeishuHealth;
    connections: () => number;
  };
  /**
   * The plugin gateway's view of live connections (M1-4 fills it in; until then nobody is connected).
   * Revocation uses `disconnect(userId, 4001)`, which reaches the socket on any node of a cluster;
   * /api/me and the admin list use `isConnected` (this node's sockets).
   */
  hub: {
    isConnected: (userId: number) => boolean;
    disconnect: (userId: number, code: number, reason: string) => void;
  };
  /** Registers a step of the graceful stop under its phase (ops/shutdown.ts: one ordered list). */
  onShutdown: (phase: ShutdownPhase, name: string, step: ShutdownStep) => void;
}
