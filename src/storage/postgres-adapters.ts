/**
 * Every PostgreSQL adapter, in one module that only a relay with DATABASE_URL loads: storage.ts
 * imports it dynamically and hands it out as `storage.adapters`, so each port's factory reaches its
 * PostgreSQL class through the storage. A SQLite relay thus never evaluates the PostgreSQL schema,
 * its query builder or Bun's SQL client: ~2 MB less idle RSS and a faster start (bench/startup.ts).
 */
import { PostgresConsoleStats } from "../admin/stats-postgres.ts";
import { PostgresNodeStore } from "../cluster/nodes-postgres.ts";
import { PostgresSignals } from "../cluster/signals-postgres.ts";
import { PostgresKv } from "../db/kv-postgres.ts";
import { PostgresChatInfoStore } from "../feishu/chat-info-store-postgres.ts";
import { PostgresSharedBudget } from "../feishu/shared-budget-postgres.ts";
import { PostgresBindingStore } from "../groups/binding-store-postgres.ts";
import { PostgresMediaRecords } from "../media/media-records-postgres.ts";
import { PostgresInboxStore } from "../relay/inbox-store-postgres.ts";
import { PostgresOutboxStore } from "../relay/outbox-store-postgres.ts";
import { PostgresSessionStore } from "../relay/session-store-postgres.ts";
import { PostgresStreamStore } from "../relay/stream-store-postgres.ts";
import { PostgresTypingStore } from "../relay/typing-store-postgres.ts";
import { PostgresUserStore } from "../users/user-store-postgres.ts";

export const postgresAdapters = {
  PostgresBindingStore,
  PostgresChatInfoStore,
  PostgresConsoleStats,
  PostgresInboxStore,
  PostgresKv,
  PostgresMediaRecords,
  PostgresNodeStore,
  PostgresOutboxStore,
  PostgresSessionStore,
  PostgresSharedBudget,
  PostgresSignals,
  PostgresStreamStore,
  PostgresTypingStore,
  PostgresUserStore,
};

export type PostgresAdapters = typeof postgresAdapters;
