/**
 * One relay `message` frame → one agent turn, through OpenClaw's channel runtime
 * (openclaw-plugin-reference.md §2.5).
 *
 * Three pipelines, feature-detected (the runtime is typed structurally here, not imported, so the
 * plugin keeps working across host versions):
 * - "current" (2026.9+): `inbound.buildContext` builds the context from facts and `inbound.dispatch`
 *   records the session and runs the turn, as OpenClaw's own channels do.
 * - "turn": hosts with `inbound.dispatchReply` but no `dispatch` get the finalized context through it.
 * - "classic" (2026.1 to 2026.9): resolveAgentRoute → finalizeInboundContext → recordInboundSession →
 *   dispatchReplyWithBufferedBlockDispatcher. 2026.9.6 marks finalizeInboundContext,
 *   recordInboundSession and resolveStorePath `removeAfter 2026-10-01`, so they are only the fallback.
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
import { CHANNEL_ID, type GroupSessionScope } from "./config.ts";
import { type DraftLink, DraftStream, relayStreams, type StreamGate } from "./draft-stream.ts";
import {
  agentText,
  chatLabel,
  commandAuthorized,
  quotedFacts,
  sessionPeer,
  withoutBotMention,
} from "./inbound-context.ts";
import {
  collectInboundMedia,
  type InboundMedia,
  type InboundMediaDeps,
  legacyMediaFields,
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
  inbound?: { buildContext?: Fn; dispatch?: Fn; dispatchReply?: Fn };
  media?: MediaStoreLike;
}

export interface InboundDeps {
  rt: ChannelRuntimeLike;
  cfg: unknown;
  accountId: string;
  /** The owner's open_id from `hello`: only the owner may run OpenClaw commands. */
  ownerOpenId: string | undefined;
  /** The bot from `hello`: its mention is removed from text an older relay left it in. */
  bot?: { openId?: string; name?: string };
  /** Config `groupSessionScope` (default "group"). */
  groupSessionScope?: GroupSessionScope;
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
  dmScope?: string;
}

export type Pipeline = "current" | "turn" | "classic";

/** Which pipeline this host supports, or undefined when it lacks what every one of them needs. */
export function pipelineFor(rt: ChannelRuntimeLike): Pipeline | undefined {
  if (!rt.routing?.resolveAgentRoute) return undefined;
  const build = rt.inbound?.buildContext;
  const finalize = rt.reply?.finalizeInboundContext;
  const classic = rt.reply?.dispatchReplyWithBufferedBlockDispatcher;
  if (build && rt.inbound?.dispatch) return "current";
  if (!build && !finalize) return undefined;
  if (
    rt.inbound?.dispatchReply &&
    classic &&
    finalize &&
    rt.session?.recordInboundSession &&
    rt.session.resolveStorePath
  )
    return "turn";
  return classic ? "classic" : undefined;
}

export function conversationTarget(frame: MessageFrame): RelayTarget {
  return frame.chatType === "group"
    ? (`chat:${frame.chatId}` as RelayTarget)
    : (`user:${frame.sender.openId}` as RelayTarget);
}

/** What the context is built from, whichever API builds it. */
interface Facts {
  frame: MessageFrame;
  route: Route;
  accountId: string;
  target: string;
  isGroup: boolean;
  senderLabel: string;
  label: string;
  /** The message text without the bot's mention (commands parse this). */
  text: string;
  /** What the agent reads: text, forwarded chat, media notes. */
  bodyForAgent: string;
  body: string;
  authorized: boolean;
  media: InboundMedia["media"];
}

export async function handleInbound(frame: MessageFrame, deps: InboundDeps): Promise<void> {
  const { rt, cfg, log } = deps;
  const pipeline = pipelineFor(rt);
  if (!pipeline) {
    throw new Error("this OpenClaw version lacks the channel runtime the feishu-relay plugin needs");
  }
  const isGroup = frame.chatType === "group";
  const { peer, parentPeer } = sessionPeer(frame, deps.groupSessionScope);
  const route = rt.routing!.resolveAgentRoute!({
    cfg,
    channel: CHANNEL_ID,
    accountId: deps.accountId,
    peer,
    ...(parentPeer ? { parentPeer } : {}),
  }) as Route;
  const senderLabel = frame.sender.name || frame.sender.openId;
  // Before dispatch: the agent should see the files; a failed download only adds a note.
  const inbound: InboundMedia = deps.media
    ? await collectInboundMedia(frame, { ...deps.media, store: rt.media, log })
    : { media: [], notes: [] };
  const text = withoutBotMention(frame, deps.bot);
  const bodyForAgent = withNotes(agentText(text, frame.forwarded), inbound.notes);
  const label = isGroup ? chatLabel(frame) : senderLabel;
  const facts: Facts = {
    frame,
    route,
    accountId: route.accountId ?? deps.accountId,
    target: qualifiedTarget(conversationTarget(frame)),
    isGroup,
    senderLabel,
    label,
    text,
    bodyForAgent,
    body: envelope(rt, cfg, frame, senderLabel, label, bodyForAgent),
    authorized: commandAuthorized(frame, deps.ownerOpenId),
    media: inbound.media,
  };
  const ctx = rt.inbound?.buildContext
    ? await buildCurrentContext(rt.inbound.buildContext, facts)
    : classicContext(rt, facts);

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
  log.debug("inbound_dispatch", { messageId: frame.messageId, seq: frame.seq, pipeline });

  // What the two inbound.* entry points take alike.
  const shared = {
    cfg,
    channel: CHANNEL_ID,
    accountId: facts.accountId,
    ctxPayload: ctx,
    delivery: { deliver, onError },
    replyPipeline: {},
    ...(replyOptions ? { replyOptions } : {}),
    record: { onRecordError },
    messageId: frame.messageId,
  };
  const storePath =
    pipeline === "current"
      ? undefined
      : rt.session?.resolveStorePath?.(
          (cfg as { session?: { store?: string } } | undefined)?.session?.store,
          { agentId: route.agentId },
        );
  if (pipeline === "current") {
    await rt.inbound!.dispatch!({
      ...shared,
      route: {
        agentId: route.agentId,
        sessionKey: route.sessionKey,
        ...(route.dmScope ? { dmScope: route.dmScope } : {}),
      },
    });
  } else if (pipeline === "turn" && storePath) {
    await rt.inbound!.dispatchReply!({
      ...shared,
      agentId: route.agentId,
      routeSessionKey: route.sessionKey,
      storePath,
      recordInboundSession: rt.session!.recordInboundSession,
      dispatchReplyWithBufferedBlockDispatcher: rt.reply!.dispatchReplyWithBufferedBlockDispatcher,
    });
  } else {
    if (rt.session?.recordInboundSession && storePath) {
      await rt.session.recordInboundSession({ storePath, sessionKey: route.sessionKey, ctx, onRecordError });
    }
    await rt.reply!.dispatchReplyWithBufferedBlockDispatcher!({
      ctx,
      cfg,
      dispatcherOptions: { deliver, onError },
      ...(replyOptions ? { replyOptions } : {}),
    });
  }
  await deliver.closeStream();
}

/** `inbound.buildContext` (buildChannelInboundEventContext): facts in, finalized context out. */
async function buildCurrentContext(build: Fn, f: Facts): Promise<Record<string, unknown>> {
  const { frame } = f;
  const quote = quotedFacts(frame.quoted);
  return await build({
    channel: CHANNEL_ID,
    accountId: f.accountId,
    messageId: frame.messageId,
    messageIdFull: frame.messageId,
    timestamp: frame.createTime,
    from: f.target,
    sender: { id: frame.sender.openId, name: frame.sender.name },
    conversation: {
      kind: f.isGroup ? "group" : "direct",
      id: frame.chatId,
      label: f.label,
      threadId: frame.threadId,
      nativeChannelId: frame.chatId,
    },
    route: {
      agentId: f.route.agentId,
      accountId: f.route.accountId,
      routeSessionKey: f.route.sessionKey,
      ...(f.route.dmScope ? { dmScope: f.route.dmScope } : {}),
    },
    reply: {
      to: f.target,
      originatingTo: f.target,
      nativeChannelId: frame.chatId,
      replyToId: frame.parentId,
      messageThreadId: frame.threadId,
    },
    message: {
      body: f.body,
      bodyForAgent: f.bodyForAgent,
      rawBody: f.text,
      commandBody: f.text,
      senderLabel: f.senderLabel,
    },
    access: {
      commands: { authorized: f.authorized },
      ...(f.isGroup
        ? {
            mentions: {
              canDetectMention: true,
              wasMentioned: frame.mentionedBot,
              explicitlyMentionedBot: frame.mentionedBot,
            },
          }
        : {}),
    },
    ...(f.media.length > 0 ? { media: f.media } : {}),
    ...(quote
      ? {
          supplemental: {
            quote: {
              id: quote.id,
              fullId: quote.id,
              body: quote.body,
              sender: quote.sender,
              senderAllowed: true,
            },
          },
        }
      : {}),
    extra: { MessageThreadId: frame.threadId, RootMessageId: frame.rootId },
  });
}

/** The same context for hosts without `buildContext`, as MsgContext fields. */
function classicContext(rt: ChannelRuntimeLike, f: Facts): Record<string, unknown> {
  const { frame } = f;
  const quote = quotedFacts(frame.quoted);
  return rt.reply!.finalizeInboundContext!({
    Body: f.body,
    BodyForAgent: f.bodyForAgent,
    RawBody: f.text,
    CommandBody: f.text,
    From: f.target,
    To: f.target,
    OriginatingTo: f.target,
    OriginatingChannel: CHANNEL_ID,
    Provider: CHANNEL_ID,
    Surface: CHANNEL_ID,
    SessionKey: f.route.sessionKey,
    AccountId: f.accountId,
    ChatType: f.isGroup ? "group" : "direct",
    ConversationLabel: f.label,
    GroupSubject: f.isGroup ? f.label : undefined,
    NativeChannelId: frame.chatId,
    SenderId: frame.sender.openId,
    SenderName: frame.sender.name,
    MessageSid: frame.messageId,
    MessageSidFull: frame.messageId,
    ReplyToId: frame.parentId ?? quote?.id,
    ...(quote ? { ReplyToBody: quote.body, ReplyToSender: quote.sender } : {}),
    RootMessageId: frame.rootId,
    MessageThreadId: frame.threadId,
    Timestamp: frame.createTime,
    WasMentioned: f.isGroup ? frame.mentionedBot : undefined,
    CommandAuthorized: f.authorized,
    ...(f.media.length > 0 ? { media: f.media, ...legacyMediaFields(f.media) } : {}),
  });
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
  label: string,
  body: string,
): string {
  const format = rt.reply?.formatAgentEnvelope;
  if (!format) return body;
  try {
    return format({
      channel: "Feishu",
      from: frame.chatType === "group" ? `${from} (group ${label})` : from,
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
