/**
 * `/api/admin/*` (DESIGN §3), guarded by ADMIN_TOKEN or a console session (admin/guard.ts). With
 * neither ADMIN_TOKEN nor ADMIN_OPEN_IDS these routes are not registered at all, so they answer 404
 * like any unknown path.
 */
import { Elysia } from "elysia";
import { adminEnabled, adminGuard } from "../admin/guard.ts";
import { ConsoleUsersResponse, UsersQuery } from "../admin/model.ts";
import type { RelayContext } from "../context.ts";
import { bodyMatches } from "../ops/body-schema.ts";
import { HttpError } from "../ops/errors.ts";
import {
  AdminCreateBody,
  AdminTokenResponse,
  LlmAssignBody,
  LlmAssignResponse,
  RevokeResponse,
  UserRef,
} from "./model.ts";
import { publicUser, type UserRecord, type UserStore } from "./user-store.ts";

const admin = [{ adminToken: [] }];

async function mustFind(users: UserStore, ref: string): Promise<UserRecord> {
  const user = await users.find(ref);
  if (!user) throw new HttpError(404, "user_not_found", "no such user");
  return user;
}

export function adminRoutes(ctx: RelayContext) {
  if (!adminEnabled(ctx.config)) return new Elysia({ name: "users-admin" });
  const { users, tokens, llm, consoleStats } = ctx;

  return new Elysia({ name: "users-admin" })
    .onBeforeHandle(adminGuard(ctx))
    .post(
      "/api/admin/users",
      async ({ body, set }) => {
        const { user, created } = await users.upsert({ openId: body.openId, name: body.name });
        const issued = await tokens.issue(user);
        ctx.log.info("admin_user_upserted", { userId: user.id, created });
        set.status = created ? 201 : 200;
        return {
          user: publicUser(user),
          token: issued.token,
          expiresAt: new Date(issued.expiresAt).toISOString(),
        };
      },
      {
        body: AdminCreateBody,
        transform: bodyMatches(AdminCreateBody),
        response: {
          200: AdminTokenResponse,
          201: AdminTokenResponse,
        },
        detail: {
          summary: "Create a user (or return the existing one) with a fresh token",
          tags: ["admin"],
          security: admin,
        },
      },
    )
    .get(
      "/api/admin/users",
      async ({ query }) => {
        const listed = await consoleStats.users(query.q ?? "", ctx.hub.isConnected);
        // One kv read per listed user; in parallel, since on PostgreSQL each is a round trip.
        const revoked = await Promise.all(listed.map((u) => tokens.isRevoked(Number(u.id))));
        listed.forEach((u, i) => {
          u.revoked = revoked[i]!;
        });
        return { users: listed, llmProviders: [...llm.providers.keys()] };
      },
      {
        query: UsersQuery,
        response: { 200: ConsoleUsersResponse },
        detail: {
          summary: "Users (first 500, or those matching q) with connection, queue and revocation state",
          tags: ["admin"],
          security: admin,
        },
      },
    )
    .post(
      "/api/admin/users/:id/revoke",
      async ({ params }) => {
        const user = await mustFind(users, params.id);
        await tokens.revoke(user.id);
        return { revoked: true as const, user: publicUser(user) };
      },
      {
        params: UserRef,
        response: { 200: RevokeResponse },
        detail: {
          summary: "Invalidate every token of the user (id or open_id) and close their socket",
          tags: ["admin"],
          security: admin,
        },
      },
    )
    .put(
      "/api/admin/users/:id/llm",
      async ({ params, body }) => {
        const user = await mustFind(users, params.id);
        if (body.provider !== null && !llm.has(body.provider))
          throw new HttpError(400, "unknown_provider", `"${body.provider}" is not declared in LLM_PROVIDERS`);
        await users.setLlmProvider(user.id, body.provider);
        ctx.log.info("llm_provider_assigned", { userId: user.id, provider: body.provider });
        return { user: publicUser(user), provider: body.provider };
      },
      {
        params: UserRef,
        body: LlmAssignBody,
        transform: bodyMatches(LlmAssignBody),
        response: { 200: LlmAssignResponse },
        detail: {
          summary: "Assign an LLM provider to the user (null: back to the default)",
          tags: ["admin"],
          security: admin,
        },
      },
    );
}
