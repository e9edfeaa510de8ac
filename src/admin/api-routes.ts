/**
 * The console's JSON endpoints: overview, recent errors, and the session itself (break-glass sign-in
 * with ADMIN_TOKEN, who-am-I with the CSRF token, sign-out). Users and groups are the existing
 * `/api/admin/users` and `/api/admin/chats`.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { bodyMatches } from "../ops/body-schema.ts";
import { HttpError } from "../ops/errors.ts";
import { clientIp } from "../ops/rate-limit.ts";
import { secureEqual } from "../ops/secure-compare.ts";
import { unauthorized } from "../users/tokens.ts";
import { adminGuard, checkCsrf, currentSession, TOKEN_SUBJECT } from "./guard.ts";
import { OverviewResponse, RecentErrorsResponse, SessionBody, SessionResponse } from "./model.ts";
import { type OverviewDeps, overview } from "./overview.ts";
import { type AdminSession, cameOverHttps, readCookie, SESSION_COOKIE, sessionCookie } from "./sessions.ts";

const admin = [{ adminToken: [] }];

export const sessionJson = (s: AdminSession) => ({
  subject: s.subject,
  name: s.name,
  csrfToken: s.csrf,
  expiresAt: new Date(s.expiresAt).toISOString(),
});

export function consoleApiRoutes(ctx: RelayContext, deps: OverviewDeps) {
  return new Elysia({ name: "admin-console-api" })
    .onBeforeHandle(adminGuard(ctx))
    .get("/api/admin/overview", () => overview(ctx, deps), {
      response: { 200: OverviewResponse },
      detail: {
        summary: "Version, uptime, Feishu status, plugins, per-minute rates, outbox and inbox backlog",
        tags: ["admin"],
        security: admin,
      },
    })
    .get("/api/admin/errors", () => ({ entries: deps.recent.list() }), {
      response: { 200: RecentErrorsResponse },
      detail: {
        summary: "The latest warn/error log entries (in memory, redacted, newest first)",
        tags: ["admin"],
        security: admin,
      },
    });
}

export function sessionRoutes(ctx: RelayContext) {
  const sessions = ctx.adminSessions;
  const { failures } = ctx.tokens;
  const publicUrl = ctx.config.PUBLIC_URL;
  return new Elysia({ name: "admin-console-session" })
    .post(
      "/api/admin/session",
      async ({ body, request, server }) => {
        const expected = ctx.config.ADMIN_TOKEN;
        if (!expected)
          throw new HttpError(403, "token_sign_in_off", "sign-in with the admin token needs ADMIN_TOKEN");
        const ip = clientIp(request, server);
        failures.assertAllowed(ip);
        if (!secureEqual(body.token, expected)) {
          failures.hit(ip);
          ctx.log.warn("admin_auth_failed", { ip, path: "/api/admin/session" });
          throw unauthorized("admin token wrong");
        }
        const { id, session } = await sessions.create(TOKEN_SUBJECT, "ADMIN_TOKEN");
        ctx.log.info("admin_signed_in", { subject: TOKEN_SUBJECT, ip });
        const secure = cameOverHttps(request, server, publicUrl);
        return Response.json(sessionJson(session), {
          headers: {
            "set-cookie": sessionCookie(id, session.expiresAt - ctx.now(), secure),
            "cache-control": "no-store",
          },
        });
      },
      {
        body: SessionBody,
        transform: bodyMatches(SessionBody),
        response: { 200: SessionResponse },
        detail: {
          summary: "Break-glass console sign-in: the admin token, posted once, becomes a session cookie",
          tags: ["admin"],
        },
      },
    )
    .get(
      "/api/admin/session",
      async ({ request }) => {
        const session = await currentSession(ctx, request);
        if (!session) throw unauthorized("not signed in to the console");
        return sessionJson(session);
      },
      {
        response: { 200: SessionResponse },
        detail: { summary: "The console session and its CSRF token", tags: ["admin"] },
      },
    )
    .delete(
      "/api/admin/session",
      async ({ request, server, set }) => {
        const session = await currentSession(ctx, request);
        if (!session) throw unauthorized("not signed in to the console");
        checkCsrf(request, session);
        await sessions.destroy(readCookie(request, SESSION_COOKIE));
        ctx.log.info("admin_signed_out", { subject: session.subject });
        set.status = 204;
        set.headers["set-cookie"] = sessionCookie("", 0, cameOverHttps(request, server, publicUrl));
      },
      { detail: { summary: "Sign out of the console (needs X-CSRF-Token)", tags: ["admin"] } },
    );
}
