/**
 * Browser sign-in: `/login` page, `/auth/feishu/login` (302 to Feishu), `/oauth/callback`.
 * Failures show a page, or the usual JSON error with `Accept: application/json`.
 * Every start and callback counts against the client's IP: each one costs a kv row or Feishu calls.
 */
import { Elysia } from "elysia";
import type { RelayContext } from "../context.ts";
import { HttpError } from "../ops/errors.ts";
import { clientIp, type PeerSource, RateLimiter, rateLimited } from "../ops/rate-limit.ts";
import { errorPage, loginPage, signedInPage } from "../web/pages.ts";
import { OAuthCallbackQuery, SignInResponse } from "./model.ts";
import { relayUrlFrom, STATE_TTL_MS } from "./oauth.ts";
import { publicUser } from "./user-store.ts";

export const OAUTH_LIMIT = 20;
export const OAUTH_WINDOW_MS = 60_000;
const COOKIE = "oc_oauth";

export const wantsJson = (request: Request): boolean => {
  const accept = request.headers.get("accept") ?? "";
  return accept.includes("application/json") && !accept.includes("text/html");
};

function readCookie(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function oauthRoutes(ctx: RelayContext) {
  const { oauth } = ctx;
  const limiter = new RateLimiter(OAUTH_LIMIT, OAUTH_WINDOW_MS, ctx.now);
  const publicUrl = ctx.config.PUBLIC_URL;
  const callbackPath = new URL(oauth.redirectUri).pathname;
  const secure = publicUrl.startsWith("https:") ? "; Secure" : "";
  const cookie = (value: string, maxAgeSec: number) =>
    `${COOKIE}=${value}; Path=${callbackPath}; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSec}${secure}`;

  /** Runs a step; HttpErrors become a page, or propagate to the JSON error handler. */
  const guarded = async (
    request: Request,
    server: PeerSource | null,
    step: () => Promise<Response> | Response,
  ) => {
    try {
      const wait = limiter.take(clientIp(request, server));
      if (wait > 0) throw rateLimited(wait);
      return await step();
    } catch (e) {
      if (!(e instanceof HttpError) || wantsJson(request)) throw e;
      const res = errorPage(e, publicUrl);
      res.headers.append("set-cookie", cookie("", 0));
      return res;
    }
  };

  return new Elysia({ name: "users-oauth" })
    .get("/login", () => loginPage({ publicUrl, feishuConfigured: oauth.configured }), {
      detail: { summary: "Sign-in page", tags: ["sign-in"] },
    })
    .get(
      "/auth/feishu/login",
      ({ request, server }) =>
        guarded(request, server, async () => {
          const { authorizeUrl, binding } = await oauth.start();
          return new Response(null, {
            status: 302,
            headers: {
              location: authorizeUrl,
              "set-cookie": cookie(binding, STATE_TTL_MS / 1000),
              "cache-control": "no-store",
            },
          });
        }),
      { detail: { summary: "Redirect to the Feishu authorize page (state + PKCE S256)", tags: ["sign-in"] } },
    )
    .get(
      "/oauth/callback",
      ({ request, server, query }) =>
        guarded(request, server, async () => {
          const { user, issued } = await oauth.finish({
            code: query.code,
            state: query.state,
            error: query.error,
            binding: readCookie(request, COOKIE),
          });
          const relayUrl = relayUrlFrom(publicUrl);
          const res = wantsJson(request)
            ? Response.json(
                { token: issued.token, user: publicUser(user), relayUrl },
                { headers: { "cache-control": "no-store" } },
              )
            : signedInPage({
                user: publicUser(user),
                token: issued.token,
                expiresAt: issued.expiresAt,
                relayUrl,
              });
          res.headers.append("set-cookie", cookie("", 0));
          return res;
        }),
      {
        query: OAuthCallbackQuery,
        response: { 200: SignInResponse },
        detail: {
          summary:
            "OAuth redirect target: shows the token and plugin set-up (JSON with Accept: application/json)",
          tags: ["sign-in"],
        },
      },
    );
}
