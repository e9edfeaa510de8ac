/**
 * The users feature as one module for `FEATURES` (server.ts): token routes, /api/config, the admin
 * API and the browser sign-in. Building it validates LLM_PROVIDERS, so a bad value stops start-up.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { adminRoutes } from "./admin-routes.ts";
import { authRoutes } from "./auth-routes.ts";
import { llmConfigOf, llmConfigRoutes } from "./llm-config.ts";
import { oauthRoutes } from "./oauth-routes.ts";

export function usersFeature(ctx: RelayContext) {
  llmConfigOf(ctx);
  return new Elysia({ name: "users" })
    .use(authRoutes(ctx))
    .use(llmConfigRoutes(ctx))
    .use(adminRoutes(ctx))
    .use(oauthRoutes(ctx));
}
