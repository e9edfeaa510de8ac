/**
 * Who may call `/api/admin/*`: `Authorization: Bearer ADMIN_TOKEN` (scripts, the CLI's peers), or a
 * console session cookie (sessions.ts). Writes with a session also need the session's CSRF token in
 * `X-CSRF-Token`; a bearer request needs none, since browsers never add that header on their own.
 * Failures count per client IP (shared with user-token failures: 429 after too many).
 */
import type { Config } from "../config/definition.ts";
import type { RelayContext } from "../context.ts";
import { HttpError } from "../ops/errors.ts";
import { clientIp, type PeerSource } from "../ops/rate-limit.ts";
import { bearerToken, secureEqual } from "../ops/secure-compare.ts";
import { unauthorized } from "../users/tokens.ts";
import { type AdminSession, CSRF_HEADER, readCookie, SESSION_COOKIE } from "./sessions.ts";

/** The subject of a break-glass session (signed in with ADMIN_TOKEN). */
export const TOKEN_SUBJECT = "admin-token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The admin API exists when someone can use it: a token, or open_ids allowed into the console. */
export const adminEnabled = (config: Pick<Config, "ADMIN_TOKEN" | "ADMIN_OPEN_IDS">): boolean =>
  Boolean(config.ADMIN_TOKEN) || config.ADMIN_OPEN_IDS.length > 0;

/**
 * The console session of the request, if it is live and its subject still allowed (an open_id taken
 * out of ADMIN_OPEN_IDS, or ADMIN_TOKEN unset, ends its sessions at the next restart).
 */
export async function currentSession(
  ctx: Pick<RelayContext, "adminSessions" | "config">,
  request: Request,
): Promise<AdminSession | undefined> {
  const session = await ctx.adminSessions.get(readCookie(request, SESSION_COOKIE));
  if (!session) return undefined;
  const allowed =
    session.subject === TOKEN_SUBJECT
      ? Boolean(ctx.config.ADMIN_TOKEN)
      : ctx.config.ADMIN_OPEN_IDS.includes(session.subject);
  return allowed ? session : undefined;
}

/** `onBeforeHandle` of every `/api/admin/*` route. */
export function adminGuard(ctx: RelayContext) {
  const { failures } = ctx.tokens;
  const expected = ctx.config.ADMIN_TOKEN;
  return async ({ request, server }: { request: Request; server: PeerSource | null }) => {
    const ip = clientIp(request, server);
    const given = bearerToken(request.headers);
    if (given === undefined) {
      const session = await currentSession(ctx, request);
      if (session) return checkCsrf(request, session);
      failures.assertAllowed(ip);
    } else {
      // Over the limit even the right token waits: ADMIN_TOKEN is what a guesser is after.
      failures.assertAllowed(ip);
      if (expected && secureEqual(given, expected)) return;
    }
    failures.hit(ip);
    ctx.log.warn("admin_auth_failed", { ip, path: new URL(request.url).pathname });
    throw unauthorized(
      given === undefined ? "sign in to the console or send the admin token" : "admin token wrong",
    );
  };
}

/** Writes with a session carry its CSRF token (reads need none). */
export function checkCsrf(request: Request, session: AdminSession): void {
  if (SAFE_METHODS.has(request.method)) return;
  const given = request.headers.get(CSRF_HEADER);
  if (!given || !secureEqual(given, session.csrf))
    throw new HttpError(403, "csrf_failed", "this change needs the console's X-CSRF-Token header");
}
