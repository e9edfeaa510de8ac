/**
 * One relay `message` frame → one agent turn, through OpenClaw's channel runtime
 * (openclaw-plugin-reference.md §2.5).
 *
 * The classic pipeline (resolveAgentRoute → finalizeInboundContext → recordInboundSession →
 * dispatchReplyWithBufferedBlockDispatcher) has worked unchanged from 2026.1 to 2026.9. Hosts that
 * have `inbound.dispatchReply` (2026.9+) get the same context through it instead, which records
 * the session and runs the turn lifecycle for us. Everything is feature-detected: the runtime is
 * typed structurally here, not imported, so the plugin keeps working across host versions.
 *
 * Attachments (relay feature `media`) are downloaded and stored before dispatch and reach the agent
 * as `media` facts (inbound-media.ts). Replies go back as `send` frames with `replyTo` = the Feishu
 * message id (payload-send.ts, media included); `deliver` resolves only when the relay confirms with
 * `sent` and throws on `error`, so OpenClaw sees failed deliveries.
 *
 * Live answers (relay feature `stream`): the turn gets OpenClaw's `onPartialReply` (and no block
 * streaming, whose pieces would arrive as separate messages) and forwards the snapshots as drafts
 * (draft-stream.ts); the first final payload closes the stream by carrying its `streamId`.
 */
import type { MessageFrame } from "../../src/relay/protocol.ts";
import { CHANNEL_ID } from "./config.ts";
import { type DraftLink, DraftStream, relayStreams, type StreamGate } from "./draft-stream.ts";
import {
  collectInboundMedia,
  type InboundMedia,
  type InboundMediaDeps,
  type MediaStoreLike,
} from "./inbound-media.ts";
import { type EventLog, errorText } from "./log.ts";
import { withNotes } from "./media-rules.ts";
import { type LoadMedia, payloadUrls, type RelayLink, sendPayload } from "./payload-send.ts";
import { qualifiedTarget, type RelayTarget } from "./targets.ts";

// biome-ignore lint/suspicious/noExplicitAny: host functions are called with host-shaped objects.
type Fn = (...args: any[]) => any;

/** The parts of OpenClaw's `PluginRuntime["channel"]` this module uses. */
export interface ChannelRuntimeLike {
  routing?: { resolveAgentRoute?: Fn };
  reply?: {
    finalizeInboundContext?: Fn;
    dispatchReplyWithBufferedBlockDispatcher?: Fn;
    formatAgentEnvelope?: Fn;
    resolveEnvelopeFormatOptions?: Fn;
  };
  session?: { resolveStorePath?: Fn; recordInboundSession?: Fn };
  inbound?: { dispatchReply?: Fn };
  media?: MediaStoreLike;
}

export interface InboundDeps {
  rt: ChannelRuntimeLike;
  cfg: unknown;
  accountId: string;
  /** The owner's open_id from `hello`: only the owner may run OpenClaw commands. */
  ownerOpenId: string | undefined;
  /** The relay connection replies go out on (send frames, media uploads). */
  link: RelayLink;
  /** Set when the relay has the `media` feature: how to fetch this message's attachments. */
  media?: Omit<InboundMediaDeps, "store" | "log">;
  /** OpenClaw's media loader, for media in replies. */
  load?: LoadMedia;
  /** Set when the account streams answers (config `streaming`, default on); used if the relay can. */
  stream?: { link: DraftLink; gate: StreamGate };
  signal?: AbortSignal;
  log: EventLog;
}

interface Route {
  agentId: string;
  accountId?: string;
  sessionKey: string;
}

export function conversationTarget(frame: MessageFrame): RelayTarget {
  return frame.chatType === "group"
    ? (`chat:${frame.chatId}` as RelayTarget)
    : (`user:${frame.sender.openId}` as RelayTarget);
}

export async function handleInbound(frame: MessageFrame, deps: InboundDeps): Promise<void> {
  const { rt, cfg, log } = deps;
  const resolveAgentRoute = rt.routing?.resolveAgentRoute;
  const finalize = rt.reply?.finalizeInboundContext;
  const dispatchClassic = rt.reply?.dispatchReplyWithBufferedBlockDispatcher;
  if (!resolveAgentRoute || !finalize || (!dispatchClassic && !rt.inbound?.dispatchReply)) {
    throw new Error("this OpenClaw version lacks the channel runtime the feishu-relay plugin needs");
  }
  const isGroup = frame.chatType === "group";
  const target = qualifiedTarget(conversationTarget(frame));
  const route = resolveAgentRoute({
    cfg,
    channel: CHANNEL_ID,
    accountId: deps.accountId,
    peer: isGroup ? { kind: "group", id: frame.chatId } : { kind: "direct", id: frame.sender.openId },
  }) as Route;
  const senderLabel = frame.sender.name || frame.sender.openId;
  // Before dispatch: the agent should see the files; a failed download only adds a note.
  const inbound: InboundMedia = deps.media
    ? await collectInboundMedia(frame, { ...deps.media, store: rt.media, log })
    : { media: [], notes: [] };
  const bodyForAgent = withNotes(frame.text, inbound.notes);
  const ctx = finalize({
    Body: envelope(rt, cfg, frame, senderLabel, bodyForAgent),
    BodyForAgent: bodyForAgent,
    RawBody: frame.text,
    CommandBody: frame.text,
    From: target,
    To: target,
    OriginatingTo: target,
    OriginatingChannel: CHANNEL_ID,
    Provider: CHANNEL_ID,
    Surface: CHANNEL_ID,
    SessionKey: route.sessionKey,
    AccountId: route.accountId ?? deps.accountId,
    ChatType: isGroup ? "group" : "direct",
    ConversationLabel: isGroup ? frame.chatId : senderLabel,
    GroupSubject: isGroup ? frame.chatId : undefined,
    NativeChannelId: frame.chatId,
    SenderId: frame.sender.openId,
    SenderName: frame.sender.name,
    MessageSid: frame.messageId,
    MessageSidFull: frame.messageId,
    ReplyToId: frame.parentId,
    MessageThreadId: frame.threadId,
    Timestamp: frame.createTime,
    WasMentioned: isGroup ? frame.mentionedBot : undefined,
    CommandAuthorized: Boolean(deps.ownerOpenId) && frame.sender.openId === deps.ownerOpenId,
    ...(inbound.media.length > 0 ? { media: inbound.media } : {}),
  });

  const drafts = draftStreamFor(frame, deps);
  const deliver = replyDeliverer(frame, deps, drafts);
  const replyOptions = drafts
    ? { onPartialReply: (payload: unknown) => drafts.partial(payload as never), disableBlockStreaming: true }
    : undefined;
  const onError = (err: unknown, info?: { kind?: string }) =>
    log.warn("reply_failed", {
      messageId: frame.messageId,
      kind: info?.kind,
      code: (err as { code?: string } | undefined)?.code,
      error: errorText(err),
    });
  const onRecordError = (err: unknown) =>
    log.warn("session_record_failed", { messageId: frame.messageId, error: errorText(err) });
  const storePath = rt.session?.resolveStorePath?.(
    (cfg as { session?: { store?: string } } | undefined)?.session?.store,
    { agentId: route.agentId },
  );

  if (rt.inbound?.dispatchReply && dispatchClassic && rt.session?.recordInboundSession && storePath) {
    log.debug("inbound_dispatch", { messageId: frame.messageId, seq: frame.seq, pipeline: "turn" });
    await rt.inbound.dispatchReply({
      cfg,
      channel: CHANNEL_ID,
      accountId: route.accountId ?? deps.accountId,
      agentId: route.agentId,
      routeSessionKey: route.sessionKey,
      storePath,
      ctxPayload: ctx,
      recordInboundSession: rt.session.recordInboundSession,
      dispatchReplyWithBufferedBlockDispatcher: dispatchClassic,
      delivery: { deliver, onError },
      replyPipeline: {},
      ...(replyOptions ? { replyOptions } : {}),
      record: { onRecordError },
      messageId: frame.messageId,
    });
    await deliver.closeStream();
    return;
  }
  log.debug("inbound_dispatch", { messageId: frame.messageId, seq: frame.seq, pipeline: "classic" });
  if (rt.session?.recordInboundSession && storePath) {
    await rt.session.recordInboundSession({ storePath, sessionKey: route.sessionKey, ctx, onRecordError });
  }
  await dispatchClassic?.({
    ctx,
    cfg,
    dispatcherOptions: { deliver, onError },
    ...(replyOptions ? { replyOptions } : {}),
  });
  await deliver.closeStream();
}

/** Drafting for this turn, when the account allows it and the relay offers it now. */
function draftStreamFor(frame: MessageFrame, deps: InboundDeps): DraftStream | undefined {
  if (!deps.stream || !relayStreams(deps.stream.link.hello)) return undefined;
  return new DraftStream({
    link: deps.stream.link,
    gate: deps.stream.gate,
    target: replyTarget(frame),
    base: frame.messageId,
    log: deps.log,
  });
}

/** Replies quote the user's message when it has a Feishu id; otherwise they go to its chat. */
function replyTarget(frame: MessageFrame): { replyTo: string } | { to: RelayTarget } {
  return frame.messageId.startsWith("om_") ? { replyTo: frame.messageId } : { to: conversationTarget(frame) };
}

/** The agent-visible body: OpenClaw's standard envelope when the host offers it. */
function envelope(
  rt: ChannelRuntimeLike,
  cfg: unknown,
  frame: MessageFrame,
  from: string,
  body: string,
): string {
  const format = rt.reply?.formatAgentEnvelope;
  if (!format) return body;
  try {
    return format({
      channel: "Feishu",
      from: frame.chatType === "group" ? `${from} (group ${frame.chatId})` : from,
      timestamp: frame.createTime,
      envelope: rt.reply?.resolveEnvelopeFormatOptions?.(cfg),
      body,
    });
  } catch {
    return body;
  }
}

/**
 * `deliver` for one inbound message. Each payload becomes one or more `send` frames replying to the
 * message; the uuid is derived from the message id and the payload's position, so if the relay
 * redelivers this message after a crash and the agent answers again, the relay recognises the
 * repeats instead of posting them twice.
 *
 * With drafts, the first final payload closes the stream (its text, or the last snapshot when it
 * has none); `closeStream` does the same after the turn when no final payload came (e.g. the agent
 * chose not to reply), so no card is left "generating" until the relay's idle timeout.
 */
function replyDeliverer(frame: MessageFrame, deps: InboundDeps, drafts: DraftStream | undefined) {
  let index = 0;
  const target = replyTarget(frame);
  const deliver = async (payload: unknown, info?: { kind?: string }): Promise<void> => {
    const p = (payload ?? {}) as { text?: unknown; mediaUrl?: unknown; mediaUrls?: unknown };
    let text = typeof p.text === "string" ? p.text : "";
    const urls = payloadUrls(p);
    const isFinal = info?.kind === undefined || info.kind === "final";
    if (!text.trim() && urls.length === 0 && !(isFinal && drafts?.streamId)) return;
    const stream = isFinal ? drafts?.finish() : undefined;
    if (stream && !text.trim()) text = stream.text;
    if (!text.trim() && urls.length === 0) return;
    const n = index++;
    const answers = await sendPayload({
      link: deps.link,
      load: deps.load,
      target,
      // Later pieces stay in the topic of a thread, else they are plain messages in the chat.
      followUp: "replyTo" in target && frame.threadId ? target : { to: conversationTarget(frame) },
      text,
      urls,
      uuidBase: [frame.messageId, n],
      ...(stream ? { streamId: stream.streamId } : {}),
      signal: deps.signal,
      log: deps.log,
    });
    for (const sent of answers) {
      deps.log.debug(sent.type === "queued" ? "reply_queued" : "reply_sent", {
        messageId: frame.messageId,
        kind: info?.kind,
        sent: sent.type === "sent" ? sent.messageId : undefined,
      });
    }
  };
  const closeStream = async (): Promise<void> => {
    if (!drafts?.streamId) return;
    try {
      await deliver({}, { kind: "final" });
    } catch (err) {
      deps.log.warn("stream_close_failed", { messageId: frame.messageId, error: errorText(err) });
    }
  };
  return Object.assign(deliver, { closeStream });
}
