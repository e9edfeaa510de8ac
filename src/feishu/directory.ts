/**
 * Who is who on Feishu: a user's profile (`contact/v3/users/:open_id`, feishu-reference.md §6) and
 * the bot's own identity (`bot/v3/info`, §2.1) — its open_id tells whether a message @-mentions the
 * bot and goes into the plugin's hello frame. Both are cached in memory; the users table keeps the
 * durable copy of profiles (its owner calls `user()`). Concurrent lookups of one id share a call.
 */
import { FeishuApiError } from "./api-error.ts";
import type { FeishuRestClient } from "./rest-client.ts";

export interface FeishuUserInfo {
  openId: string;
  name: string;
  unionId?: string;
  userId?: string;
  avatarUrl?: string;
}

export interface BotInfo {
  openId: string;
  name: string;
}

export interface DirectoryOptions {
  now?: () => number;
  /** How long a profile is trusted (default 10 min). */
  userTtlMs?: number;
  /** Profiles kept at most; the oldest go first (default 5000). */
  maxUsers?: number;
  /** How long the bot identity is trusted before it is asked again (default 1 h). */
  botTtlMs?: number;
}

interface Entry<T> {
  value: T;
  at: number;
}

export class FeishuDirectory {
  readonly #client: FeishuRestClient;
  readonly #now: () => number;
  readonly #userTtlMs: number;
  readonly #maxUsers: number;
  readonly #botTtlMs: number;
  readonly #users = new Map<string, Entry<FeishuUserInfo>>();
  readonly #userCalls = new Map<string, Promise<FeishuUserInfo>>();
  #bot: Entry<BotInfo> | undefined;
  #botCall: Promise<BotInfo> | undefined;

  constructor(client: FeishuRestClient, opts: DirectoryOptions = {}) {
    this.#client = client;
    this.#now = opts.now ?? Date.now;
    this.#userTtlMs = opts.userTtlMs ?? 10 * 60_000;
    this.#maxUsers = opts.maxUsers ?? 5000;
    this.#botTtlMs = opts.botTtlMs ?? 60 * 60_000;
  }

  /** The profile of `openId`; rejects with a `FeishuApiError` (41050: outside the app's contact range). */
  user(openId: string): Promise<FeishuUserInfo> {
    const hit = this.#users.get(openId);
    if (hit && this.#now() - hit.at < this.#userTtlMs) return Promise.resolve(hit.value);
    const running = this.#userCalls.get(openId);
    if (running) return running;
    const call = this.#fetchUser(openId).finally(() => this.#userCalls.delete(openId));
    this.#userCalls.set(openId, call);
    return call;
  }

  /** The bot's open_id and name. A failed refresh serves the previous answer rather than nothing. */
  bot(): Promise<BotInfo> {
    const hit = this.#bot;
    if (hit && this.#now() - hit.at < this.#botTtlMs) return Promise.resolve(hit.value);
    this.#botCall ??= this.#fetchBot()
      .catch((err) => {
        if (hit) return hit.value;
        throw err;
      })
      .finally(() => {
        this.#botCall = undefined;
      });
    return this.#botCall;
  }

  /** The bot's open_id (for `mentionedBot`). */
  async botOpenId(): Promise<string> {
    return (await this.bot()).openId;
  }

  /** The bot identity if already known, without a call (hot paths that must not wait). */
  cachedBot(): BotInfo | undefined {
    return this.#bot?.value;
  }

  async #fetchUser(openId: string): Promise<FeishuUserInfo> {
    const { data } = await this.#client.request({
      method: "GET",
      path: `/open-apis/contact/v3/users/${encodeURIComponent(openId)}?user_id_type=open_id`,
      api: "contact.user.get",
    });
    const u = (data.user ?? {}) as Record<string, unknown>;
    const avatar = (u.avatar ?? {}) as Record<string, unknown>;
    const info: FeishuUserInfo = {
      openId: str(u.open_id) ?? openId,
      name: str(u.name) ?? "",
      unionId: str(u.union_id),
      userId: str(u.user_id),
      avatarUrl: str(avatar.avatar_240) ?? str(avatar.avatar_72) ?? str(avatar.avatar_origin),
    };
    this.#users.delete(openId);
    this.#users.set(openId, { value: info, at: this.#now() });
    // Map order is insertion order, so the first key is the oldest entry.
    while (this.#users.size > this.#maxUsers) this.#users.delete(this.#users.keys().next().value!);
    return info;
  }

  async #fetchBot(): Promise<BotInfo> {
    const { body } = await this.#client.request({
      method: "GET",
      path: "/open-apis/bot/v3/info",
      api: "bot.info",
    });
    const bot = (body.bot ?? {}) as Record<string, unknown>;
    const openId = str(bot.open_id);
    if (!openId) {
      const msg = "bot/v3/info answered without an open_id";
      throw new FeishuApiError({
        kind: "http",
        code: "feishu_bad_response",
        msg,
        status: 200,
        retryable: true,
        api: "bot.info",
      });
    }
    const info: BotInfo = { openId, name: str(bot.app_name) ?? "" };
    this.#bot = { value: info, at: this.#now() };
    return info;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}
