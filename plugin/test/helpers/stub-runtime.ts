/**
 * A stub of OpenClaw's channel runtime (the parts the plugin calls) and of the gateway context
 * `startAccount` receives. The "agent" answers every message with `echo <text>`, like the mock
 * model of the real end-to-end test; tests can replace `reply` to script other behaviour.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChannelRuntimeLike } from "../../src/inbound.ts";
import type { StatusPatch } from "../../src/relay-client.ts";

/** One file the stub media store saved (OpenClaw's SavedRemoteMedia plus what it was given). */
export interface StubSaved {
  id: string;
  path: string;
  size: number;
  contentType?: string;
  subdir?: string;
  originalFilename?: string;
  maxBytes?: number;
}

export interface Dispatched {
  ctx: Record<string, unknown>;
  errors: unknown[];
  /** What the plugin passed as `replyOptions` (live drafts: `onPartialReply`). */
  replyOptions?: StubReplyOptions;
}

/** The `replyOptions` fields the plugin sets (OpenClaw's GetReplyOptions). */
export interface StubReplyOptions {
  onPartialReply?: (payload: { text?: string; delta?: string; replace?: true }) => unknown;
  disableBlockStreaming?: boolean;
}

type Deliver = (payload: unknown, info: { kind: string }) => Promise<unknown>;

export interface StubRuntime {
  rt: ChannelRuntimeLike;
  dispatched: Dispatched[];
  recorded: Array<Record<string, unknown>>;
  /** Files saved through `media.saveResponseMedia`, in order. */
  saved: StubSaved[];
  /** The agent: given the finalized context (and the reply options), the payloads to deliver. */
  reply: (
    ctx: Record<string, unknown>,
    replyOptions?: StubReplyOptions,
  ) =>
    | Array<{ text?: string; mediaUrl?: string; mediaUrls?: string[] }>
    | Promise<Array<{ text?: string; mediaUrl?: string; mediaUrls?: string[] }>>;
}

/**
 * Like OpenClaw's `channel.media.saveResponseMedia`: reads the body (a stream error propagates),
 * enforces `maxBytes`, and writes the bytes to a temp media dir.
 */
function stubMediaStore(saved: StubSaved[]) {
  let dir: string | undefined;
  return {
    saveResponseMedia: async (
      res: Response,
      o: { maxBytes?: number; subdir?: string; originalFilename?: string; fallbackContentType?: string },
    ) => {
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (o.maxBytes !== undefined && bytes.byteLength > o.maxBytes)
        throw Object.assign(new Error("payload exceeds maxBytes"), { code: "max_bytes" });
      dir ??= mkdtempSync(join(tmpdir(), "stub-media-"));
      const sub = join(dir, o.subdir ?? "inbound");
      mkdirSync(sub, { recursive: true });
      const id = `${saved.length + 1}-${o.originalFilename ?? "file"}`;
      const path = join(sub, id);
      writeFileSync(path, bytes);
      const entry: StubSaved = {
        id,
        path,
        size: bytes.byteLength,
        contentType: res.headers.get("content-type") ?? o.fallbackContentType,
        subdir: o.subdir,
        originalFilename: o.originalFilename,
        maxBytes: o.maxBytes,
      };
      saved.push(entry);
      return { id, path, size: entry.size, contentType: entry.contentType };
    },
  };
}

export type StubFlavor = "classic" | "modern" | "current";

/**
 * `flavor` "classic": reply.dispatchReplyWithBufferedBlockDispatcher only; "modern": plus
 * inbound.dispatchReply; "current": inbound.buildContext + inbound.dispatch and none of the calls
 * 2026.9.6 deprecates (finalizeInboundContext, recordInboundSession, resolveStorePath), like a
 * host after their removal.
 */
export function stubRuntime(flavor: StubFlavor = "classic"): StubRuntime {
  const stub: StubRuntime = {
    dispatched: [],
    recorded: [],
    saved: [],
    reply: (ctx) => [{ text: `echo ${ctx.BodyForAgent}` }],
    rt: {},
  };
  // Mirrors the host: deliver errors go to onError, and dispatch itself still resolves.
  const dispatch = async (p: {
    ctx: Record<string, unknown>;
    dispatcherOptions: { deliver: Deliver; onError?: (err: unknown, info: { kind: string }) => void };
    replyOptions?: StubReplyOptions;
  }) => {
    const entry: Dispatched = { ctx: p.ctx, errors: [], replyOptions: p.replyOptions };
    stub.dispatched.push(entry);
    for (const payload of await stub.reply(p.ctx, p.replyOptions)) {
      try {
        await p.dispatcherOptions.deliver(payload, { kind: "final" });
      } catch (err) {
        entry.errors.push(err);
        p.dispatcherOptions.onError?.(err, { kind: "final" });
      }
    }
    return { queuedFinal: true };
  };
  stub.rt = {
    routing: {
      resolveAgentRoute: (p: { accountId: string; peer: { kind: string; id: string } }) => ({
        agentId: "main",
        accountId: p.accountId,
        sessionKey: `agent:main:feishu-relay:${p.peer.kind}:${p.peer.id}`,
      }),
    },
    reply: {
      finalizeInboundContext: (ctx: Record<string, unknown>) => ({ ...ctx, finalized: true }),
      dispatchReplyWithBufferedBlockDispatcher: dispatch,
    },
    media: stubMediaStore(stub.saved),
    session: {
      resolveStorePath: () => "/tmp/stub-store",
      recordInboundSession: async (p: Record<string, unknown>) => {
        stub.recorded.push(p);
      },
    },
  };
  if (flavor === "modern") {
    stub.rt.inbound = {
      dispatchReply: async (turn: {
        ctxPayload: Record<string, unknown>;
        cfg: unknown;
        storePath: string;
        routeSessionKey: string;
        recordInboundSession: (p: unknown) => Promise<void>;
        dispatchReplyWithBufferedBlockDispatcher: typeof dispatch;
        delivery: { deliver: Deliver; onError?: (err: unknown, info: { kind: string }) => void };
        replyOptions?: StubReplyOptions;
      }) => {
        await turn.recordInboundSession({
          storePath: turn.storePath,
          sessionKey: turn.routeSessionKey,
          ctx: turn.ctxPayload,
          modern: true,
        });
        return turn.dispatchReplyWithBufferedBlockDispatcher({
          ctx: turn.ctxPayload,
          dispatcherOptions: { deliver: turn.delivery.deliver, onError: turn.delivery.onError },
          replyOptions: turn.replyOptions,
        });
      },
    };
  }
  if (flavor === "current") {
    stub.rt.reply = { dispatchReplyWithBufferedBlockDispatcher: dispatch };
    stub.rt.session = undefined;
    stub.rt.inbound = {
      buildContext: buildContextLikeHost,
      dispatch: async (turn: {
        ctxPayload: Record<string, unknown>;
        route: { agentId: string; sessionKey: string };
        delivery: { deliver: Deliver; onError?: (err: unknown, info: { kind: string }) => void };
        replyOptions?: StubReplyOptions;
      }) => {
        // The host records the session itself (no storePath or recorder from the plugin).
        stub.recorded.push({ sessionKey: turn.route.sessionKey, ctx: turn.ctxPayload, current: true });
        return dispatch({
          ctx: turn.ctxPayload,
          dispatcherOptions: { deliver: turn.delivery.deliver, onError: turn.delivery.onError },
          replyOptions: turn.replyOptions,
        });
      },
    };
  }
  return stub;
}

/** Facts given to the stub's `inbound.buildContext` (the fields the plugin sets). */
interface BuildFacts {
  channel: string;
  accountId?: string;
  messageId?: string;
  messageIdFull?: string;
  timestamp?: number;
  from: string;
  sender: { id?: string; name?: string };
  conversation: { kind: string; id: string; label?: string; threadId?: string; nativeChannelId?: string };
  route: { agentId: string; accountId?: string; routeSessionKey: string };
  reply: {
    to: string;
    originatingTo?: string;
    replyToId?: string;
    messageThreadId?: string;
    nativeChannelId?: string;
  };
  message: { body?: string; bodyForAgent?: string; rawBody: string; commandBody?: string };
  access?: { commands?: { authorized?: boolean }; mentions?: { wasMentioned?: boolean } };
  media?: unknown[];
  supplemental?: { quote?: { id?: string; fullId?: string; body?: string; sender?: string } };
  extra?: Record<string, unknown>;
}

/**
 * The field mapping of OpenClaw 2026.9.6's buildChannelInboundEventContext (dist/context-*.mjs)
 * and finalizeInboundContext's supplemental step (dist/inbound-context-*.mjs), for what the plugin
 * passes.
 */
function buildContextLikeHost(p: BuildFacts): Record<string, unknown> {
  const ctx: Record<string, unknown> = {
    Body: p.message.body ?? p.message.rawBody,
    BodyForAgent: p.message.bodyForAgent ?? p.message.rawBody,
    RawBody: p.message.rawBody,
    CommandBody: p.message.commandBody ?? p.message.rawBody,
    BodyForCommands: p.message.commandBody ?? p.message.rawBody,
    From: p.from,
    To: p.reply.to,
    SessionKey: p.route.routeSessionKey,
    AgentId: p.route.agentId,
    AccountId: p.route.accountId ?? p.accountId,
    MessageSid: p.messageId,
    MessageSidFull: p.messageIdFull,
    ReplyToId: p.reply.replyToId,
    ChatType: p.conversation.kind,
    ChatId: p.conversation.id,
    ConversationLabel: p.conversation.label,
    GroupSubject: p.conversation.kind !== "direct" ? p.conversation.label : undefined,
    SenderName: p.sender.name,
    SenderId: p.sender.id,
    Timestamp: p.timestamp,
    Provider: p.channel,
    Surface: p.channel,
    WasMentioned: p.access?.mentions?.wasMentioned,
    CommandAuthorized: p.access?.commands?.authorized === true,
    MessageThreadId: p.reply.messageThreadId ?? p.conversation.threadId,
    NativeChannelId: p.reply.nativeChannelId ?? p.conversation.nativeChannelId,
    OriginatingChannel: p.channel,
    OriginatingTo: p.reply.originatingTo ?? p.reply.to,
    ...(p.media ? { media: p.media } : {}),
    ...p.extra,
  };
  const quote = p.supplemental?.quote;
  const fromQuote = {
    ReplyToId: quote?.id,
    ReplyToIdFull: quote?.fullId,
    ReplyToBody: quote?.body,
    ReplyToSender: quote?.sender,
  };
  for (const [k, v] of Object.entries(fromQuote)) if (v !== undefined && ctx[k] === undefined) ctx[k] = v;
  return { ...ctx, built: true };
}

export interface StubGatewayContext {
  ctx: {
    cfg: unknown;
    accountId: string;
    account: unknown;
    abortSignal: AbortSignal;
    log: { info(m: string): void; warn(m: string): void; error(m: string): void; debug(m: string): void };
    setStatus(next: { accountId: string } & StatusPatch): void;
    getStatus(): { accountId: string } & StatusPatch;
    channelRuntime?: unknown;
    runtime: unknown;
  };
  abort: AbortController;
  statuses: Array<StatusPatch>;
  status: () => StatusPatch & Record<string, unknown>;
  logs: string[];
}

export function gatewayContext(cfg: unknown, account: unknown, channelRuntime?: unknown): StubGatewayContext {
  const abort = new AbortController();
  const statuses: StatusPatch[] = [];
  let merged: Record<string, unknown> = { accountId: "default" };
  const logs: string[] = [];
  const sink = (level: string) => (m: string) => logs.push(`${level} ${m}`);
  return {
    abort,
    statuses,
    logs,
    status: () => merged as StatusPatch & Record<string, unknown>,
    ctx: {
      cfg,
      accountId: "default",
      account,
      abortSignal: abort.signal,
      log: { info: sink("info"), warn: sink("warn"), error: sink("error"), debug: sink("debug") },
      // Like the host: a patch merged into the account's runtime snapshot.
      setStatus: (next) => {
        statuses.push(next);
        merged = { ...merged, ...next };
      },
      getStatus: () => merged as { accountId: string },
      channelRuntime,
      runtime: {},
    },
  };
}
