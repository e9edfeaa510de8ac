/**
 * Routes that Bun.serve answers itself, outside Elysia's lifecycle: the hot path (the Feishu webhook)
 * and `/health`. Elysia's hooks, context and body parsing cost ~5 µs per request, a tenth of the
 * durable webhook's whole budget; and Elysia compiles a route's handler and its response checker on
 * the route's first request (~20 ms on a slow machine), which a start → healthy time would pay. Such
 * a route does its own checks, caps, metrics and error bodies (the same ones).
 * It stays declared in Elysia as well, for the OpenAPI document and for `app.handle()`, which
 * delegate to the same handler: there is one implementation, reached two ways.
 */

export interface RawRoute {
  method: "GET" | "POST";
  path: string;
  /** Answers the request; never throws (errors become `{"error":{"code","message"}}` answers). */
  handle(request: Request): Promise<Response>;
}

const RAW_ROUTES = Symbol("rawRoutes");

/** Attaches raw routes to a feature's Elysia plugin, for `buildApp` to serve (returns the plugin). */
export function withRawRoutes<T extends object>(plugin: T, routes: readonly RawRoute[]): T {
  const own = (plugin as { [RAW_ROUTES]?: RawRoute[] })[RAW_ROUTES] ?? [];
  Object.defineProperty(plugin, RAW_ROUTES, { value: [...own, ...routes], configurable: true });
  return plugin;
}

/** The raw routes attached to a plugin (none for most). */
export function rawRoutesOf(plugin: object): readonly RawRoute[] {
  return (plugin as { [RAW_ROUTES]?: RawRoute[] })[RAW_ROUTES] ?? [];
}
