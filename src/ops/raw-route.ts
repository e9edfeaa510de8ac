/**
 * Routes that Bun.serve answers itself, outside Elysia's lifecycle: the hot path (the Feishu webhook)
 * and `/health`. Elysia's hooks, context and body parsing cost ~5 µs per request, a tenth of the
 * durable webhook's whole budget; and Elysia compiles a route's handler and its response checker on
 * the route's first request (~20 ms on a slow machine), which a start → healthy time would pay. Such
 * a route does its own checks, caps, metrics and error bodies (the same ones).
 * It stays declared in Elysia as well, for the OpenAPI document and for `app.handle()`, which
 * delegate to the same handler: there is one implementation, reached two ways.
 */
import { errorResponse, HttpError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Registry } from "./metrics.ts";

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

/** `http_requests_total` of one raw route, by status: the series the app's after-response hook counts. */
export function countRequests(metrics: Registry, method: RawRoute["method"], path: string) {
  const requests = metrics.counter("http_requests_total", "HTTP requests by route and status.");
  return requests.seriesBy((status: number) => ({ method, route: path, status }));
}

/**
 * The answer to what a raw route's handler threw, counted: an HttpError's own status and body, else a
 * logged 500 (what the app's error hook does for the other routes).
 */
export function failedAnswer(log: Logger, path: string, count: (status: number) => void) {
  return (err: unknown): Response => {
    if (err instanceof HttpError) {
      count(err.status);
      return errorResponse(err.status, err.code, err.message, err.headers);
    }
    log.error("http_error", { path, err: err as Error });
    count(500);
    return errorResponse(500, "internal_error", "internal error");
  };
}
