/**
 * The console's pages: `/admin` (the app), `/admin/login`, the Feishu sign-in for admins
 * (`/admin/auth/feishu` → Feishu → `/admin/oauth/callback`, the same state + PKCE flow as users'
 * sign-in, users/oauth.ts) and the bundled assets. Only open_ids in ADMIN_OPEN_IDS get a session;
 * anyone else gets a 403 page. Signing in as an admin creates no relay user and issues no token.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { HttpError } from "../ops/errors.ts";
import { clientIp, RateLimiter, rateLimited } from "../ops/rate-limit.ts";
import { OAuthCallbackQuery } from "../users/model.ts";
import { STATE_TTL_MS } from "../users/oauth.ts";
import { OAUTH_LIMIT, OAUTH_WINDOW_MS } from "../users/oauth-routes.ts";
import { CONSOLE_CSS, CONSOLE_JS } from "./assets.generated.ts";
import { currentSession } from "./guard.ts";
import { ASSET_PATH, failedPage, refusedPage, shell, signedInPage } from "./pages.ts";
import { cameOverHttps, readCookie, sessionCookie } from "./sessions.ts";

const BINDING_COOKIE = "oc_admin_oauth";
const CALLBACK_PATH = "/admin/oauth/callback";

function asset(body: string, type: string): Response {
  return new Response(body, {
    headers: {
      "content-type": type,
      "cache-control": "public, max-age=86400",
      "x-content-type-options": "nosniff",
    },
  });
}

export function consolePageRoutes(ctx: RelayContext) {
  const { oauth } = ctx;
  const publicUrl = ctx.config.PUBLIC_URL;
  const redirectUri = `${publicUrl}${CALLBACK_PATH}`;
  const limiter = new RateLimiter(OAUTH_LIMIT, OAUTH_WINDOW_MS, ctx.now);
  const feishu = () => oauth.configured && ctx.config.ADMIN_OPEN_IDS.length > 0;
  const binding = (value: string, maxAgeSec: number, secure: boolean) =>
    `${BINDING_COOKIE}=${value}; Path=${CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSec}${secure ? "; Secure" : ""}`;

  return new Elysia({ name: "admin-console-pages" })
    .get(
      "/admin",
      async ({ request }) =>
        (await currentSession(ctx, request))
          ? shell({ view: "console", version: ctx.version })
          : new Response(null, {
              status: 302,
              headers: { location: "/admin/login", "cache-control": "no-store" },
            }),
      {
        detail: {
          summary: "The admin console (signed in), else a redirect to its sign-in",
          tags: ["console"],
        },
      },
    )
    .get(
      "/admin/login",
      async ({ request }) =>
        (await currentSession(ctx, request))
          ? new Response(null, { status: 302, headers: { location: "/admin", "cache-control": "no-store" } })
          : shell({
              view: "login",
              feishu: feishu(),
              token: Boolean(ctx.config.ADMIN_TOKEN),
              version: ctx.version,
            }),
      {
        detail: { summary: "Console sign-in: Feishu (ADMIN_OPEN_IDS) or the admin token", tags: ["console"] },
      },
    )
    .get(
      "/admin/auth/feishu",
      async ({ request, server }) => {
        try {
          const wait = limiter.take(clientIp(request, server));
          if (wait > 0) throw rateLimited(wait);
          if (!feishu())
            throw new HttpError(
              503,
              "feishu_sign_in_off",
              "Feishu sign-in needs the Feishu app and ADMIN_OPEN_IDS",
            );
          const started = await oauth.start(redirectUri);
          const secure = cameOverHttps(request, server, publicUrl);
          return new Response(null, {
            status: 302,
            headers: {
              location: started.authorizeUrl,
              "set-cookie": binding(started.binding, STATE_TTL_MS / 1000, secure),
              "cache-control": "no-store",
            },
          });
        } catch (e) {
          if (e instanceof HttpError) return failedPage(e);
          throw e;
        }
      },
      {
        detail: {
          summary: "Redirect an admin to Feishu's authorize page (state + PKCE S256)",
          tags: ["console"],
        },
      },
    )
    .get(
      CALLBACK_PATH,
      async ({ request, server, query }) => {
        const secure = cameOverHttps(request, server, publicUrl);
        let res: Response;
        try {
          const wait = limiter.take(clientIp(request, server));
          if (wait > 0) throw rateLimited(wait);
          const { profile } = await oauth.identify(
            {
              code: query.code,
              state: query.state,
              error: query.error,
              binding: readCookie(request, BINDING_COOKIE),
            },
            redirectUri,
          );
          const name = profile.name || profile.openId;
          if (!ctx.config.ADMIN_OPEN_IDS.includes(profile.openId)) {
            ctx.log.warn("admin_sign_in_refused", { openId: profile.openId });
            res = refusedPage(name, profile.openId);
          } else {
            const { id, session } = await ctx.adminSessions.create(profile.openId, name);
            ctx.log.info("admin_signed_in", { subject: profile.openId });
            res = signedInPage(name);
            res.headers.append("set-cookie", sessionCookie(id, session.expiresAt - ctx.now(), secure));
          }
        } catch (e) {
          if (!(e instanceof HttpError)) throw e;
          res = failedPage(e);
        }
        res.headers.append("set-cookie", binding("", 0, secure));
        return res;
      },
      {
        query: OAuthCallbackQuery,
        detail: { summary: "Feishu's redirect back after an admin sign-in", tags: ["console"] },
      },
    )
    .get(`${ASSET_PATH}/console.js`, () => asset(CONSOLE_JS, "text/javascript; charset=utf-8"), {
      detail: { hide: true },
    })
    .get(`${ASSET_PATH}/console.css`, () => asset(CONSOLE_CSS, "text/css; charset=utf-8"), {
      detail: { hide: true },
    });
}
