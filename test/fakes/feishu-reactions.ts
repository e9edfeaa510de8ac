/**
 * Message reactions (reference §11.3): `POST /open-apis/im/v1/messages/:message_id/reactions` and
 * `DELETE …/reactions/:reaction_id`, tenant token checked by the router. Answers carry Feishu's
 * `data` (reaction_id, operator, action_time, reaction_type) and its error codes: 231003 for a
 * message the fake never saw (or one recalled), 231001 for an unknown emoji, 231011 for an unknown
 * reaction id, 231010 for a reaction on another message, 231007 for one the app did not add.
 */
import {
  type FakeContext,
  feishuError,
  hex,
  isObject,
  ok,
  parseJsonObject,
  type Reply,
  WaitableList,
} from "./feishu-common.ts";
import { type Failure, failureReply } from "./feishu-switches.ts";

const ADD_RE = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/reactions$/;
const DELETE_RE = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/reactions\/([^/]+)$/;
/** A few of the case-sensitive names of "表情文案说明"; enough for the fake to refuse a wrong case. */
const EMOJIS = new Set([
  "Typing",
  "OnIt",
  "OneSecond",
  "Get",
  "GLANCE",
  "THINKING",
  "DONE",
  "OK",
  "THUMBSUP",
  "CheckMark",
]);

export interface Reaction {
  reactionId: string;
  messageId: string;
  emojiType: string;
  operatorType: "app" | "user";
  operatorId: string;
  actionTime: number;
}

export interface ReactionCall {
  action: "add" | "delete";
  messageId: string;
  reactionId?: string;
  emojiType?: string;
  status: number;
  code: number;
  /** Fake clock time (ms). */
  at: number;
}

export class ReactionsApi {
  readonly calls = new WaitableList<ReactionCall>();
  readonly #byId = new Map<string, Reaction>();
  readonly #recalled = new Set<string>();
  #faults: Array<{ remaining: number; failure: Failure }> = [];

  constructor(private readonly ctx: FakeContext) {}

  handles(method: string, path: string): boolean {
    return (method === "POST" && ADD_RE.test(path)) || (method === "DELETE" && DELETE_RE.test(path));
  }

  /** The next `n` reaction calls answer `failure` (e.g. a 429 or 99991403) instead. */
  failNext(n: number, failure: Failure): void {
    if (n > 0) this.#faults.push({ remaining: n, failure });
  }

  /** The message is recalled: adding a reaction answers 231003 from now on. */
  recall(messageId: string): void {
    this.#recalled.add(messageId);
  }

  /** A user (not the app) reacts: the app may not delete this one (231007). */
  addByUser(messageId: string, emojiType: string, openId: string): Reaction {
    return this.#add(messageId, emojiType, "user", openId);
  }

  /** Reactions on the message now, oldest first. */
  on(messageId: string): Reaction[] {
    return [...this.#byId.values()].filter((r) => r.messageId === messageId);
  }

  /** Every reaction present now. */
  get all(): Reaction[] {
    return [...this.#byId.values()];
  }

  reset(): void {
    this.calls.clear();
    this.#byId.clear();
    this.#recalled.clear();
    this.#faults = [];
  }

  /** Handles an authorised reaction call. */
  handle(method: string, path: string, rawBody: string, authErrorStatus: number): Reply {
    const add = method === "POST" ? ADD_RE.exec(path) : null;
    const del = method === "DELETE" ? DELETE_RE.exec(path) : null;
    const messageId = decodeURIComponent((add ?? del)![1]!);
    const reactionId = del ? decodeURIComponent(del[2]!) : undefined;
    let emojiType: string | undefined;
    const fault = this.#faults[0];
    let reply: Reply;
    if (fault) {
      if (--fault.remaining <= 0) this.#faults.shift();
      reply = failureReply(fault.failure, authErrorStatus);
    } else if (add) {
      const body = parseJsonObject(rawBody);
      const type = body && isObject(body.reaction_type) ? body.reaction_type.emoji_type : undefined;
      emojiType = typeof type === "string" ? type : undefined;
      reply = this.#create(messageId, emojiType);
    } else {
      reply = this.#delete(messageId, reactionId!);
    }
    const code = (reply.body as { code?: number }).code ?? 0;
    this.calls.push({
      action: add ? "add" : "delete",
      messageId,
      reactionId: reactionId ?? (reply.body as { data?: { reaction_id?: string } }).data?.reaction_id,
      emojiType,
      status: reply.status,
      code,
      at: this.ctx.clock(),
    });
    return reply;
  }

  #create(messageId: string, emojiType: string | undefined): Reply {
    if (!this.ctx.messages.has(messageId) || this.#recalled.has(messageId))
      return feishuError(400, 231003, "The message is not found, maybe not exist or deleted.");
    if (!emojiType || !EMOJIS.has(emojiType)) return feishuError(400, 231001, "reaction type is invalid.");
    return ok({
      code: 0,
      msg: "success",
      data: view(this.#add(messageId, emojiType, "app", this.ctx.appId)),
    });
  }

  #delete(messageId: string, reactionId: string): Reply {
    const r = this.#byId.get(reactionId);
    if (!r) return feishuError(400, 231011, "reaction id is invalid.");
    if (r.messageId !== messageId) return feishuError(400, 231010, "reaction is not on this message.");
    if (r.operatorType !== "app" || r.operatorId !== this.ctx.appId)
      return feishuError(400, 231007, "operator is not the reaction's author.");
    this.#byId.delete(reactionId);
    return ok({ code: 0, msg: "success", data: view(r) });
  }

  #add(messageId: string, emojiType: string, operatorType: "app" | "user", operatorId: string): Reaction {
    const r: Reaction = {
      reactionId: `ZCaCIjUBVVWSrm5L-3ZTw${hex(12)}`,
      messageId,
      emojiType,
      operatorType,
      operatorId,
      actionTime: this.ctx.clock(),
    };
    this.#byId.set(r.reactionId, r);
    return r;
  }
}

function view(r: Reaction) {
  return {
    reaction_id: r.reactionId,
    operator: { operator_id: r.operatorId, operator_type: r.operatorType },
    action_time: String(r.actionTime),
    reaction_type: { emoji_type: r.emojiType },
  };
}
