/**
 * Adds and removes one reaction on a message (feishu-reference.md §11.3): the typing indicator.
 * One attempt each, no retries (the caller decides what a failure means), through the `reaction`
 * budget at the lowest priority so reactions never crowd out replies. A 429 pauses reaction calls
 * only.
 *
 * Errors are `FeishuApiError`s with Feishu's code: 231003 (message not found or recalled), 231002
 * (not in the chat), 231007/231010/231011 (delete: not ours, not on this message, bad id), and the
 * throttles 99991400 (429) and 99991403 (monthly quota), for which `isReactionThrottle` is true.
 */
import { FeishuApiError, isRateLimit } from "./api-error.ts";
import type { SendRateLimiter } from "./rate-limiter.ts";
import type { FeishuRestClient } from "./rest-client.ts";

export const TYPING_EMOJI = "Typing";
/** Monthly API quota exhausted (reference §4.4): like a 429, but for much longer. */
export const QUOTA_EXCEEDED_CODE = 99991403;
/** When Feishu throttles without saying for how long. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 1000;
/** Feishu message ids are `om_` + letters, digits, `_` and `-`; reaction ids are opaque but plain. */
const MESSAGE_ID_RE = /^om_[\w-]{1,120}$/;
const REACTION_ID_RE = /^[\w-]{1,256}$/;

export interface ReactionCallOptions {
  /** Who the reaction is for (the relay's user): owners share the budget round-robin. */
  owner?: string;
  signal?: AbortSignal;
}

/** Rate or quota answers after which the caller should stop adding reactions for a while. */
export function isReactionThrottle(err: unknown): boolean {
  return err instanceof FeishuApiError && (isRateLimit(err) || err.code === QUOTA_EXCEEDED_CODE);
}

export class ReactionClient {
  constructor(
    private readonly client: FeishuRestClient,
    private readonly limiter: SendRateLimiter,
  ) {}

  /** Adds `emojiType` (case-sensitive, e.g. `Typing`) to the message; resolves with the reaction id. */
  async add(messageId: string, emojiType: string, opts: ReactionCallOptions = {}): Promise<string> {
    const api = "im.message.reaction.create";
    checkId(messageId, MESSAGE_ID_RE, "message id", api);
    const answer = await this.#call(opts, {
      method: "POST",
      path: reactionsPath(messageId),
      body: { reaction_type: { emoji_type: emojiType } },
      api,
    });
    const id = answer.data.reaction_id;
    if (typeof id === "string" && id) return id;
    throw new FeishuApiError({
      kind: "http",
      code: "feishu_bad_response",
      msg: "no reaction_id in the answer",
      status: 200,
      logId: answer.logId,
      retryable: false,
      api,
    });
  }

  /** Removes a reaction this app added. */
  async remove(messageId: string, reactionId: string, opts: ReactionCallOptions = {}): Promise<void> {
    const api = "im.message.reaction.delete";
    checkId(messageId, MESSAGE_ID_RE, "message id", api);
    checkId(reactionId, REACTION_ID_RE, "reaction id", api);
    await this.#call(opts, {
      method: "DELETE",
      path: `${reactionsPath(messageId)}/${encodeURIComponent(reactionId)}`,
      api,
    });
  }

  async #call(opts: ReactionCallOptions, call: Parameters<FeishuRestClient["request"]>[0]) {
    await this.limiter.acquire("reaction", {
      kind: "reaction",
      priority: "reaction",
      owner: opts.owner,
      signal: opts.signal,
    });
    try {
      return await this.client.request({ ...call, kind: "reaction", signal: opts.signal });
    } catch (err) {
      if (err instanceof FeishuApiError && isRateLimit(err))
        this.limiter.pauseApp(err.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS, "reaction", "reaction");
      throw err;
    }
  }
}

function reactionsPath(messageId: string): string {
  return `/open-apis/im/v1/messages/${encodeURIComponent(messageId)}/reactions`;
}

function checkId(id: string, re: RegExp, what: string, api: string): void {
  if (re.test(id)) return;
  throw new FeishuApiError({
    kind: "content",
    code: "invalid_id",
    msg: `not a valid ${what}`,
    status: 0,
    retryable: false,
    api,
  });
}
