/**
 * The tables of `schema.ts` for PostgreSQL (cluster mode, DATABASE_URL=postgres://…), column for
 * column, plus what only a cluster needs (`nodes`, outbox claims). drizzle-kit generates
 * `drizzle/postgres/` from here (`bun run db:generate`). Times are Unix milliseconds in bigint
 * columns read as JS numbers (safe until year 287,396).
 */
import { sql } from "drizzle-orm";
import { bigint, boolean, index, integer, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";

const ms = (name: string) => bigint(name, { mode: "number" });
const now = sql`(floor(extract(epoch from clock_timestamp()) * 1000))::bigint`;

export const users = pgTable(
  "users",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    openId: text("open_id").notNull(),
    unionId: text("union_id"),
    userId: text("user_id"),
    name: text("name").notNull().default(""),
    avatarUrl: text("avatar_url"),
    tokenVersion: integer("token_version").notNull().default(1),
    /** Highest seq handed out; allocated under this row's lock in the insert transaction. */
    lastSeq: ms("last_seq").notNull().default(0),
    ackedSeq: ms("acked_seq").notNull().default(0),
    llmProvider: text("llm_provider"),
    feishuTokensEnc: text("feishu_tokens_enc"),
    createdAt: ms("created_at").notNull().default(now),
    updatedAt: ms("updated_at").notNull().default(now),
    lastSeenAt: ms("last_seen_at"),
  },
  (t) => [uniqueIndex("users_open_id").on(t.openId)],
);

export const sessions = pgTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    connectedAt: ms("connected_at").notNull(),
    disconnectedAt: ms("disconnected_at"),
    closeCode: integer("close_code"),
    remoteAddress: text("remote_address"),
    userAgent: text("user_agent"),
    pluginVersion: text("plugin_version"),
    protocol: text("protocol").notNull().default("v1"),
    nodeId: text("node_id"),
  },
  (t) => [index("sessions_user").on(t.userId, t.connectedAt)],
);

export const inbox = pgTable(
  "inbox",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    seq: ms("seq").notNull(),
    eventId: text("event_id").notNull(),
    messageId: text("message_id").notNull(),
    chatId: text("chat_id").notNull(),
    payload: text("payload").notNull(),
    receivedAt: ms("received_at").notNull(),
  },
  (t) => [
    uniqueIndex("inbox_user_seq").on(t.userId, t.seq),
    uniqueIndex("inbox_message_id").on(t.messageId),
    index("inbox_received_at").on(t.receivedAt),
  ],
);

export const seenEvents = pgTable(
  "seen_events",
  {
    key: text("key").primaryKey(),
    seenAt: ms("seen_at").notNull(),
  },
  (t) => [index("seen_events_seen_at").on(t.seenAt)],
);

export const outbox = pgTable(
  "outbox",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    uuid: text("uuid").notNull(),
    request: text("request").notNull(),
    status: text("status", { enum: ["pending", "sending", "sent", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: ms("next_attempt_at").notNull(),
    deadlineAt: ms("deadline_at").notNull(),
    messageIds: text("message_ids"),
    lastErrorCode: text("last_error_code"),
    lastError: text("last_error"),
    createdAt: ms("created_at").notNull(),
    updatedAt: ms("updated_at").notNull(),
    mediaId: text("media_id"),
    mediaKey: text("media_key"),
    /** Cluster: the node sending this row (`status = 'sending'`) and until when its claim holds. */
    claimedBy: text("claimed_by"),
    leaseUntil: ms("lease_until"),
  },
  (t) => [
    uniqueIndex("outbox_user_uuid").on(t.userId, t.uuid),
    index("outbox_due").on(t.status, t.nextAttemptAt),
    index("outbox_media").on(t.mediaId),
  ],
);

export const media = pgTable(
  "media",
  {
    id: text("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    size: bigint("size", { mode: "number" }).notNull(),
    mime: text("mime").notNull(),
    name: text("name"),
    sha256: text("sha256").notNull(),
    createdAt: ms("created_at").notNull(),
    expiresAt: ms("expires_at").notNull(),
  },
  (t) => [index("media_user").on(t.userId), index("media_expires_at").on(t.expiresAt)],
);

export const chats = pgTable(
  "chats",
  {
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    chatId: text("chat_id").notNull(),
    chatType: text("chat_type").notNull(),
    lastMessageAt: ms("last_message_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.chatId] })],
);

export const kv = pgTable(
  "kv",
  {
    key: text("key").primaryKey(),
    value: text("value").notNull(),
    expiresAt: ms("expires_at"),
    updatedAt: ms("updated_at").notNull(),
  },
  (t) => [index("kv_expires_at").on(t.expiresAt)],
);

export const streams = pgTable(
  "streams",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    streamId: text("stream_id").notNull(),
    target: text("target").notNull(),
    cardId: text("card_id"),
    messageId: text("message_id"),
    sequence: integer("sequence").notNull().default(0),
    shownText: text("shown_text").notNull().default(""),
    status: text("status").notNull(),
    createdAt: ms("created_at").notNull(),
    updatedAt: ms("updated_at").notNull(),
  },
  (t) => [uniqueIndex("streams_user_stream").on(t.userId, t.streamId), index("streams_status").on(t.status)],
);

export const typingReactions = pgTable(
  "typing_reactions",
  {
    messageId: text("message_id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    seq: ms("seq").notNull(),
    reactionId: text("reaction_id"),
    addedAt: ms("added_at").notNull(),
  },
  (t) => [index("typing_reactions_user_seq").on(t.userId, t.seq)],
);

export const groupBindings = pgTable(
  "group_bindings",
  {
    chatId: text("chat_id").primaryKey(),
    ownerUserId: integer("owner_user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    requireMention: boolean("require_mention").notNull().default(true),
    boundBy: text("bound_by").notNull(),
    createdAt: ms("created_at").notNull(),
    updatedAt: ms("updated_at").notNull(),
  },
  (t) => [index("group_bindings_owner").on(t.ownerUserId)],
);

export const chatInfo = pgTable("chat_info", {
  chatId: text("chat_id").primaryKey(),
  name: text("name"),
  chatMode: text("chat_mode"),
  fetchedAt: ms("fetched_at"),
  noticeAt: ms("notice_at"),
});

/**
 * Cluster: one row per relay process, refreshed by its heartbeat. A node not seen for a few
 * heartbeats is dead: its sockets are gone and its outbox claims expire with their lease.
 */
export const nodes = pgTable("nodes", {
  id: text("id").primaryKey(),
  version: text("version").notNull(),
  startedAt: ms("started_at").notNull(),
  seenAt: ms("seen_at").notNull(),
});

/**
 * Cluster: Feishu's app-wide and per-chat send budgets, shared by every node
 * (feishu/shared-budget.ts). One row per budget key and time slot: the calls granted in that slot.
 * Old slots are deleted as they leave every window.
 */
export const rateSlots = pgTable(
  "rate_slots",
  {
    key: text("key").notNull(),
    /** The slot's start, Unix ms (a multiple of the key's slot length). */
    slot: ms("slot").notNull(),
    count: integer("count").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.key, t.slot] }), index("rate_slots_slot").on(t.slot)],
);
