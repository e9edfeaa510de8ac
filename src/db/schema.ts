/**
 * Tables of DESIGN §7. Unique indexes carry the invariants; drizzle-kit generates `drizzle/sqlite/`
 * from here (`bun run db:generate`); `pg-schema.ts` is the same data for PostgreSQL (cluster mode). Times are Unix milliseconds.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

const now = sql`(unixepoch('subsec') * 1000)`;

export const users = sqliteTable(
  "users",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    openId: text("open_id").notNull(),
    unionId: text("union_id"),
    userId: text("user_id"),
    name: text("name").notNull().default(""),
    avatarUrl: text("avatar_url"),
    /** Bumped on revocation: tokens carrying an older `ver` are refused. */
    tokenVersion: integer("token_version").notNull().default(1),
    /** Highest seq handed out for this user's inbox; allocation happens in the insert transaction. */
    lastSeq: integer("last_seq").notNull().default(0),
    /** Cumulative ack: every inbox message with seq ≤ this is done. */
    ackedSeq: integer("acked_seq").notNull().default(0),
    /** Admin's per-user LLM provider assignment (a name from LLM_PROVIDERS). */
    llmProvider: text("llm_provider"),
    /** Feishu user OAuth tokens, AES-GCM encrypted (never plain). */
    feishuTokensEnc: text("feishu_tokens_enc"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
    lastSeenAt: integer("last_seen_at"),
  },
  (t) => [uniqueIndex("users_open_id").on(t.openId)],
);

export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    connectedAt: integer("connected_at").notNull(),
    disconnectedAt: integer("disconnected_at"),
    closeCode: integer("close_code"),
    remoteAddress: text("remote_address"),
    userAgent: text("user_agent"),
    pluginVersion: text("plugin_version"),
    protocol: text("protocol").notNull().default("v1"),
    /** M2-6: the relay process (NODE_ID) that holds the socket; where each user is connected. */
    nodeId: text("node_id"),
  },
  (t) => [index("sessions_user").on(t.userId, t.connectedAt)],
);

export const inbox = sqliteTable(
  "inbox",
  {
    // No AUTOINCREMENT: it rewrites sqlite_sequence on every insert (a WAL page per commit). A rowid
    // may then be reused once the newest row is gone; lookups by rowid check the message id too.
    id: integer("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    seq: integer("seq").notNull(),
    eventId: text("event_id").notNull(),
    messageId: text("message_id").notNull(),
    chatId: text("chat_id").notNull(),
    /** JSON of the InboundMessage (protocol.ts) exactly as it will be pushed. */
    payload: text("payload").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  // Whether a row is acked is `seq <= users.acked_seq` (the ack is cumulative): an ack writes one
  // users row, not every inbox row it covers.
  // No index on message_id: Feishu's ids are random, and a random-keyed index costs every commit one
  // WAL page per message (~4 KB written, fsynced and checkpointed). The SQLite adapter keeps message
  // id → row in memory instead (relay/inbox-message-ids.ts), exact because one process writes.
  // No index on received_at either: only the prune (every 5 minutes) asked it, and every commit paid
  // for it (a WAL page, ~18 µs a commit of 21 messages). Rows are stored in rowid order, which is
  // received order, so the prune finds its cut-off row by a binary search on the rowid
  // (relay/inbox-received-bound.ts).
  (t) => [uniqueIndex("inbox_user_seq").on(t.userId, t.seq)],
);

/**
 * Dedupe marks for Feishu events that store no inbox row (other event types, unknown senders, group
 * messages without an @-mention: `e:<event_id>`) and for messages dropped over the cap
 * (`m:<message_id>`), kept for the 7.1 h re-push window (pruned after 8 h). A stored message is its
 * own mark: inbox rows are kept at least as long, and `inbox(message_id)` is unique.
 */
export const seenEvents = sqliteTable(
  "seen_events",
  {
    key: text("key").primaryKey(),
    seenAt: integer("seen_at").notNull(),
  },
  (t) => [index("seen_events_seen_at").on(t.seenAt)],
);

export const outbox = sqliteTable(
  "outbox",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** Idempotency key: the frame's `uuid`, the HTTP Idempotency-Key, or generated. */
    uuid: text("uuid").notNull(),
    /** The validated send request (protocol.ts SendRequest) as JSON. */
    request: text("request").notNull(),
    status: text("status", { enum: ["pending", "sending", "sent", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    deadlineAt: integer("deadline_at").notNull(),
    /** Feishu message ids (JSON array) once sent; long text may become several messages. */
    messageIds: text("message_ids"),
    lastErrorCode: text("last_error_code"),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    /** M2-2: the uploaded media (`media.id`) a media send carries; keeps the bytes while it waits. */
    mediaId: text("media_id"),
    /** M2-2: Feishu's image_key/file_key once uploaded, recorded before the send so a retry never uploads twice. */
    mediaKey: text("media_key"),
  },
  (t) => [
    uniqueIndex("outbox_user_uuid").on(t.userId, t.uuid),
    index("outbox_due").on(t.status, t.nextAttemptAt),
    index("outbox_media").on(t.mediaId),
  ],
);

/**
 * M2-2: bytes a plugin uploaded with `PUT /api/media`, stored as files beside the database
 * (`media/<id>`); a row exists only once its file is durably in place.
 */
export const media = sqliteTable(
  "media",
  {
    /** Random, URL-safe; also the file's name. */
    id: text("id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    size: integer("size").notNull(),
    /** Normalised MIME type (lower case, no parameters). */
    mime: text("mime").notNull(),
    name: text("name"),
    sha256: text("sha256").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Deleted after this unless a send still waits for it. */
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("media_user").on(t.userId), index("media_expires_at").on(t.expiresAt)],
);

/** Which chats a user may address: those their messages were delivered from. */
export const chats = sqliteTable(
  "chats",
  {
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    chatId: text("chat_id").notNull(),
    chatType: text("chat_type").notNull(),
    lastMessageAt: integer("last_message_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.chatId] })],
);

/** Settings and caches: tenant token with expiry, JWT secret, OAuth state, rate-limit marks. */
export const kv = sqliteTable(
  "kv",
  {
    key: text("key").primaryKey(),
    value: text("value").notNull(),
    expiresAt: integer("expires_at"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("kv_expires_at").on(t.expiresAt)],
);

/**
 * M2-3: one streaming card per (user, stream id). Open streams are closed at start-up and after
 * FEISHU_STREAM_IDLE; a final `send` with the stream id writes its final content (relay/streams.ts).
 */
export const streams = sqliteTable(
  "streams",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    streamId: text("stream_id").notNull(),
    /** The DeliveryTarget (JSON) the card was sent to. */
    target: text("target").notNull(),
    /** CardKit card id; null until created. */
    cardId: text("card_id"),
    /** The Feishu message that carries the card; null until sent. */
    messageId: text("message_id"),
    /** Last CardKit `sequence` used for this card (must strictly increase across all its calls). */
    sequence: integer("sequence").notNull().default(0),
    /** The text Feishu last accepted for the card (what a restart closes it with). */
    shownText: text("shown_text").notNull().default(""),
    /** opening | open | closed | final | failed */
    status: text("status").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("streams_user_stream").on(t.userId, t.streamId), index("streams_status").on(t.status)],
);

/** M2-3: Typing reactions the relay added and has not removed yet (a restart removes leftovers). */
export const typingReactions = sqliteTable(
  "typing_reactions",
  {
    messageId: text("message_id").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    seq: integer("seq").notNull(),
    /** Null while the add call is in flight. */
    reactionId: text("reaction_id"),
    addedAt: integer("added_at").notNull(),
  },
  (t) => [index("typing_reactions_user_seq").on(t.userId, t.seq)],
);

/**
 * M2-4: a group bound to one user's agent. Every @-mention in the group (from anyone, registered or
 * not) goes to the owner's inbox; without a row a group keeps the M1 routing (each registered
 * sender's own agent). `requireMention: false` (owner's agent sees every message) is allowed only
 * here and needs the `im:message.group_msg` scope.
 */
export const groupBindings = sqliteTable(
  "group_bindings",
  {
    chatId: text("chat_id").primaryKey(),
    ownerUserId: integer("owner_user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    requireMention: integer("require_mention", { mode: "boolean" }).notNull().default(true),
    /** Who bound it: `open_id:<ou_…>` (self-service /bind), `admin` (API or CLI). */
    boundBy: text("bound_by").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("group_bindings_owner").on(t.ownerUserId)],
);

/**
 * M2-4: what Feishu told us about a chat (GET im/v1/chats/:chat_id), cached so frames carry the
 * group's name instead of its oc_ id, and so the bot-added notice goes out once per chat.
 */
export const chatInfo = sqliteTable("chat_info", {
  chatId: text("chat_id").primaryKey(),
  name: text("name"),
  /** `group`, `topic` or `p2p` (Feishu's chat_mode). */
  chatMode: text("chat_mode"),
  /** When the name was fetched (ms); refreshed after CHAT_INFO_TTL. Null: never fetched. */
  fetchedAt: integer("fetched_at"),
  /** When the bot posted its "how to /bind" notice in this group (ms); null: not yet. */
  noticeAt: integer("notice_at"),
});
