/**
 * Builds the HTTP + WebSocket application without listening, so tests drive it with `app.handle()`.
 * Every error becomes `{"error":{"code","message"}}` here and nowhere else.
 */
import { type AnyElysia, Elysia } from "elysia";
import type { RelayContext } from "./context.ts";
import { apiDocsRoutes } from "./ops/api-docs.ts";
import {
  checkDeclaredLength,
  parseFailure,
  parseJsonBody,
  STREAMED_BODY,
  streamsOwnBody,
} from "./ops/body.ts";
import { errorResponse, HttpError } from "./ops/errors.ts";
import { healthRoutes } from "./ops/health.ts";
import { metricsRoutes } from "./ops/metrics-route.ts";
import { type RawRoute, rawRoutesOf } from "./ops/raw-route.ts";
import { HEARTBEAT_SEC, MAX_CLIENT_FRAME_BYTES } from "./relay/protocol.ts";

export type FeatureModule = (ctx: RelayContext) => AnyElysia;

export function buildApp(ctx: RelayContext, features: FeatureModule[] = []) {
  const requests = ctx.metrics.counter("http_requests_total", "HTTP requests by route and status.");
  /**
   * Statuses of answers the error handler built: a returned Response does not change `set.status`,
   * so without this every refusal would be counted as the status Elysia last set (often 200).
   */
  const errorStatus = new WeakMap<Request, number>();
  const count = (request: Request, route: string | undefined, status: number) =>
    requests.inc({ method: request.method, route: route || "unmatched", status });
  /** WebSocket paths (filled once every route is mounted): an accepted upgrade answered 101, not 200. */
  const webSocketPaths = new Set<string>();
  /**
   * Raw routes (ops/raw-route.ts) by path, filled as features mount: Bun.serve answers them before
   * Elysia (`serve.routes`, read at listen time). Through `app.handle()` they still reach their Elysia
   * declaration, which must leave the body unread and not count the request a second time.
   */
  const rawPaths = new Set<string>();
  const serveRoutes: Record<string, Record<string, RawRoute["handle"]>> = {};
  const app = new Elysia({
    name: "openclaw-relay",
    // Bun's WebSocket settings are per server: plugin frames over 64 KiB are refused (close 1009),
    // and a silent peer is dropped after three missed heartbeats.
    websocket: { maxPayloadLength: MAX_CLIENT_FRAME_BYTES, idleTimeout: HEARTBEAT_SEC * 3 },
    serve: { routes: serveRoutes },
  })
    .onRequest(({ request }) => {
      const tooBig = checkDeclaredLength(request);
      if (tooBig) {
        // Elysia runs no after-response hook for an answer given this early: counted here.
        count(request, undefined, tooBig.status);
        return errorResponse(tooBig.status, tooBig.code, tooBig.message);
      }
    })
    .onParse(({ request, route }) =>
      streamsOwnBody(request) || rawPaths.has(route) ? STREAMED_BODY : parseJsonBody(request),
    )
    .onAfterResponse((c) => {
      if (rawPaths.has(c.route)) return;
      const returned = (c as { responseValue?: unknown }).responseValue;
      const status =
        errorStatus.get(c.request) ??
        (returned instanceof Response
          ? returned.status
          : webSocketPaths.has(c.route)
            ? 101
            : Number(c.set.status ?? 200));
      count(c.request, c.route, status);
    })
    .onError(({ code, error, request }) => {
      const res = errorAnswer(code, error, request);
      errorStatus.set(request, res.status);
      return res;
    });
  for (const feature of [healthRoutes, metricsRoutes, ...features]) {
    const plugin = feature(ctx);
    for (const raw of rawRoutesOf(plugin)) {
      rawPaths.add(raw.path);
      serveRoutes[raw.path] = { ...serveRoutes[raw.path], [raw.method]: (request) => raw.handle(request) };
    }
    app.use(plugin);
  }
  // Last: the OpenAPI document is generated from every route mounted above.
  app.use(apiDocsRoutes(ctx, () => app));
  for (const r of app.routes) if (r.method === "WS") webSocketPaths.add(r.path);
  return app;

  function errorAnswer(code: unknown, error: unknown, request: Request): Response {
    if (error instanceof HttpError)
      return errorResponse(error.status, error.code, error.message, error.headers);
    if (code === "PARSE") {
      const e =
        parseFailure(request) ?? new HttpError(400, "invalid_body", "request body could not be parsed");
      return errorResponse(e.status, e.code, e.message);
    }
    if (code === "VALIDATION") return errorResponse(400, "invalid_request", validationMessage(error));
    if (code === "NOT_FOUND") return errorResponse(404, "not_found", "no such route");
    const status =
      typeof (error as { status?: unknown }).status === "number" ? (error as { status: number }).status : 500;
    if (status >= 500)
      ctx.log.error("http_error", { path: new URL(request.url).pathname, err: error as Error });
    return errorResponse(
      status,
      status >= 500 ? "internal_error" : "bad_request",
      status >= 500 ? "internal error" : String((error as Error).message),
    );
  }
}

export type App = ReturnType<typeof buildApp>;

function validationMessage(error: unknown): string {
  const e = error as { valueError?: { path?: string; message?: string }; message?: string };
  if (e.valueError?.message) return `${e.valueError.path || "body"}: ${e.valueError.message}`;
  try {
    const parsed = JSON.parse(String(e.message)) as { property?: string; summary?: string; message?: string };
    return `${parsed.property ?? "body"}: ${parsed.summary ?? parsed.message ?? "invalid"}`;
  } catch {
    return "request does not match the schema";
  }
}
