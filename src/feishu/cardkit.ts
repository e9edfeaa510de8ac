/**
 * CardKit card entities (feishu-reference.md §11.5 b): create a streaming card, stream an element's
 * text, replace an element, and end streaming. One attempt per call (callers decide about retrying);
 * every call first passes the rate limiter as kind `card`, keyed by the card (10 ops/s per entity),
 * creation keyed by its owner. Failures are `FeishuApiError`s; the codes callers act on are below.
 */
import { FeishuApiError, isRateLimit } from "./api-error.ts";
import type { CallPriority, SendRateLimiter } from "./rate-limiter.ts";
import type { FeishuRestClient } from "./rest-client.ts";

/** Streaming was closed (by us, or by Feishu after 10 minutes): content PUTs are refused. */
export const STREAMING_CLOSED_CODES = new Set([300309, 200850, 200510]);
/** The card cannot be used any more (gone, expired, not ours). */
export const CARD_GONE_CODES = new Set([200740, 200750, 300311]);
/** When Feishu throttles a card call without saying for how long. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 1000;

export interface CardCallOptions {
  priority: CallPriority;
  /** Who the call is for (the relay's user): owners share the app-wide budget round-robin. */
  owner?: string;
  signal?: AbortSignal;
}

export interface CardStep {
  /** Strictly increasing per card across all its calls (int32 ≥ 1). */
  sequence: number;
  /** 1–64 characters; makes a repeated step idempotent. */
  uuid: string;
}

const BASE = "/open-apis/cardkit/v1/cards";
const cardPath = (cardId: string) => `${BASE}/${encodeURIComponent(cardId)}`;
const elementPath = (cardId: string, elementId: string) =>
  `${cardPath(cardId)}/elements/${encodeURIComponent(elementId)}`;

export class CardKit {
  constructor(
    private readonly client: FeishuRestClient,
    private readonly limiter: SendRateLimiter,
  ) {}

  /** Creates a card entity from JSON 2.0; resolves with its `card_id`. */
  async createCard(card: Record<string, unknown>, opts: CardCallOptions): Promise<string> {
    const api = "cardkit.card.create";
    const answer = await this.#call(`card:new:${opts.owner ?? "app"}`, opts, {
      method: "POST",
      path: BASE,
      body: { type: "card_json", data: JSON.stringify(card) },
      api,
    });
    const id = answer.card_id;
    if (typeof id === "string" && id) return id;
    throw new FeishuApiError({
      kind: "http",
      code: "feishu_bad_response",
      msg: "no card_id in the answer",
      status: 200,
      retryable: true,
      api,
    });
  }

  /** Sets the full text of a streaming `markdown`/`plain_text` element (the client types the new tail). */
  async streamContent(
    cardId: string,
    elementId: string,
    text: string,
    step: CardStep,
    opts: CardCallOptions,
  ): Promise<void> {
    await this.#call(`card:${cardId}`, opts, {
      method: "PUT",
      path: `${elementPath(cardId, elementId)}/content`,
      body: { content: text, sequence: step.sequence, uuid: step.uuid },
      api: "cardkit.card_element.content",
    });
  }

  /** Replaces one element (works after streaming ended, unlike `streamContent`). */
  async replaceElement(
    cardId: string,
    elementId: string,
    element: Record<string, unknown>,
    step: CardStep,
    opts: CardCallOptions,
  ): Promise<void> {
    await this.#call(`card:${cardId}`, opts, {
      method: "PUT",
      path: elementPath(cardId, elementId),
      body: { element: JSON.stringify(element), sequence: step.sequence, uuid: step.uuid },
      api: "cardkit.card_element.update",
    });
  }

  /** Ends streaming and sets the chat-list preview (`summary`). */
  async closeStreaming(
    cardId: string,
    summary: string,
    step: CardStep,
    opts: CardCallOptions,
  ): Promise<void> {
    const settings = { config: { streaming_mode: false, summary: { content: summary } } };
    await this.#call(`card:${cardId}`, opts, {
      method: "PATCH",
      path: `${cardPath(cardId)}/settings`,
      body: { settings: JSON.stringify(settings), sequence: step.sequence, uuid: step.uuid },
      api: "cardkit.card.settings",
    });
  }

  async #call(
    key: string,
    opts: CardCallOptions,
    call: { method: "POST" | "PUT" | "PATCH"; path: string; body: unknown; api: string },
  ): Promise<Record<string, unknown>> {
    await this.limiter.acquire(key, {
      kind: "card",
      priority: opts.priority,
      owner: opts.owner,
      signal: opts.signal,
    });
    try {
      return (await this.client.request({ ...call, signal: opts.signal })).data;
    } catch (err) {
      // An app-wide throttle pauses every Feishu call of the app, as a throttled send does.
      if (err instanceof FeishuApiError && isRateLimit(err))
        this.limiter.pauseApp(err.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS);
      throw err;
    }
  }
}

export function isStreamingClosed(err: unknown): boolean {
  return err instanceof FeishuApiError && STREAMING_CLOSED_CODES.has(Number(err.code));
}

export function isCardGone(err: unknown): boolean {
  return err instanceof FeishuApiError && CARD_GONE_CODES.has(Number(err.code));
}
