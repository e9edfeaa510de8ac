/**
 * `/api/admin/chats` (M2-4): list, set and remove group bindings. Guarded like every admin route
 * (ADMIN_TOKEN or a console session, admin/guard.ts); with neither configured the routes do not exist.
 */
import { Elysia } from "elysia";
import { adminEnabled, adminGuard } from "../admin/guard.ts";
import type { RelayContext } from "../context.ts";
import { bodyMatches } from "../ops/body-schema.ts";
import { HttpError } from "../ops/errors.ts";
import type { GroupBindingView } from "./binding-store.ts";
import { ChatBindBody, ChatBindingJson, ChatId, ChatRef, ChatsResponse } from "./model.ts";

const admin = [{ adminToken: [] }];
const CHAT_ID = new RegExp(ChatId.pattern as string);

/** The API's shape of a binding: times as ISO 8601. */
export function chatJson(b: GroupBindingView) {
  return {
    chatId: b.chatId,
    ownerUserId: b.ownerUserId,
    ownerOpenId: b.ownerOpenId,
    ownerName: b.ownerName,
    requireMention: b.requireMention,
    boundBy: b.boundBy,
    createdAt: new Date(b.createdAt).toISOString(),
    updatedAt: new Date(b.updatedAt).toISOString(),
    ...(b.name ? { name: b.name } : {}),
  };
}

function checkedChatId(chatId: string): string {
  if (!CHAT_ID.test(chatId)) throw new HttpError(400, "bad_request", "chatId must be a group chat id (oc_…)");
  return chatId;
}

export function chatAdminRoutes(ctx: RelayContext) {
  if (!adminEnabled(ctx.config)) return new Elysia({ name: "groups-admin" });
  const { bindings, users } = ctx;

  return new Elysia({ name: "groups-admin" })
    .onBeforeHandle(adminGuard(ctx))
    .get("/api/admin/chats", async () => ({ chats: (await bindings.list()).map(chatJson) }), {
      response: { 200: ChatsResponse },
      detail: { summary: "Every group bound to a user's agent", tags: ["admin"], security: admin },
    })
    .put(
      "/api/admin/chats/:chatId",
      async ({ params, body }) => {
        const chatId = checkedChatId(params.chatId);
        const owner = await users.byId(body.ownerUserId);
        if (!owner) throw new HttpError(404, "user_not_found", "no such user");
        await bindings.bind({
          chatId,
          ownerUserId: owner.id,
          requireMention: body.requireMention ?? true,
          boundBy: "admin",
        });
        ctx.log.info("group_bound", { chatId, userId: owner.id, by: "admin" });
        return chatJson((await bindings.view(chatId))!);
      },
      {
        params: ChatRef,
        body: ChatBindBody,
        transform: bodyMatches(ChatBindBody),
        response: { 200: ChatBindingJson },
        detail: {
          summary:
            "Bind a group to a user's agent (replaces any binding); requireMention:false needs the im:message.group_msg scope",
          tags: ["admin"],
          security: admin,
        },
      },
    )
    .delete(
      "/api/admin/chats/:chatId",
      async ({ params, set }) => {
        const chatId = checkedChatId(params.chatId);
        if (!(await bindings.unbind(chatId)))
          throw new HttpError(404, "not_found", "that group is not bound");
        ctx.log.info("group_unbound", { chatId, by: "admin" });
        set.status = 204;
      },
      {
        params: ChatRef,
        detail: { summary: "Remove a group's binding", tags: ["admin"], security: admin },
      },
    );
}
