/** Maps requests to the fake's modules, applies switches, and records every call. */
import type { Server } from "bun";
import type { TenantTokens } from "./feishu-auth.ts";
import type { CardKitApi } from "./feishu-cardkit.ts";
import type { ChatsApi } from "./feishu-chats.ts";
import type { FakeContext } from "./feishu-common.ts";
import { feishuError, type Reply, replyCode, toResponse } from "./feishu-common.ts";
import { getBotInfo, getContactUser, type UserDirectory } from "./feishu-contact.ts";
import type { ImApi } from "./feishu-im.ts";
import type { MessagesApi } from "./feishu-messages.ts";
import type { OAuthProvider } from "./feishu-oauth.ts";
import type { ReactionsApi } from "./feishu-reactions.ts";
import { RESOURCE_RE, type ResourceApi } from "./feishu-resources.ts";
import { failureReply, type Switches } from "./feishu-switches.ts";
import type { UploadsApi } from "./feishu-uploads.ts";
import type { WsConnData, WsGateway } from "./feishu-ws-gateway.ts";

export interface CallRecord {
  method: string;
  path: string;
  /** The query string including "?", or "". */
  query: string;
  status: number;
  /** Feishu `code` of the answer, when it had one. */
  code?: number;
  /** Fake clock time (ms). */
  at: number;
}

export interface RouterDeps {
  ctx: FakeContext;
  tokens: TenantTokens;
  im: ImApi;
  users: UserDirectory;
  oauth: OAuthProvider;
  ws: WsGateway;
  /** The message-resource download API (binary answers, its own fault switches). */
  resources?: ResourceApi;
  switches: Switches;
  /** Media uploads (multipart): handled before the body is read as text. */
  uploads: UploadsApi;
  /** Message reactions (the typing indicator). */
  reactions?: ReactionsApi;
  /** M2-3: CardKit card entities. */
  cards?: CardKitApi;
  /** M2-4: GET a message (and a reply to a recalled one answers 230011/231003). */
  messages?: MessagesApi;
  /** M2-4: GET a chat's info. */
  chats?: ChatsApi;
  calls: CallRecord[];
  onRateLimited: () => void;
  /** Optional extra routes (the control API); return undefined to fall through. */
  extra?: (req: Request, url: URL) => Promise<Response | undefined>;
}

const SEND_PATH = "/open-apis/im/v1/messages";
const REPLY_RE = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/reply$/;
const USER_RE = /^\/open-apis\/contact\/v3\/users\/([^/]+)$/;
const MESSAGE_GET_RE = /^\/open-apis\/im\/v1\/messages\/([^/]+)$/;
const CHAT_GET_RE = /^\/open-apis\/im\/v1\/chats\/([^/]+)$/;
const RATE_LIMIT_CODES = new Set([99991400, 230020]);

function isSendCall(method: string, path: string): boolean {
  return method === "POST" && (path === SEND_PATH || REPLY_RE.test(path));
}

export function createFetchHandler(deps: RouterDeps) {
  return async (req: Request, server: Server<WsConnData>): Promise<Response | undefined> => {
    const url = new URL(req.url);
    const extra = await deps.extra?.(req, url);
    if (extra) return extra;
    if (url.pathname === "/ws/v2") {
      const rejected = deps.ws.upgrade(req, url, server);
      record(deps, req, url, rejected ? rejected.status : 101, undefined);
      return rejected;
    }
    const resource = req.method === "GET" ? RESOURCE_RE.exec(url.pathname) : null;
    if (resource && deps.resources) {
      const authError = deps.tokens.check(req);
      const [, messageId, fileKey] = resource.map((p) => decodeURIComponent(p));
      const answer = authError
        ? { response: toResponse(authError), code: replyCode(authError) }
        : deps.resources.handle(url, messageId!, fileKey!);
      if (answer.code !== undefined && RATE_LIMIT_CODES.has(answer.code)) deps.onRateLimited();
      record(deps, req, url, answer.response.status, answer.code);
      return answer.response;
    }
    if (deps.uploads.handles(req.method, url.pathname)) {
      const failure = deps.switches.takeFailure(false);
      const reply = failure
        ? failureReply(failure, deps.tokens.authErrorStatus)
        : (deps.tokens.check(req) ??
          (await deps.uploads.handle(req, url.pathname, deps.tokens.authErrorStatus)));
      record(deps, req, url, reply.status, replyCode(reply));
      return toResponse(reply);
    }
    if (deps.reactions?.handles(req.method, url.pathname)) {
      const failure = deps.switches.takeFailure(false);
      const body = await req.text();
      const reply = failure
        ? failureReply(failure, deps.tokens.authErrorStatus)
        : (deps.tokens.check(req) ??
          deps.reactions.handle(req.method, url.pathname, body, deps.tokens.authErrorStatus));
      const code = replyCode(reply);
      if (code !== undefined && RATE_LIMIT_CODES.has(code)) deps.onRateLimited();
      record(deps, req, url, reply.status, code);
      return toResponse(reply);
    }
    const read = req.method === "GET" ? readRoute(deps, url.pathname) : undefined;
    if (read) {
      read.asked();
      // Reads have their own delay (a slow lookup) on top of the "all" switches.
      const delayMs = deps.switches.takeDelay(false) + read.delayMs;
      if (delayMs > 0) await Bun.sleep(delayMs);
      const failure = deps.switches.takeFailure(false);
      const reply = failure
        ? failureReply(failure, deps.tokens.authErrorStatus)
        : (deps.tokens.check(req) ?? read.handle());
      const code = replyCode(reply);
      if (code !== undefined && RATE_LIMIT_CODES.has(code)) deps.onRateLimited();
      record(deps, req, url, reply.status, code);
      return toResponse(reply);
    }
    const rawBody = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
    const isSend = isSendCall(req.method, url.pathname);
    const delayMs = deps.switches.takeDelay(isSend);
    if (delayMs > 0) await Bun.sleep(delayMs);
    const failure = deps.switches.takeFailure(isSend);
    const reply = failure
      ? failureReply(failure, deps.tokens.authErrorStatus)
      : route(deps, req, url, rawBody);
    const code = replyCode(reply);
    if (code !== undefined && RATE_LIMIT_CODES.has(code)) deps.onRateLimited();
    record(deps, req, url, reply.status, code);
    return toResponse(reply);
  };
}

/**
 * GET a message or a chat (M2-4), when the path names one. `asked` notes the lookup when the request
 * arrives, not after a delay: a slow answer to a test's relay must not land in the next test's
 * `lookups` after `reset()`.
 */
function readRoute(
  deps: RouterDeps,
  path: string,
): { delayMs: number; asked: () => void; handle: () => Reply } | undefined {
  const message = deps.messages && MESSAGE_GET_RE.exec(path);
  if (message && deps.messages) {
    const api = deps.messages;
    const id = decodeURIComponent(message[1]!);
    return { delayMs: api.delayMs, asked: () => api.lookups.push(id), handle: () => api.handle(id) };
  }
  const chat = deps.chats && CHAT_GET_RE.exec(path);
  if (chat && deps.chats) {
    const api = deps.chats;
    const id = decodeURIComponent(chat[1]!);
    return { delayMs: api.delayMs, asked: () => api.lookups.push(id), handle: () => api.handle(id) };
  }
  return undefined;
}

function record(deps: RouterDeps, req: Request, url: URL, status: number, code: number | undefined): void {
  deps.calls.push({
    method: req.method,
    path: url.pathname,
    query: url.search,
    status,
    code,
    at: deps.ctx.clock(),
  });
}

function route(deps: RouterDeps, req: Request, url: URL, rawBody: string): Reply {
  const { method } = req;
  const path = url.pathname;
  if (method === "POST" && path === "/open-apis/auth/v3/tenant_access_token/internal") {
    return deps.tokens.handleFetch(rawBody);
  }
  if (method === "POST" && path === "/callback/ws/endpoint") return deps.ws.endpoint(rawBody);
  if (method === "GET" && path === "/open-apis/authen/v1/authorize") return deps.oauth.authorize(url);
  if (method === "POST" && path === "/open-apis/authen/v2/oauth/token") {
    return deps.oauth.token(rawBody, req.headers.get("content-type") ?? "");
  }
  if (method === "GET" && path === "/open-apis/authen/v1/user_info") {
    return deps.oauth.userInfo(req, deps.tokens.authErrorStatus);
  }
  return (
    tenantRoute(deps, req, url, rawBody) ?? feishuError(404, 404, `404 page not found: ${method} ${path}`)
  );
}

/** Endpoints that need a tenant_access_token. */
function tenantRoute(deps: RouterDeps, req: Request, url: URL, rawBody: string): Reply | undefined {
  const { method } = req;
  const path = url.pathname;
  if (deps.cards?.handles(method, path))
    return deps.tokens.check(req) ?? deps.cards.handle(method, path, rawBody, deps.tokens.authErrorStatus);
  const replyMatch = method === "POST" ? REPLY_RE.exec(path) : null;
  const userMatch = method === "GET" ? USER_RE.exec(path) : null;
  const known =
    replyMatch ||
    userMatch ||
    (method === "POST" && path === SEND_PATH) ||
    (method === "GET" && path === "/open-apis/bot/v3/info");
  if (!known) return undefined;
  const authError = deps.tokens.check(req);
  if (authError) return authError;
  if (userMatch) return getContactUser(deps.users, userMatch[1], url);
  if (path === "/open-apis/bot/v3/info") return getBotInfo(deps.ctx);
  const throttled = deps.im.checkAppLimit();
  if (throttled) return throttled;
  const recalled = replyMatch && deps.messages?.replyRefusal(decodeURIComponent(replyMatch[1]!));
  if (recalled) return recalled;
  return deps.im.handle(url, rawBody, replyMatch ? decodeURIComponent(replyMatch[1]) : undefined);
}
