/**
 * A fake Feishu/Lark open platform on 127.0.0.1 that speaks the real wire formats (see
 * /work/shared/feishu-reference.md §9). Used by tests, benchmarks and the local demo.
 *
 *   const fake = await startFakeFeishu();
 *   // point the relay at it: FEISHU_DOMAIN=fake.url, FEISHU_APP_ID=fake.appId, FEISHU_APP_SECRET=fake.appSecret
 *   await fake.pushEvent(relayWebhookUrl, { senderOpenId: "ou_…", text: "hi" });
 *   const reply = await fake.waitForSent((m) => m.kind === "reply");
 *   await fake.stop();
 */
import type { Server } from "bun";
import { TenantTokens } from "./feishu-auth.ts";
import { CardKitApi } from "./feishu-cardkit.ts";
import { ChatsApi, type FakeChatInput } from "./feishu-chats.ts";
import type { FakeContext, JsonObject } from "./feishu-common.ts";
import { type FakeUser, type FakeUserInput, UserDirectory } from "./feishu-contact.ts";
import { handleControl } from "./feishu-control.ts";
import {
  type AppIdentity,
  botMembershipEvent,
  type Envelope,
  type MessageEventOptions,
  messageEvent,
  p2pChatEnteredEvent,
  type UrlVerification,
  urlVerification,
  type V1Envelope,
  type V2Envelope,
  v1Envelope,
  v2Envelope,
} from "./feishu-events.ts";
import { ImApi, type SentMessage } from "./feishu-im.ts";
import { type FakeMessageInput, type ForwardEntry, MessagesApi, type RecallCode } from "./feishu-messages.ts";
import { OAuthProvider } from "./feishu-oauth.ts";
import { type PushOptions, type PushResult, WebhookPusher } from "./feishu-pusher.ts";
import { ReactionsApi } from "./feishu-reactions.ts";
import { ResourceApi, type ResourceCall, type ResourceInput } from "./feishu-resources.ts";
import { type CallRecord, createFetchHandler } from "./feishu-router.ts";
import { type Failure, SlidingWindowLimiter, Switches, type SwitchScope } from "./feishu-switches.ts";
import { type UploadRecord, UploadsApi } from "./feishu-uploads.ts";
import {
  type WsAck,
  type WsClientConfig,
  type WsConnData,
  WsGateway,
  type WsPushOptions,
} from "./feishu-ws-gateway.ts";

export { encryptFeishu, signFeishu } from "./feishu-events.ts";
export type {
  CallRecord,
  Envelope,
  Failure,
  FakeChatInput,
  FakeMessageInput,
  FakeUser,
  FakeUserInput,
  ForwardEntry,
  MessageEventOptions,
  PushOptions,
  PushResult,
  ResourceCall,
  ResourceInput,
  SentMessage,
  SwitchScope,
  UploadRecord,
  V1Envelope,
  V2Envelope,
  WsAck,
  WsClientConfig,
  WsPushOptions,
};

export interface FakeFeishuOptions {
  port?: number;
  /** Must match /^cli_[0-9a-f]{16}$/ or the SDK's WSClient silently refuses to start. */
  appId?: string;
  appSecret?: string;
  botOpenId?: string;
  botName?: string;
  tenantKey?: string;
  /** Verification Token put into pushed envelopes. */
  verificationToken?: string;
  /** Default Encrypt Key for webhook pushes; "" (default) pushes plaintext. */
  encryptKey?: string;
  /** Base clock in ms (default Date.now); `advanceTime` adds an offset on top of it. */
  clock?: () => number;
  /** ClientConfig handed to long-connection clients (seconds). */
  ws?: Partial<WsClientConfig>;
  /** tenant_access_token lifetime in seconds (default 7200). */
  tokenTtlSec?: number;
}

export const DEFAULT_APP_ID = "cli_a1b2c3d4e5f60718";
export const DEFAULT_APP_SECRET = "fake-secret";
export const DEFAULT_BOT_OPEN_ID = "ou_b0700000000000000000000000000b07";

export class FakeFeishu {
  readonly url: string;
  readonly port: number;
  readonly appId: string;
  readonly appSecret: string;
  readonly botOpenId: string;
  readonly botName: string;
  readonly tenantKey: string;
  readonly verificationToken: string;
  /** Every request served (except the /_fake control API). */
  readonly calls: CallRecord[] = [];
  readonly ctx: FakeContext;
  readonly tokens: TenantTokens;
  readonly users = new UserDirectory();
  readonly im: ImApi;
  readonly oauth: OAuthProvider;
  /** Message resources (images, files, audio, video) served by the download API. */
  readonly resources = new ResourceApi();
  readonly pusher: WebhookPusher;
  readonly ws: WsGateway;
  readonly switches = new Switches();
  readonly uploadsApi: UploadsApi;
  /** Message reactions: current ones per message, the call log, failure switches. */
  readonly reactions: ReactionsApi;
  /** M2-3: CardKit card entities and their op log. */
  readonly cardkit: CardKitApi;
  /** M2-4: readable messages (GET im/v1/messages/:id) and recalls. */
  readonly messages: MessagesApi;
  /** M2-4: chat info (GET im/v1/chats/:id). */
  readonly chats: ChatsApi;
  /** Count of 429/99991400 and 230020 answers, injected or enforced. */
  rateLimited = 0;
  private timeOffsetMs = 0;
  private readonly server: Server<WsConnData>;

  constructor(opts: FakeFeishuOptions = {}) {
    const baseClock = opts.clock ?? Date.now;
    this.appId = opts.appId ?? DEFAULT_APP_ID;
    this.appSecret = opts.appSecret ?? DEFAULT_APP_SECRET;
    this.botOpenId = opts.botOpenId ?? DEFAULT_BOT_OPEN_ID;
    this.botName = opts.botName ?? "Fake Relay Bot";
    this.tenantKey = opts.tenantKey ?? "2ed263bf32cf1651";
    this.verificationToken = opts.verificationToken ?? "fake-verification-token";
    this.ctx = {
      appId: this.appId,
      appSecret: this.appSecret,
      botOpenId: this.botOpenId,
      botName: this.botName,
      tenantKey: this.tenantKey,
      verificationToken: this.verificationToken,
      encryptKey: opts.encryptKey ?? "",
      clock: () => baseClock() + this.timeOffsetMs,
      messages: new Map(),
    };
    this.tokens = new TenantTokens(this.ctx, opts.tokenTtlSec);
    this.uploadsApi = new UploadsApi(this.ctx.clock);
    this.reactions = new ReactionsApi(this.ctx);
    this.im = new ImApi(this.ctx, this.users, (key) => this.uploadsApi.byKey(key));
    this.cardkit = new CardKitApi(this.ctx.clock);
    this.im.cardRefs = this.cardkit;
    this.messages = new MessagesApi(this.appId, this.tenantKey, this.ctx.clock, (id) =>
      this.im.sent.items.find((m) => m.messageId === id),
    );
    this.chats = new ChatsApi(this.tenantKey);
    this.oauth = new OAuthProvider(this.ctx, this.users);
    this.pusher = new WebhookPusher(this.ctx);
    this.ws = new WsGateway(this.ctx, () => `ws://127.0.0.1:${this.port}`);
    Object.assign(this.ws.clientConfig, opts.ws);
    const fetch = createFetchHandler({
      ctx: this.ctx,
      tokens: this.tokens,
      im: this.im,
      users: this.users,
      oauth: this.oauth,
      ws: this.ws,
      resources: this.resources,
      switches: this.switches,
      uploads: this.uploadsApi,
      reactions: this.reactions,
      cards: this.cardkit,
      messages: this.messages,
      chats: this.chats,
      calls: this.calls,
      onRateLimited: () => {
        this.rateLimited++;
      },
      extra: (req, url) => handleControl(this, req, url),
    });
    this.server = Bun.serve<WsConnData>({
      hostname: "127.0.0.1",
      port: opts.port ?? 0,
      // No HTTP idle timeout: delayed answers (delay()/setDelay()) must not be cut at Bun's default 10 s.
      idleTimeout: 0,
      fetch,
      websocket: this.ws.handlers,
    });
    this.port = this.server.port ?? 0;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  // ---- time ----

  /** The fake's current time in ms (base clock + advanceTime offset). */
  now(): number {
    return this.ctx.clock();
  }

  /** Moves the fake's clock forward (token, uuid, OAuth code and limiter windows all follow it). */
  advanceTime(ms: number): void {
    this.timeOffsetMs += ms;
  }

  // ---- state ----

  get tokenFetches(): number {
    return this.tokens.fetches;
  }

  /** Every accepted send/reply, in order (uuid duplicates are not recorded twice). */
  get sent(): SentMessage[] {
    return this.im.sent.items;
  }

  /** Every accepted media upload (images and files), in order. */
  get uploads(): UploadRecord[] {
    return this.uploadsApi.uploads.items;
  }

  /** The next `n` uploads answer `failure` (e.g. `{kind:"server_error"}` or `{kind:"rate_limit"}`). */
  failNextUploads(n: number, failure: Failure): void {
    this.uploadsApi.failNext(n, failure);
  }

  /** Resolves with the first upload (already recorded or arriving) matching `predicate`. */
  waitForUpload(
    predicate: (u: UploadRecord) => boolean = () => true,
    timeoutMs = 2000,
  ): Promise<UploadRecord> {
    return this.uploadsApi.uploads.waitFor(predicate, timeoutMs, "an upload");
  }

  /** Clears records, counters, switches, limiters and uuid memory; keeps tokens, users and sockets. */
  reset(): void {
    this.calls.length = 0;
    this.rateLimited = 0;
    this.tokens.fetches = 0;
    this.im.reset();
    this.uploadsApi.reset();
    this.reactions.reset();
    this.cardkit.reset();
    this.im.chatLimiter = undefined;
    this.im.appLimiter = undefined;
    this.switches.clear();
    this.ws.reset();
    this.pusher.pushes.length = 0;
    this.resources.reset();
    this.messages.reset();
    this.chats.reset();
  }

  async stop(): Promise<void> {
    this.ws.stop();
    await this.server.stop(true);
  }

  // ---- tokens ----

  expireAllTokens(): void {
    this.tokens.expireAll();
  }

  revokeToken(token: string): void {
    this.tokens.revoke(token);
  }

  validTokens(): string[] {
    return this.tokens.valid();
  }

  /** HTTP status for 99991661/99991663 answers (unconfirmed upstream: 400 default, 401 plausible). */
  setAuthErrorStatus(status: number): void {
    this.tokens.authErrorStatus = status;
  }

  // ---- switches ----

  /** The next `n` send/reply calls (or all calls with scope "all") fail with `failure`. */
  failNext(n: number, failure: Failure, opts: { scope?: SwitchScope } = {}): void {
    this.switches.failNext(n, failure, opts.scope);
  }

  /** Delays the next `n` send/reply calls (or all calls with scope "all") by `ms`. */
  delay(ms: number, n = 1, opts: { scope?: SwitchScope } = {}): void {
    this.switches.delayNext(ms, n, opts.scope);
  }

  /** Delays every call from now on (0 turns it off). */
  setDelay(ms: number, opts: { scope?: SwitchScope } = {}): void {
    this.switches.constantDelay = { ms, scope: opts.scope ?? "send" };
  }

  /** Answers 400/230020 when one chat gets more than `limit` sends in a sliding second; null turns it off. */
  enforceChatQps(limit: number | null): void {
    this.im.chatLimiter = limit === null ? undefined : new SlidingWindowLimiter(limit);
  }

  /** Answers 429/99991400 when the app sends more than `limit` per sliding second; null turns it off. */
  enforceAppQps(limit: number | null): void {
    this.im.appLimiter = limit === null ? undefined : new SlidingWindowLimiter(limit);
  }

  /** Resolves with the first sent message (already recorded or arriving) matching `predicate`. */
  waitForSent(predicate: (m: SentMessage) => boolean = () => true, timeoutMs = 2000): Promise<SentMessage> {
    return this.im.sent.waitFor(predicate, timeoutMs, "a sent message");
  }

  /** Resolves once `count` messages have been sent in total. */
  waitForSentCount(count: number, timeoutMs = 2000): Promise<SentMessage[]> {
    let seen = 0;
    return this.im.sent
      .waitFor(() => ++seen >= count, timeoutMs, `${count} sent messages`)
      .then(() => this.sent.slice());
  }

  // ---- message resources ----

  /** Makes `bytes` downloadable as `fileKey` of `messageId` (reference §11.1). */
  addResource(input: ResourceInput): void {
    this.resources.register(input);
  }

  /** The next `n` resource downloads answer `failure` (`http502`: a bare 502 page). */
  failResourcesNext(n: number, failure: Failure | { kind: "http502" }): void {
    this.resources.failNext(n, failure);
  }

  get resourceCalls(): ResourceCall[] {
    return this.resources.calls;
  }

  // ---- messages and chats (M2-4) ----

  /** Makes a message readable by GET im/v1/messages/:id; returns its id. */
  addMessage(input: FakeMessageInput): string {
    return this.messages.addMessage(input);
  }

  /** A merge_forward holding `messages` (`{forward:[…]}` nests one); returns the forward's id. */
  addForward(input: {
    chatId: string;
    messageId?: string;
    senderOpenId?: string;
    createTime?: number;
    messages: ForwardEntry[];
  }): string {
    return this.messages.addForward(input);
  }

  /** Recalls a message: reading it answers 230110, a reply to it `replyCode` (230011 default). */
  recallMessage(messageId: string, replyCode?: RecallCode): void {
    this.messages.recall(messageId, replyCode);
  }

  addChat(input: FakeChatInput): void {
    this.chats.addChat(input);
  }

  /** Every GET of a message or a chat answers this much later (0: at once). */
  setReadDelay(ms: number): void {
    this.messages.delayMs = ms;
    this.chats.delayMs = ms;
  }

  // ---- users and OAuth ----

  addUser(input: FakeUserInput): FakeUser {
    return this.users.add(input);
  }

  /** The user the authorize page signs in as (also added to the contact directory). */
  setOAuthUser(input: FakeUserInput): FakeUser {
    return this.oauth.setUser(input);
  }

  /** The authorize page answers `redirect_uri?error=access_denied&state=…`. */
  setOAuthDeny(): void {
    this.oauth.setDeny();
  }

  /** Restricts redirect_uri values (20029 otherwise); empty list allows any. */
  setOAuthRedirectAllowlist(uris: string[]): void {
    this.oauth.redirectAllowlist = uris;
  }

  // ---- event builders (filled with this app's identity and clock) ----

  private identity(): AppIdentity {
    return {
      appId: this.appId,
      tenantKey: this.tenantKey,
      verificationToken: this.verificationToken,
      now: this.now(),
    };
  }

  messageEvent(opts: MessageEventOptions): V2Envelope {
    const envelope = messageEvent(this.identity(), opts);
    this.pusher.remember(envelope);
    // Pushed messages can be quoted later, as on Feishu.
    const event = envelope.event as JsonObject;
    this.messages.recordEvent(event.message as JsonObject, opts.senderOpenId);
    return envelope;
  }

  /** A mention of this bot, for `messageEvent({mentions:[fake.botMention()], text:"@_user_1 hi"})`. */
  botMention(): { openId: string; name: string } {
    return { openId: this.botOpenId, name: this.botName };
  }

  v2Event(eventType: string, event: JsonObject, eventId?: string): V2Envelope {
    return v2Envelope(this.identity(), eventType, event, eventId);
  }

  v1Event(eventType: string, event: JsonObject, uuid?: string): V1Envelope {
    return v1Envelope(this.identity(), eventType, event, uuid);
  }

  urlVerification(challenge: string = crypto.randomUUID()): UrlVerification {
    return urlVerification(challenge, this.verificationToken);
  }

  botAddedEvent(opts: { chatId: string; operatorOpenId: string; removed?: boolean }): V2Envelope {
    return botMembershipEvent(this.identity(), { ...opts, botName: this.botName });
  }

  p2pChatEnteredEvent(openId: string): V2Envelope {
    return p2pChatEnteredEvent(this.identity(), { openId });
  }

  private toEnvelope(input: Envelope | MessageEventOptions): Envelope {
    return "senderOpenId" in input ? this.messageEvent(input) : input;
  }

  // ---- webhook pushes ----

  /** POSTs an envelope (or builds a message event from options) to the relay like the platform does. */
  pushEvent(
    targetUrl: string,
    input: Envelope | MessageEventOptions,
    opts: PushOptions = {},
  ): Promise<PushResult> {
    return this.pusher.push(targetUrl, this.toEnvelope(input), opts);
  }

  /** Re-delivers a push: same event_id by default; `newEventId` keeps message_id; `sameBytes` replays bytes. */
  repush(
    previous: PushResult,
    opts: { newEventId?: boolean; sameBytes?: boolean } = {},
  ): Promise<PushResult> {
    return this.pusher.repush(previous, opts);
  }

  /** Pushes until 200 with the platform's retry schedule (scaled to ms by default: 15, 300, 3600, 21600). */
  pushWithRetries(
    targetUrl: string,
    input: Envelope | MessageEventOptions,
    opts: PushOptions & { retryDelaysMs?: number[] } = {},
  ): Promise<PushResult[]> {
    return this.pusher.pushWithRetries(targetUrl, this.toEnvelope(input), opts);
  }

  // ---- long connection ----

  /** Sends an event over the long connection (queued until a client has pinged); resolves with its ack. */
  wsPushEvent(input: Envelope | MessageEventOptions, opts: WsPushOptions = {}): Promise<WsAck> {
    const envelope = this.toEnvelope(input);
    this.pusher.remember(envelope);
    return this.ws.pushEvent(envelope, opts);
  }

  /** Sends a raw data frame (e.g. type "card"); resolves once written. */
  wsPushRaw(type: string, payload: Uint8Array | string, opts: WsPushOptions = {}): Promise<void> {
    return this.ws.pushRaw(type, payload, opts);
  }

  wsDropConnections(opts: { abrupt?: boolean } = {}): void {
    this.ws.dropConnections(opts);
  }

  get wsAcks(): WsAck[] {
    return this.ws.acks.items;
  }

  get wsConnections(): number {
    return this.ws.connections;
  }

  get wsReadyConnections(): number {
    return this.ws.readyConnections;
  }

  /** Resolves when `count` connections became ready (sent their first ping) at or after `since` (Date.now()). */
  wsWaitForReady(count = 1, timeoutMs = 5000, since = 0): Promise<void> {
    return this.ws.waitForReady(count, timeoutMs, since);
  }

  setWsClientConfig(config: Partial<WsClientConfig>): void {
    Object.assign(this.ws.clientConfig, config);
  }

  /** The next `n` POST /callback/ws/endpoint calls answer `code` (1000040343 is the only retryable one). */
  wsFailEndpointNext(n: number, code: number, msg?: string): void {
    this.ws.failEndpointNext(n, code, msg);
  }
}

export async function startFakeFeishu(opts: FakeFeishuOptions = {}): Promise<FakeFeishu> {
  return new FakeFeishu(opts);
}
