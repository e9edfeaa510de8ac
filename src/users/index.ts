/**
 * The users feature as one module for `FEATURES` (server.ts): token routes, /api/config, the admin
 * API and the browser sign-in. Its services (users, tokens, LLM config, OAuth) are built by createRelay.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { adminRoutes } from "./admin-routes.ts";
import { authRoutes } from "./auth-routes.ts";
import { llmConfigRoutes } from "./llm-config.ts";
import { oauthRoutes } from "./oauth-routes.ts";

export function usersFeature(ctx: RelayContext) {
  return new Elysia({ name: "users" })
    .use(authRoutes(ctx))
    .use(llmConfigRoutes(ctx))
    .use(adminRoutes(ctx))
    .use(oauthRoutes(ctx));
}
