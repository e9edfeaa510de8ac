/**
 * Token routes for users and their plugins: verify, refresh, and who-am-I (DESIGN §3).
 * Every failed token check counts against the client's IP (tokens.ts `authenticate`).
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { bodyMatches } from "../ops/body-schema.ts";
import { bearerToken } from "../ops/secure-compare.ts";
import { MeResponse, TokenResponse, VerifyBody, VerifyResponse } from "./model.ts";
import { authenticate } from "./tokens.ts";
import { isoOrNull, publicUser } from "./user-store.ts";

const bearer = [{ bearer: [] }];

export function authRoutes(ctx: RelayContext) {
  const { tokens, users } = ctx;
  return new Elysia({ name: "users-auth" })
    .post(
      "/api/auth/verify",
      async ({ body, request, server }) => {
        const token = body?.token ?? bearerToken(request.headers);
        const v = await authenticate(ctx, request, server, token);
        return {
          valid: true as const,
          user: publicUser(v.user),
          expiresAt: new Date(v.expiresAt).toISOString(),
        };
      },
      {
        body: VerifyBody,
        transform: bodyMatches(VerifyBody),
        response: { 200: VerifyResponse },
        detail: { summary: "Check a user token (in the body or as Bearer)", tags: ["users"] },
      },
    )
    .post(
      "/api/auth/refresh",
      async ({ request, server }) => {
        const { user } = await authenticate(ctx, request, server);
        const issued = await tokens.issue(user);
        ctx.log.info("token_refreshed", { userId: user.id, jti: issued.jti });
        return {
          token: issued.token,
          user: publicUser(user),
          expiresAt: new Date(issued.expiresAt).toISOString(),
        };
      },
      {
        response: { 200: TokenResponse },
        detail: {
          summary: "A new token for the same user; the old one works until it expires unless revoked",
          tags: ["users"],
          security: bearer,
        },
      },
    )
    .get(
      "/api/me",
      async ({ request, server }) => {
        const { user } = await authenticate(ctx, request, server);
        return {
          user: publicUser(user),
          connected: ctx.hub.isConnected(user.id),
          pending: await users.pendingCount(user.id),
          lastSeenAt: isoOrNull(user.lastSeenAt),
        };
      },
      {
        response: { 200: MeResponse },
        detail: {
          summary: "The token's user, plugin connection and queue",
          tags: ["users"],
          security: bearer,
        },
      },
    );
}
