/**
 * CardKit card entities (reference §11.5 b), tenant token checked by the router:
 * - `POST /open-apis/cardkit/v1/cards` `{type:"card_json", data}`: JSON 2.0 only (300303),
 *   `update_multi:false` refused (300302); answers a numeric-string `card_id`.
 * - `PUT …/cards/:id/elements/:eid/content` `{content, sequence, uuid?}`: streaming elements only;
 *   300309 once streaming is closed.
 * - `PUT …/cards/:id/elements/:eid` `{element, sequence, uuid?}`: replaces an element.
 * - `PATCH …/cards/:id/settings` `{settings, sequence, uuid?}`: `config.streaming_mode` / `summary`.
 * Every update: unknown card 200740; `sequence` must strictly increase per card across all calls
 * (300317); a repeated `uuid` with the same sequence answers success again without applying twice.
 *
 * Per-card limit: at most 10 operations per sliding second per card. Past it the real platform's
 * answer is unconfirmed (reference §11.5); this fake answers HTTP 400 with **230020** (the
 * per-resource frequency code the message APIs use), so a client must treat it as "skip / slow down"
 * for that card only — not as an app-wide 429.
 *
 * A card message (`interactive` with `{"type":"card","data":{"card_id"}}`) is accepted by feishu-im.ts
 * only for a card created here and never sent (an entity can be sent only once).
 */
import {
  feishuError,
  isObject,
  type JsonObject,
  ok,
  parseJsonObject,
  type Reply,
  WaitableList,
} from "./feishu-common.ts";
import { chatRateLimitReply, type Failure, failureReply, SlidingWindowLimiter } from "./feishu-switches.ts";

export const CARDS_PATH = "/open-apis/cardkit/v1/cards";
const ELEMENT_RE = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)\/elements\/([^/]+)(\/content)?$/;
const SETTINGS_RE = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)\/settings$/;
export const PER_CARD_LIMIT = 10;

export type CardOpKind = "create" | "content" | "replace" | "settings" | "send";

export interface CardOp {
  cardId: string;
  op: CardOpKind;
  elementId?: string;
  sequence?: number;
  /** HTTP status and Feishu code answered. */
  status: number;
  code: number;
  /** Fake clock time (ms). */
  at: number;
}

export interface CardState {
  cardId: string;
  /** element_id → its text (`content`), for markdown / plain_text elements. */
  elements: Record<string, string>;
  streaming: boolean;
  summary?: string;
  /** The last sequence accepted. */
  sequence: number;
  /** The message that carries it, once sent. */
  messageId?: string;
  createdAt: number;
}

interface Fault {
  remaining: number;
  failure: Failure;
}

const invalid = (why: string) => feishuError(400, 10002, `invalid param: ${why}`);

export class CardKitApi {
  readonly cards = new Map<string, CardState>();
  /** Every card call answered (and card messages sent), app-wide, in order. */
  readonly ops = new WaitableList<CardOp>();
  #perCard = new SlidingWindowLimiter(PER_CARD_LIMIT);
  #createFaults: Fault[] = [];
  #updateFaults: Fault[] = [];
  readonly #uuids = new Map<string, number>();
  #nextId = 7_355_372_766_134_157_313n;

  constructor(private readonly clock: () => number) {}

  handles(method: string, path: string): boolean {
    if (method === "POST" && path === CARDS_PATH) return true;
    if (method === "PUT" && ELEMENT_RE.test(path)) return true;
    return method === "PATCH" && SETTINGS_RE.test(path);
  }

  /** The next `n` card creations answer `failure` (e.g. `{kind:"code", code:99991672}`: no scope). */
  failNextCreates(n: number, failure: Failure): void {
    if (n > 0) this.#createFaults.push({ remaining: n, failure });
  }

  /** The next `n` content / element / settings calls answer `failure` (e.g. a 429). */
  failNextUpdates(n: number, failure: Failure): void {
    if (n > 0) this.#updateFaults.push({ remaining: n, failure });
  }

  reset(): void {
    this.cards.clear();
    this.ops.clear();
    this.#uuids.clear();
    this.#perCard.clear();
    this.#createFaults = [];
    this.#updateFaults = [];
  }

  /** A card message may be sent: the card exists and was never sent. Undefined when fine. */
  checkSend(cardId: string): Reply | undefined {
    const card = this.cards.get(cardId);
    if (!card) return feishuError(400, 230099, "Failed to create card content, ext=card entity not found");
    if (card.messageId)
      return feishuError(400, 230099, "Failed to create card content, ext=card already sent");
    return undefined;
  }

  sent(cardId: string, messageId: string): void {
    const card = this.cards.get(cardId);
    if (!card) return;
    card.messageId = messageId;
    this.#log({ cardId, op: "send", status: 200, code: 0 });
  }

  handle(method: string, path: string, rawBody: string, authErrorStatus: number): Reply {
    const body = parseJsonObject(rawBody);
    if (method === "POST") return this.#create(body, authErrorStatus);
    const element = ELEMENT_RE.exec(path);
    const settings = SETTINGS_RE.exec(path);
    const cardId = decodeURIComponent((element ?? settings)![1]!);
    const op: CardOpKind = settings ? "settings" : element![3] ? "content" : "replace";
    const elementId = element ? decodeURIComponent(element[2]!) : undefined;
    const reply = this.#update(cardId, op, elementId, body, authErrorStatus);
    return reply;
  }

  #create(body: JsonObject | undefined, authErrorStatus: number): Reply {
    const fault = take(this.#createFaults);
    if (fault) return this.#logged("", "create", undefined, undefined, failureReply(fault, authErrorStatus));
    if (body?.type !== "card_json" || typeof body.data !== "string")
      return invalid("type must be card_json with data as a string");
    const card = parseJsonObject(body.data);
    if (!card) return feishuError(400, 200621, "card JSON parse error");
    if (card.schema !== "2.0") return feishuError(400, 300303, "only card JSON 2.0 is supported");
    const config = isObject(card.config) ? card.config : {};
    if (config.update_multi === false) return feishuError(400, 300302, "update_multi must be true");
    const elements: Record<string, string> = {};
    const bodyElements = isObject(card.body) && Array.isArray(card.body.elements) ? card.body.elements : [];
    for (const el of bodyElements) {
      if (isObject(el) && typeof el.element_id === "string")
        elements[el.element_id] = typeof el.content === "string" ? el.content : "";
    }
    const cardId = String(this.#nextId++);
    const summary = isObject(config.summary) ? config.summary.content : undefined;
    this.cards.set(cardId, {
      cardId,
      elements,
      streaming: config.streaming_mode === true,
      summary: typeof summary === "string" ? summary : undefined,
      sequence: 0,
      createdAt: this.clock(),
    });
    this.#log({ cardId, op: "create", status: 200, code: 0 });
    return ok({ code: 0, msg: "success", data: { card_id: cardId } });
  }

  #update(
    cardId: string,
    op: CardOpKind,
    elementId: string | undefined,
    body: JsonObject | undefined,
    authErrorStatus: number,
  ): Reply {
    const logged = (reply: Reply) => this.#logged(cardId, op, elementId, body?.sequence, reply);
    const fault = take(this.#updateFaults);
    if (fault) return logged(failureReply(fault, authErrorStatus));
    const card = this.cards.get(cardId);
    if (!card) return logged(feishuError(400, 200740, "card entity does not exist"));
    if (this.#perCard.hit(cardId, this.clock()) > 0) return logged(chatRateLimitReply());
    if (!body) return logged(invalid("body is not a JSON object"));
    const sequence = body.sequence;
    if (typeof sequence !== "number" || !Number.isInteger(sequence) || sequence < 1 || sequence > 2 ** 31 - 1)
      return logged(invalid("sequence must be an int32 >= 1"));
    const uuid = typeof body.uuid === "string" ? body.uuid : undefined;
    if (uuid !== undefined && (uuid.length < 1 || uuid.length > 64))
      return logged(invalid("uuid is 1-64 chars"));
    if (uuid !== undefined && this.#uuids.has(`${cardId}/${uuid}`)) {
      if (this.#uuids.get(`${cardId}/${uuid}`) === sequence)
        return logged(ok({ code: 0, msg: "success", data: {} }));
      return logged(feishuError(400, 200770, "uuid conflict"));
    }
    if (sequence <= card.sequence) return logged(feishuError(400, 300317, "sequence must be increasing"));
    const problem = this.#apply(card, op, elementId, body);
    if (problem) return logged(problem);
    card.sequence = sequence;
    if (uuid !== undefined) this.#uuids.set(`${cardId}/${uuid}`, sequence);
    return logged(ok({ code: 0, msg: "success", data: {} }));
  }

  #apply(
    card: CardState,
    op: CardOpKind,
    elementId: string | undefined,
    body: JsonObject,
  ): Reply | undefined {
    if (op === "settings") {
      const settings = typeof body.settings === "string" ? parseJsonObject(body.settings) : undefined;
      if (!settings) return invalid("settings must be a JSON string");
      const config = isObject(settings.config) ? settings.config : {};
      if (typeof config.streaming_mode === "boolean") card.streaming = config.streaming_mode;
      if (isObject(config.summary) && typeof config.summary.content === "string")
        card.summary = config.summary.content;
      return undefined;
    }
    if (elementId === undefined || !(elementId in card.elements))
      return feishuError(400, 300313, "element not found");
    if (op === "content") {
      if (!card.streaming) return feishuError(400, 300309, "streaming mode is closed");
      const content = body.content;
      if (typeof content !== "string" || content.length < 1 || content.length > 100_000)
        return invalid("content must be 1-100000 characters");
      card.elements[elementId] = content;
      return undefined;
    }
    const element = typeof body.element === "string" ? parseJsonObject(body.element) : undefined;
    if (!element) return invalid("element must be a JSON string");
    if (element.element_id !== undefined && element.element_id !== elementId)
      return invalid("element_id cannot change");
    card.elements[elementId] = typeof element.content === "string" ? element.content : "";
    return undefined;
  }

  #logged(
    cardId: string,
    op: CardOpKind,
    elementId: string | undefined,
    sequence: unknown,
    reply: Reply,
  ): Reply {
    const code = isObject(reply.body) && typeof reply.body.code === "number" ? reply.body.code : -1;
    this.#log({
      cardId,
      op,
      ...(elementId !== undefined ? { elementId } : {}),
      ...(typeof sequence === "number" ? { sequence } : {}),
      status: reply.status,
      code,
    });
    return reply;
  }

  #log(op: Omit<CardOp, "at">): void {
    this.ops.push({ ...op, at: this.clock() });
  }
}

function take(faults: Fault[]): Failure | undefined {
  const first = faults[0];
  if (!first) return undefined;
  if (--first.remaining <= 0) faults.shift();
  return first.failure;
}

/** The card id of a card message's content (`{"type":"card","data":{"card_id"}}`), if it is one. */
export function cardIdOf(msgType: string, content: JsonObject): string | undefined {
  if (msgType !== "interactive" || content.type !== "card" || !isObject(content.data)) return undefined;
  return typeof content.data.card_id === "string" ? content.data.card_id : "";
}
