/**
 * Plugin WebSocket protocol v1 (docs/protocol.md; DESIGN §4 is the baseline): one TypeBox schema per frame.
 *
 * Shared by the relay server, the OpenClaw plugin (`plugin/` bundles this file) and the tests, so it
 * imports only `@sinclair/typebox` — never Elysia or anything server-side.
 */
import { type Static, Type as T, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

export const PROTOCOL_VERSION = 1;
/** Plugin → relay frames larger than this are refused (DESIGN §4). */
export const MAX_CLIENT_FRAME_BYTES = 64 * 1024;
export const HEARTBEAT_SEC = 25;

/**
 * Optional capabilities (docs/protocol.md "Features"). The relay lists what it supports in
 * `hello.features`; a plugin uses a feature's frames or fields only when it is listed there, so a
 * new plugin keeps working with an old relay (no `features`: none) and an old plugin with a new one.
 */
export const Feature = { media: "media", stream: "stream" } as const;
export type Feature = (typeof Feature)[keyof typeof Feature];

/** Close codes (contract). 4001/4002 are terminal for the plugin; 1012/1006 mean reconnect. */
export const CloseCode = {
  unauthorized: 4001,
  replaced: 4002,
  restarting: 1012,
  /** Backpressure or protocol trouble on the relay side: reconnect and let replay catch up. */
  tryAgain: 1013,
  /** The relay failed to set the connection up (e.g. its database was locked): reconnect later. */
  internalError: 1011,
} as const;

// ---------------------------------------------------------------- server → plugin

export const HelloFrame = T.Object({
  type: T.Literal("hello"),
  protocol: T.Literal(PROTOCOL_VERSION),
  sessionId: T.String(),
  user: T.Object({ id: T.String(), openId: T.String(), name: T.String() }),
  bot: T.Object({ openId: T.String(), name: T.String() }),
  pending: T.Integer({ minimum: 0 }),
  heartbeatSec: T.Integer({ minimum: 1 }),
  /** M2-2: what this relay supports (`Feature`); absent from relays older than M2-2. */
  features: T.Optional(T.Array(T.String())),
  /** M2-2, with feature `media`: the byte limits of `GET /api/media/:id` and `PUT /api/media`. */
  media: T.Optional(
    T.Object({
      /** MEDIA_MAX_BYTES: largest download or upload. */
      maxBytes: T.Integer({ minimum: 1 }),
      /** Largest upload sent as an image (Feishu's 10 MiB); bigger images must go as `file`. */
      imageMaxBytes: T.Integer({ minimum: 1 }),
    }),
  ),
  /** M2-3, with feature `stream`: drafts closer together than this are coalesced anyway. */
  stream: T.Optional(T.Object({ minIntervalMs: T.Integer({ minimum: 0 }) })),
});
export type HelloFrame = Static<typeof HelloFrame>;

export const Mention = T.Object({ key: T.String(), openId: T.String(), name: T.String() });
export type Mention = Static<typeof Mention>;

export const ChatType = T.Union([T.Literal("p2p"), T.Literal("group")]);
export type ChatType = Static<typeof ChatType>;

export const AttachmentKind = T.Union([
  T.Literal("image"),
  T.Literal("file"),
  T.Literal("audio"),
  T.Literal("video"),
  T.Literal("sticker"),
]);
export type AttachmentKind = Static<typeof AttachmentKind>;

/**
 * M2-2: one image, file, voice note, video or sticker of an inbound message, in message order (a
 * post's embedded images and videos included). `url` is `<PUBLIC_URL>/api/media/<id>`; a plugin
 * may equally build it from its relay URL. Stickers carry no `url`: Feishu does not serve them, so
 * only their key (`id`) is given.
 */
export const Attachment = T.Object({
  /** Opaque and stable for this message (replays carry the same id). */
  id: T.String({ minLength: 1 }),
  kind: AttachmentKind,
  name: T.Optional(T.String()),
  mime: T.Optional(T.String()),
  size: T.Optional(T.Integer({ minimum: 0 })),
  durationMs: T.Optional(T.Integer({ minimum: 0 })),
  url: T.Optional(T.String()),
});
export type Attachment = Static<typeof Attachment>;

/**
 * M2-4: a message the inbound one refers to, rendered to text by the relay: the quoted (parent)
 * message of a reply, or one message of a forwarded chat (`merge_forward`).
 */
export const ContextMessage = T.Object({
  messageId: T.String(),
  /** The sender's open_id; absent for apps and anonymous senders. */
  senderOpenId: T.Optional(T.String()),
  senderName: T.Optional(T.String()),
  /** `app` when a bot (this relay's or another) sent it; else `user`. */
  senderType: T.Optional(T.String()),
  msgType: T.String(),
  /** Rendered like an inbound message's `text` (mentions as @Name, media as placeholders). */
  text: T.String(),
  createTime: T.Optional(T.Number()),
  /** Media of the quoted message (download with GET /api/media/:id as for the message itself). */
  attachments: T.Optional(T.Array(Attachment)),
  /**
   * The quoted message's parsed content, as `content` of the message itself (a post normalised to
   * `{title, content}`); the relay reads its media keys from it. Absent in forwarded messages.
   */
  content: T.Optional(T.Record(T.String(), T.Unknown())),
});
export type ContextMessage = Static<typeof ContextMessage>;

/** M2-4: a forwarded chat's messages, oldest first, bounded (≤ 50 messages, ≤ 20,000 characters). */
export const Forwarded = T.Object({
  messages: T.Array(ContextMessage),
  /** Some messages (or the end of a long one) were left out to stay within the bounds. */
  truncated: T.Boolean(),
});
export type Forwarded = Static<typeof Forwarded>;

/** What the relay stores for one inbound Feishu message; the `message` frame adds `type` and `seq`. */
export const InboundMessage = T.Object({
  messageId: T.String(),
  chatId: T.String(),
  chatType: ChatType,
  threadId: T.Optional(T.String()),
  rootId: T.Optional(T.String()),
  parentId: T.Optional(T.String()),
  sender: T.Object({ openId: T.String(), name: T.Optional(T.String()) }),
  mentionedBot: T.Boolean(),
  msgType: T.String(),
  text: T.String(),
  content: T.Record(T.String(), T.Unknown()),
  mentions: T.Array(Mention),
  createTime: T.Number(),
  /** M2-2: present (and non-empty) only when the message has media. */
  attachments: T.Optional(T.Array(Attachment)),
  /**
   * M2-4 (no feature flag: older plugins ignore them). Filled in after the message is stored and
   * before it is delivered, when Feishu answers in time (docs/protocol.md "Context"):
   * `quoted` — the message this one replies to (`parentId`);
   * `forwarded` — the messages of a `merge_forward`;
   * `chatName` — the group's name;
   * `boundChat` — the group is bound to the receiving user's agent: `sender` may be anyone in it.
   */
  quoted: T.Optional(ContextMessage),
  forwarded: T.Optional(Forwarded),
  chatName: T.Optional(T.String()),
  boundChat: T.Optional(T.Boolean()),
});
export type InboundMessage = Static<typeof InboundMessage>;

export const MessageFrame = T.Composite([
  T.Object({ type: T.Literal("message"), seq: T.Integer({ minimum: 1 }) }),
  InboundMessage,
]);
export type MessageFrame = Static<typeof MessageFrame>;

export const SentFrame = T.Object({
  type: T.Literal("sent"),
  id: T.String(),
  messageId: T.String(),
  /** Every Feishu message id when long text was split into several messages, in order. */
  messageIds: T.Optional(T.Array(T.String())),
});
export type SentFrame = Static<typeof SentFrame>;

export const ErrorFrame = T.Object({
  type: T.Literal("error"),
  id: T.Optional(T.String()),
  code: T.String(),
  message: T.String(),
  retryable: T.Boolean(),
  /** M2-1: with `rate_limited` (and other retryable codes), how long to wait before trying again. */
  retryAfterMs: T.Optional(T.Integer({ minimum: 0 })),
});
export type ErrorFrame = Static<typeof ErrorFrame>;

/**
 * M2-1: the send's first attempt failed transiently and the relay keeps it (durably) for a retry
 * at `retryAt` (epoch ms). The plugin treats the send as accepted and must not resend it under a
 * different uuid; the final `sent` / `error` with the same `id` follows later, if the socket lives.
 */
export const QueuedFrame = T.Object({
  type: T.Literal("queued"),
  id: T.String(),
  uuid: T.String(),
  retryAt: T.Optional(T.Number()),
});
export type QueuedFrame = Static<typeof QueuedFrame>;

export const PongFrame = T.Object({ type: T.Literal("pong") });
export type PongFrame = Static<typeof PongFrame>;

export const ServerFrame = T.Union([HelloFrame, MessageFrame, SentFrame, QueuedFrame, ErrorFrame, PongFrame]);
export type ServerFrame = Static<typeof ServerFrame>;

// ---------------------------------------------------------------- plugin → server

export const AckFrame = T.Object({ type: T.Literal("ack"), seq: T.Integer({ minimum: 0 }) });
export type AckFrame = Static<typeof AckFrame>;

export const SendMsgType = T.Union([
  T.Literal("text"),
  T.Literal("post"),
  T.Literal("markdown"),
  T.Literal("interactive"),
  // M2-2, feature `media`: sent with `mediaId` (from `PUT /api/media`); `text` becomes a caption.
  T.Literal("image"),
  T.Literal("file"),
  T.Literal("audio"),
  T.Literal("video"),
]);
export type SendMsgType = Static<typeof SendMsgType>;

export const MEDIA_MSG_TYPES = ["image", "file", "audio", "video"] as const;
export type MediaMsgType = (typeof MEDIA_MSG_TYPES)[number];
export const isMediaMsgType = (t: string | undefined): t is MediaMsgType =>
  (MEDIA_MSG_TYPES as readonly string[]).includes(t ?? "");

/**
 * M2-2: the MIME types `msgType: "image"` accepts (Feishu's `im/v1/images` formats: JPG, PNG, WEBP,
 * GIF, BMP, ICO, TIFF, HEIC) and those `msgType: "audio"` accepts (Feishu plays only Ogg/Opus voice
 * notes), with VIDEO_MIME below. The relay refuses other types with `media_type_mismatch`; the plugin
 * picks `msgType` by them.
 */
export const IMAGE_MIMES: ReadonlySet<string> = new Set([
  "image/jpeg",
  "image/jpg",
  "image/pjpeg",
  "image/png",
  "image/webp",
  "image/gif",
  "image/bmp",
  "image/x-bmp",
  "image/x-ms-bmp",
  "image/x-icon",
  "image/vnd.microsoft.icon",
  "image/tiff",
  "image/heic",
  "image/heif",
]);
export const OPUS_MIMES: ReadonlySet<string> = new Set(["audio/ogg", "audio/opus", "audio/x-opus+ogg"]);
/** M2-2: the one MIME type `msgType: "video"` accepts (Feishu's `media` message plays only MP4). */
export const VIDEO_MIME = "video/mp4";

/** M2-2: the answer of `PUT /api/media` (HTTP 201). */
export const MediaUploadResponse = T.Object({
  mediaId: T.String(),
  size: T.Integer({ minimum: 1 }),
  mime: T.String(),
  name: T.Optional(T.String()),
  /** When the stored bytes are deleted if no send used them (epoch ms). */
  expiresAt: T.Number(),
});
export type MediaUploadResponse = Static<typeof MediaUploadResponse>;

/**
 * M2-3: how a `markdown` send is shown. `auto`: a card (JSON 2.0, one markdown element) when the text
 * has a code fence or a table, a post otherwise; `post`; `card`. The relay's FEISHU_RENDER_MODE
 * applies when a send does not say.
 */
export const RenderMode = T.Union([T.Literal("auto"), T.Literal("post"), T.Literal("card")]);
export type RenderMode = Static<typeof RenderMode>;

/** M2-3: a stream's id, chosen by the plugin, unique per user for at least a day. */
export const StreamId = T.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_:.-]+$" });

/** Body shared by the `send` frame and `POST /api/messages` (cron pushes). */
export const SendRequest = T.Object({
  replyTo: T.Optional(T.String({ pattern: "^om_", maxLength: 128 })),
  to: T.Optional(T.String({ pattern: "^(chat:oc_|user:ou_)", maxLength: 128 })),
  msgType: T.Optional(SendMsgType),
  text: T.Optional(T.String()),
  content: T.Optional(T.Record(T.String(), T.Unknown())),
  uuid: T.Optional(T.String({ minLength: 1, maxLength: 50 })),
  /** M2-2: the `mediaId` answered by `PUT /api/media`; required by the media `msgType`s, refused by others. */
  mediaId: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
  /** M2-2: length of an audio or video in milliseconds (Feishu shows it); optional. */
  durationMs: T.Optional(T.Integer({ minimum: 0 })),
  /** M2-3: for `markdown`, overrides the relay's FEISHU_RENDER_MODE. */
  renderMode: T.Optional(RenderMode),
  /**
   * M2-3, feature `stream`: this send is the final content of the stream its `draft`s opened (only
   * with `text`/`markdown`). It closes the streaming card with this text; a stream that has no card
   * (never drafted, or answered `stream_unavailable`) makes it an ordinary send.
   */
  streamId: T.Optional(StreamId),
});
export type SendRequest = Static<typeof SendRequest>;

export const SendFrame = T.Composite([
  T.Object({ type: T.Literal("send"), id: T.String({ minLength: 1, maxLength: 128 }) }),
  SendRequest,
]);
export type SendFrame = Static<typeof SendFrame>;

export const PingFrame = T.Object({ type: T.Literal("ping") });
export type PingFrame = Static<typeof PingFrame>;

/**
 * M2-3, feature `stream`: the answer so far (the full text, Markdown), for the streaming card of
 * `streamId`. Only the newest draft of a stream matters; the relay coalesces them. No answer on
 * success; `error{id, code:"stream_unavailable"}` when no card can be shown (then send the final
 * as usual). The final content comes as a `send` with the same `streamId`.
 */
export const DraftFrame = T.Object({
  type: T.Literal("draft"),
  id: T.String({ minLength: 1, maxLength: 128 }),
  replyTo: T.Optional(T.String({ pattern: "^om_", maxLength: 128 })),
  to: T.Optional(T.String({ pattern: "^(chat:oc_|user:ou_)", maxLength: 128 })),
  streamId: StreamId,
  text: T.String(),
});
export type DraftFrame = Static<typeof DraftFrame>;

export const ClientFrame = T.Union([AckFrame, SendFrame, DraftFrame, PingFrame]);
export type ClientFrame = Static<typeof ClientFrame>;

// ---------------------------------------------------------------- legacy (original plugin)

export const LegacyAuthFrame = T.Object({ type: T.Literal("auth"), token: T.String() });
export const LegacyLlmRequestFrame = T.Object({
  type: T.Literal("llm_request"),
  content: T.Union([T.String(), T.Object({ text: T.String() })]),
  messageId: T.Optional(T.String()),
});
export type LegacyLlmRequestFrame = Static<typeof LegacyLlmRequestFrame>;

export interface LegacyFeishuMessageFrame {
  type: "feishu_message";
  content: string;
  messageId: string;
  chatType: ChatType;
  chatId: string;
  senderId: string;
  timestamp: number;
}

// ---------------------------------------------------------------- parsing

export type ParseResult<F> = { ok: true; frame: F } | { ok: false; code: "bad_frame"; message: string };

/** Validates an already-decoded frame; never throws (malformed frames must not kill a connection). */
export function checkFrame<S extends TSchema>(schema: S, data: unknown): ParseResult<Static<S>> {
  if (Value.Check(schema, data)) return { ok: true, frame: data as Static<S> };
  const first = Value.Errors(schema, data).First();
  // Only a string type is echoed: String() of an arbitrary object can throw ({"toString":1}).
  const raw = (data as { type?: unknown } | null)?.type;
  const type = typeof raw === "string" ? raw.slice(0, 64) : "?";
  return {
    ok: false,
    code: "bad_frame",
    message: first ? `invalid '${type}' frame at ${first.path || "/"}: ${first.message}` : "invalid frame",
  };
}

/** Parses and validates one text frame; never throws. */
export function parseFrame<S extends TSchema>(schema: S, raw: string): ParseResult<Static<S>> {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, code: "bad_frame", message: "frame is not valid JSON" };
  }
  return checkFrame(schema, data);
}

export const parseClientFrame = (raw: string) => parseFrame(ClientFrame, raw);
export const parseServerFrame = (raw: string) => parseFrame(ServerFrame, raw);
