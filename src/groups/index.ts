/** The groups feature (M2-4) as one module for `FEATURES` (server.ts): the bindings admin API. */
import type { RelayContext } from "../context.ts";
import { chatAdminRoutes } from "./admin-routes.ts";

export function groupsFeature(ctx: RelayContext) {
  return chatAdminRoutes(ctx);
}
