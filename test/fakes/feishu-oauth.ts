/**
 * User OAuth (reference §7): the authorize page acts as an already signed-in user, the v2 token endpoint
 * checks code / PKCE / client secret, and user_info answers for user_access_tokens.
 */
import { createHash } from "node:crypto";
import {
  bearer,
  type FakeContext,
  feishuError,
  hex,
  ok,
  parseJsonObject,
  type Reply,
} from "./feishu-common.ts";
import type { FakeUser, FakeUserInput, UserDirectory } from "./feishu-contact.ts";

const CODE_TTL_MS = 5 * 60 * 1000;
const ACCESS_TTL_SEC = 7200;
const REFRESH_TTL_SEC = 604800;
/** After a refresh the previous user_access_token keeps working for one minute (reference §7.2). */
const REFRESH_GRACE_MS = 60 * 1000;

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge?: string;
  method: "S256" | "plain";
  scope: string;
  user: FakeUser;
  expiresAt: number;
  used: boolean;
}

interface UserToken {
  user: FakeUser;
  expiresAt: number;
}

interface RefreshToken {
  user: FakeUser;
  scope: string;
  expiresAt: number;
  used: boolean;
  accessToken: string;
}

function oauthError(status: number, code: number, error: string, description: string): Reply {
  return { status, body: { code, error, error_description: description } };
}

function s256(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

/** Long opaque tokens: real ones are JWT-like and 1-2 KB, so storage limits get exercised. */
function longToken(prefix: string): string {
  return `${prefix}${hex(400)}`;
}

export class OAuthProvider {
  /** The "signed-in" user, or "deny" to make the authorize page refuse. */
  private subject: FakeUser | "deny";
  /** Redirect allowlist; empty means any redirect_uri is accepted. */
  redirectAllowlist: string[] = [];
  private readonly codes = new Map<string, IssuedCode>();
  private readonly accessTokens = new Map<string, UserToken>();
  private readonly refreshTokens = new Map<string, RefreshToken>();

  constructor(
    private readonly ctx: FakeContext,
    private readonly directory: UserDirectory,
  ) {
    this.subject = directory.add({ openId: "ou_0a0700000000000000000000000000a1", name: "OAuth Tester" });
  }

  setUser(input: FakeUserInput): FakeUser {
    const user = this.directory.add(input);
    this.subject = user;
    return user;
  }

  setDeny(): void {
    this.subject = "deny";
  }

  /** GET /open-apis/authen/v1/authorize → 302 to redirect_uri with code+state, or error=access_denied. */
  authorize(url: URL): Reply {
    const q = url.searchParams;
    const clientId = q.get("client_id");
    const redirectUri = q.get("redirect_uri");
    if (!clientId || !redirectUri || q.get("response_type") !== "code") {
      return oauthError(
        400,
        20001,
        "invalid_request",
        "client_id, redirect_uri and response_type=code are required",
      );
    }
    if (clientId !== this.ctx.appId) return oauthError(400, 20002, "invalid_client", "unknown client_id");
    if (this.redirectAllowlist.length > 0 && !this.redirectAllowlist.includes(redirectUri)) {
      return oauthError(400, 20029, "invalid_request", "redirect_uri is not in the allowlist");
    }
    const target = new URL(redirectUri);
    const state = q.get("state") ?? "";
    if (this.subject === "deny") {
      target.searchParams.set("error", "access_denied");
      target.searchParams.set("state", state);
      return redirect(target);
    }
    const method = q.get("code_challenge_method") === "S256" ? "S256" : "plain";
    const code = hex(32);
    this.codes.set(code, {
      clientId,
      redirectUri,
      challenge: q.get("code_challenge") ?? undefined,
      method,
      scope: q.get("scope") ?? "",
      user: this.subject,
      expiresAt: this.ctx.clock() + CODE_TTL_MS,
      used: false,
    });
    target.searchParams.set("code", code);
    target.searchParams.set("state", state);
    return redirect(target);
  }

  /** POST /open-apis/authen/v2/oauth/token (JSON per the doc; form-encoded accepted too, as RFC 6749 allows). */
  token(rawBody: string, contentType: string): Reply {
    const body = contentType.includes("application/x-www-form-urlencoded")
      ? Object.fromEntries(new URLSearchParams(rawBody))
      : parseJsonObject(rawBody);
    if (!body) return oauthError(400, 20001, "invalid_request", "body must be JSON");
    const str = (key: string): string | undefined => (typeof body[key] === "string" ? body[key] : undefined);
    if (!str("grant_type") || !str("client_id") || !str("client_secret")) {
      return oauthError(
        400,
        20001,
        "invalid_request",
        "grant_type, client_id and client_secret are required",
      );
    }
    if (str("client_id") !== this.ctx.appId || str("client_secret") !== this.ctx.appSecret) {
      return oauthError(400, 20002, "invalid_client", "client authentication failed");
    }
    if (str("grant_type") === "authorization_code") {
      return this.exchangeCode(str("code"), str("redirect_uri"), str("code_verifier"));
    }
    if (str("grant_type") === "refresh_token") return this.refresh(str("refresh_token"));
    return oauthError(400, 20036, "unsupported_grant_type", "grant_type is not supported");
  }

  private exchangeCode(code?: string, redirectUri?: string, verifier?: string): Reply {
    if (!code) return oauthError(400, 20001, "invalid_request", "code is required");
    const issued = this.codes.get(code);
    if (!issued) return oauthError(400, 20003, "invalid_grant", "code not found");
    if (issued.used) return oauthError(400, 20065, "invalid_grant", "code has been used");
    if (issued.expiresAt <= this.ctx.clock()) return oauthError(400, 20004, "invalid_grant", "code expired");
    if (issued.clientId !== this.ctx.appId)
      return oauthError(400, 20024, "invalid_grant", "code of another client");
    if (redirectUri !== undefined && redirectUri !== issued.redirectUri) {
      return oauthError(400, 20071, "invalid_grant", "redirect_uri mismatch");
    }
    if (issued.challenge !== undefined) {
      const computed =
        verifier === undefined ? undefined : issued.method === "S256" ? s256(verifier) : verifier;
      if (computed !== issued.challenge)
        return oauthError(400, 20049, "invalid_grant", "PKCE verification failed");
    }
    issued.used = true;
    return this.issue(issued.user, issued.scope);
  }

  private refresh(refreshToken?: string): Reply {
    if (!refreshToken) return oauthError(400, 20001, "invalid_request", "refresh_token is required");
    const entry = this.refreshTokens.get(refreshToken);
    if (!entry) return oauthError(400, 20026, "invalid_grant", "invalid refresh token");
    if (entry.used) return oauthError(400, 20064, "invalid_grant", "refresh token revoked");
    const now = this.ctx.clock();
    if (entry.expiresAt <= now) return oauthError(400, 20037, "invalid_grant", "refresh token expired");
    entry.used = true;
    const old = this.accessTokens.get(entry.accessToken);
    if (old) old.expiresAt = Math.min(old.expiresAt, now + REFRESH_GRACE_MS);
    return this.issue(entry.user, entry.scope);
  }

  /**
   * Issues tokens. Deviation: the real API returns refresh_token only with the `offline_access` scope;
   * the fake always returns one so callers need not ask for it.
   */
  private issue(user: FakeUser, scope: string): Reply {
    const now = this.ctx.clock();
    const accessToken = longToken("u-");
    const refreshToken = longToken("ur-");
    this.accessTokens.set(accessToken, { user, expiresAt: now + ACCESS_TTL_SEC * 1000 });
    this.refreshTokens.set(refreshToken, {
      user,
      scope,
      accessToken,
      used: false,
      expiresAt: now + REFRESH_TTL_SEC * 1000,
    });
    return ok({
      code: 0,
      access_token: accessToken,
      expires_in: ACCESS_TTL_SEC,
      refresh_token: refreshToken,
      refresh_token_expires_in: REFRESH_TTL_SEC,
      token_type: "Bearer",
      scope,
    });
  }

  /** GET /open-apis/authen/v1/user_info with `Authorization: Bearer u-…`. */
  userInfo(req: Request, authErrorStatus: number): Reply {
    const token = bearer(req);
    if (!token) {
      return feishuError(authErrorStatus, 99991661, "Missing access token for authorization.");
    }
    const entry = this.accessTokens.get(token);
    if (!entry) return feishuError(authErrorStatus, 99991668, "Invalid access token for authorization.");
    if (entry.expiresAt <= this.ctx.clock()) {
      return feishuError(authErrorStatus, 99991677, "user access token expired");
    }
    const u = entry.user;
    return ok({
      code: 0,
      msg: "success",
      data: {
        name: u.name,
        en_name: u.enName,
        avatar_url: u.avatarUrl,
        avatar_thumb: `${u.avatarUrl}?image_size=72x72`,
        avatar_middle: `${u.avatarUrl}?image_size=240x240`,
        avatar_big: `${u.avatarUrl}?image_size=640x640`,
        open_id: u.openId,
        union_id: u.unionId,
        user_id: u.userId,
        tenant_key: this.ctx.tenantKey,
        ...(u.email ? { email: u.email } : {}),
      },
    });
  }

  /** Test helper: expire every issued code and token. */
  expireAll(): void {
    const past = this.ctx.clock() - 1;
    for (const c of this.codes.values()) c.expiresAt = past;
    for (const t of this.accessTokens.values()) t.expiresAt = past;
    for (const r of this.refreshTokens.values()) r.expiresAt = past;
  }
}

function redirect(target: URL): Reply {
  return { status: 302, body: null, headers: { location: target.toString() }, code: 0 };
}
