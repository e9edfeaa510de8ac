/** User directory (`contact/v3/users/:id`) and bot info (`bot/v3/info`), reference §2.1 and §6. */
import { createHash } from "node:crypto";
import { type FakeContext, feishuError, ok, type Reply } from "./feishu-common.ts";

export interface FakeUserInput {
  openId: string;
  name: string;
  enName?: string;
  unionId?: string;
  userId?: string;
  email?: string;
  avatarUrl?: string;
}

export interface FakeUser {
  openId: string;
  unionId: string;
  userId: string;
  name: string;
  enName: string;
  email?: string;
  avatarUrl: string;
}

/** Deterministic ids derived from the open_id, so events and lookups agree without a registry entry. */
function derived(openId: string, prefix: string, len: number): string {
  return prefix + createHash("sha256").update(`${prefix}${openId}`).digest("hex").slice(0, len);
}

export function defaultUnionId(openId: string): string {
  return derived(openId, "on_", 32);
}

export function defaultUserId(openId: string): string {
  return derived(openId, "", 8);
}

export function completeUser(input: FakeUserInput): FakeUser {
  return {
    openId: input.openId,
    unionId: input.unionId ?? defaultUnionId(input.openId),
    userId: input.userId ?? defaultUserId(input.openId),
    name: input.name,
    enName: input.enName ?? input.name,
    email: input.email,
    avatarUrl: input.avatarUrl ?? `https://s1-imfile.feishucdn.com/static-resource/v1/fake_${input.openId}~`,
  };
}

export type UserIdType = "open_id" | "union_id" | "user_id";

export class UserDirectory {
  private readonly users = new Map<string, FakeUser>();

  add(input: FakeUserInput): FakeUser {
    const user = completeUser(input);
    this.users.set(user.openId, user);
    return user;
  }

  find(id: string, type: UserIdType | "email" = "open_id"): FakeUser | undefined {
    if (type === "open_id") return this.users.get(id);
    for (const user of this.users.values()) {
      if (type === "union_id" && user.unionId === id) return user;
      if (type === "user_id" && user.userId === id) return user;
      if (type === "email" && user.email === id) return user;
    }
    return undefined;
  }

  list(): FakeUser[] {
    return [...this.users.values()];
  }
}

function avatar(url: string): Record<string, string> {
  return {
    avatar_72: `${url}?image_size=72x72`,
    avatar_240: `${url}?image_size=240x240`,
    avatar_640: `${url}?image_size=640x640`,
    avatar_origin: url,
  };
}

export function contactUserJson(user: FakeUser): Record<string, unknown> {
  return {
    open_id: user.openId,
    union_id: user.unionId,
    user_id: user.userId,
    name: user.name,
    en_name: user.enName,
    nickname: "",
    ...(user.email ? { email: user.email } : {}),
    avatar: avatar(user.avatarUrl),
    status: { is_frozen: false, is_resigned: false, is_activated: true, is_exited: false, is_unjoin: false },
    department_ids: ["od-fake0000000000000000000000000000"],
  };
}

/**
 * GET /open-apis/contact/v3/users/:id. An unknown id answers HTTP 400 with 41050 "no user authority error",
 * which is what the real API answers for users outside the app's contact range.
 */
export function getContactUser(directory: UserDirectory, id: string, url: URL): Reply {
  const type = url.searchParams.get("user_id_type") ?? "open_id";
  if (type !== "open_id" && type !== "union_id" && type !== "user_id") {
    return feishuError(400, 99992402, "field validation failed", {
      error: { field_violations: [{ field: "user_id_type", description: "invalid user_id_type" }] },
    });
  }
  const user = directory.find(decodeURIComponent(id), type);
  if (!user) return feishuError(400, 41050, "no user authority error");
  return ok({ code: 0, msg: "success", data: { user: contactUserJson(user) } });
}

export function getBotInfo(ctx: FakeContext): Reply {
  return ok({
    code: 0,
    msg: "ok",
    bot: {
      activate_status: 2,
      app_name: ctx.botName,
      avatar_url: `https://s1-imfile.feishucdn.com/static-resource/v1/fake_bot_${ctx.appId}~`,
      ip_white_list: [],
      open_id: ctx.botOpenId,
    },
  });
}
