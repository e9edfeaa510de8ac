/**
 * A small JSON control API under `/_fake/` so a fake running as its own process (feishu-main.ts) can be driven
 * by the demo and benchmarks. Not part of Feishu; never recorded in `calls`. Inputs are trusted test tooling.
 */

import type { FakeFeishu } from "./feishu.ts";
import type { FakeChatInput } from "./feishu-chats.ts";
import { isObject, type JsonObject, parseJsonObject } from "./feishu-common.ts";
import type { FakeUserInput } from "./feishu-contact.ts";
import type { Envelope, MessageEventOptions } from "./feishu-events.ts";
import type { FakeMessageInput } from "./feishu-messages.ts";
import type { PushOptions } from "./feishu-pusher.ts";
import type { ResourceInput } from "./feishu-resources.ts";
import type { Failure, SwitchScope } from "./feishu-switches.ts";
import type { WsPushOptions } from "./feishu-ws-gateway.ts";

type Handler = (fake: FakeFeishu, body: JsonObject) => unknown | Promise<unknown>;

const eventOf = (body: JsonObject): Envelope | MessageEventOptions =>
  body.event as Envelope | MessageEventOptions;

const POST_ROUTES: Record<string, Handler> = {
  reset: (fake) => fake.reset(),
  users: (fake, body) => fake.addUser(body as unknown as FakeUserInput),
  "oauth-user": (fake, body) => fake.setOAuthUser(body as unknown as FakeUserInput),
  fail: (fake, body) =>
    fake.failNext(Number(body.n ?? 1), body.failure as Failure, {
      scope: body.scope as SwitchScope | undefined,
    }),
  delay: (fake, body) =>
    fake.delay(Number(body.ms ?? 0), Number(body.n ?? 1), { scope: body.scope as SwitchScope | undefined }),
  "chat-qps": (fake, body) => fake.enforceChatQps(typeof body.limit === "number" ? body.limit : null),
  "app-qps": (fake, body) => fake.enforceAppQps(typeof body.limit === "number" ? body.limit : null),
  push: async (fake, body) => {
    const result = await fake.pushEvent(
      String(body.targetUrl),
      eventOf(body),
      (body.options ?? {}) as PushOptions,
    );
    const { request: _request, ...rest } = result;
    return rest;
  },
  "ws-push": (fake, body) => fake.wsPushEvent(eventOf(body), (body.options ?? {}) as WsPushOptions),
  "ws-drop": (fake, body) => fake.wsDropConnections({ abrupt: body.abrupt === true }),
  // `bytesBase64` carries the bytes; the other fields are ResourceInput's.
  resources: (fake, body) => {
    const { bytesBase64, ...rest } = body;
    fake.addResource({
      ...(rest as unknown as Omit<ResourceInput, "bytes">),
      bytes: Buffer.from(String(bytesBase64 ?? ""), "base64"),
    });
  },
  "resources-fail": (fake, body) =>
    fake.failResourcesNext(Number(body.n ?? 1), body.failure as Failure | { kind: "http502" }),
  "upload-fail": (fake, body) => fake.failNextUploads(Number(body.n ?? 1), body.failure as Failure),
  "reactions-fail": (fake, body) => fake.reactions.failNext(Number(body.n ?? 1), body.failure as Failure),
  "reactions-recall": (fake, body) => fake.reactions.recall(String(body.messageId)),
  // M2-3: `op` "create" (e.g. failure {kind:"code",code:99991672}: no scope) or "update" (e.g. a 429).
  "cards-fail": (fake, body) =>
    body.op === "create"
      ? fake.cardkit.failNextCreates(Number(body.n ?? 1), body.failure as Failure)
      : fake.cardkit.failNextUpdates(Number(body.n ?? 1), body.failure as Failure),
  // M2-4: readable messages and chats, recalls and a slow read API.
  messages: (fake, body) => ({ messageId: fake.addMessage(body as unknown as FakeMessageInput) }),
  forwards: (fake, body) => ({
    messageId: fake.addForward(body as unknown as Parameters<FakeFeishu["addForward"]>[0]),
  }),
  chats: (fake, body) => fake.addChat(body as unknown as FakeChatInput),
  recall: (fake, body) =>
    fake.recallMessage(String(body.messageId), body.replyCode === 231003 ? 231003 : 230011),
  "read-delay": (fake, body) => fake.setReadDelay(Number(body.ms ?? 0)),
};

const GET_ROUTES: Record<string, (fake: FakeFeishu) => unknown> = {
  state: (fake) => ({
    tokenFetches: fake.tokenFetches,
    rateLimited: fake.rateLimited,
    sent: fake.sent.length,
    uploads: fake.uploads.length,
    calls: fake.calls.length,
    wsConnections: fake.wsConnections,
    wsReadyConnections: fake.wsReadyConnections,
    wsAcks: fake.wsAcks.length,
  }),
  sent: (fake) => fake.sent,
  uploads: (fake) => fake.uploads,
  calls: (fake) => fake.calls,
  "ws-acks": (fake) => fake.wsAcks,
  "resource-calls": (fake) => fake.resourceCalls,
  /** message_id → the reactions on it now. */
  reactions: (fake) => Object.groupBy(fake.reactions.all, (r) => r.messageId),
  "reaction-calls": (fake) => fake.reactions.calls.items,
  cards: (fake) => [...fake.cardkit.cards.values()],
  "card-ops": (fake) => fake.cardkit.ops.items,
  "message-lookups": (fake) => fake.messages.lookups,
  "chat-lookups": (fake) => fake.chats.lookups,
};

export async function handleControl(fake: FakeFeishu, req: Request, url: URL): Promise<Response | undefined> {
  if (!url.pathname.startsWith("/_fake/")) return undefined;
  const name = url.pathname.slice("/_fake/".length);
  try {
    if (req.method === "GET" && GET_ROUTES[name]) return json(200, GET_ROUTES[name](fake));
    if (req.method === "POST" && POST_ROUTES[name]) {
      const text = await req.text();
      const body = text ? parseJsonObject(text) : {};
      if (!body || !isObject(body)) return json(400, { error: "body must be a JSON object" });
      const result = await POST_ROUTES[name](fake, body);
      return json(200, result ?? { ok: true });
    }
    return json(404, { error: `unknown control route ${req.method} ${url.pathname}` });
  } catch (error) {
    return json(500, { error: String(error) });
  }
}

function json(status: number, body: unknown): Response {
  return new Response(
    JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? v.toString() : v)),
    {
      status,
      headers: { "content-type": "application/json" },
    },
  );
}
