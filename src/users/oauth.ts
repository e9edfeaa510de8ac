/**
 * Feishu web sign-in (reference §7): authorization code with PKCE S256 and a single-use state kept
 * in kv for 10 minutes, bound to the browser that started it (a cookie holding a secret whose hash is
 * stored with the state), so a sign-in link cannot be completed in someone else's browser.
 * No request context here: routes pass in what they read.
 */

import type { RelayContext } from "../context.ts";
import { randomToken, sha256Text } from "../ops/crypto.ts";
import { HttpError } from "../ops/errors.ts";
import { secureEqual } from "../ops/secure-compare.ts";
import { type FeishuUserTokens, TokenCipher } from "./token-crypto.ts";
import type { IssuedToken, TokenService } from "./tokens.ts";
import type { UserRecord, UserStore } from "./user-store.ts";

export const STATE_TTL_MS = 10 * 60 * 1000;
const STATE_PREFIX = "oauth:state:";
const FEISHU_TIMEOUT_MS = 10_000;

export interface FeishuBases {
  open: string;
  accounts: string;
}

/** FEISHU_DOMAIN → API and accounts bases (a custom base serves both, as the fake does). */
export function feishuBases(domain: string): FeishuBases {
  if (domain === "feishu") return { open: "https://open.feishu.cn", accounts: "https://accounts.feishu.cn" };
  if (domain === "lark")
    return { open: "https://open.larksuite.com", accounts: "https://accounts.larksuite.com" };
  const base = domain.replace(/\/+$/, "");
  return { open: base, accounts: base };
}

/** The plugin's WebSocket URL: PUBLIC_URL with ws(s) and `/openclaw` appended to its path. */
export function relayUrlFrom(publicUrl: string): string {
  const u = new URL(publicUrl);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/openclaw`;
  u.search = "";
  u.hash = "";
  return u.toString();
}

export interface SignInStart {
  authorizeUrl: string;
  /** Secret for the browser-binding cookie. */
  binding: string;
}

export interface SignInResult {
  user: UserRecord;
  created: boolean;
  issued: IssuedToken;
}

export interface CallbackParams {
  code?: string;
  state?: string;
  error?: string;
  /** The browser-binding cookie, if the browser sent one. */
  binding?: string;
}

interface StoredState {
  verifier: string;
  bindingHash: string;
  /** Set when the sign-in returns somewhere else than /oauth/callback (the admin console's). */
  redirectUri?: string;
}

/** Who signed in at Feishu, before anything is stored about them. */
export interface FeishuIdentity {
  profile: { openId: string; name?: string; unionId?: string; userId?: string; avatarUrl?: string };
  tokens: FeishuUserTokens;
}

const sha256 = (s: string) => sha256Text(s, "base64url");

/** What the sign-in needs (createRelay builds it once from these). */
export interface OAuthDeps extends Pick<RelayContext, "config" | "kv" | "now" | "log" | "fetch"> {
  users: UserStore;
  tokens: TokenService;
}

export class FeishuOAuth {
  readonly #cipher: TokenCipher;
  #lastPrune = 0;

  constructor(private readonly ctx: OAuthDeps) {
    this.#cipher = new TokenCipher(ctx.config.JWT_SECRET!);
  }

  get configured(): boolean {
    return Boolean(this.ctx.config.FEISHU_APP_ID && this.ctx.config.FEISHU_APP_SECRET);
  }

  get redirectUri(): string {
    return `${this.ctx.config.PUBLIC_URL}/oauth/callback`;
  }

  /** `redirectUri`: where Feishu sends the browser back; a state only completes there. */
  async start(redirectUri = this.redirectUri): Promise<SignInStart> {
    if (!this.configured) throw notConfigured();
    const now = this.ctx.now();
    // Abandoned sign-ins leave expired states behind; sweep at most once a minute.
    if (now - this.#lastPrune > 60_000) {
      this.#lastPrune = now;
      this.ctx.kv.pruneExpired().catch((err: Error) => this.ctx.log.warn("kv_prune_failed", { err }));
    }
    const state = randomToken(24);
    const verifier = randomToken(48); // 64 characters, within PKCE's 43-128
    const binding = randomToken(24);
    const stored: StoredState = {
      verifier,
      bindingHash: sha256(binding),
      ...(redirectUri === this.redirectUri ? {} : { redirectUri }),
    };
    await this.ctx.kv.set(STATE_PREFIX + state, JSON.stringify(stored), now + STATE_TTL_MS);
    const url = new URL(
      "/open-apis/authen/v1/authorize",
      feishuBases(this.ctx.config.FEISHU_DOMAIN).accounts,
    );
    url.search = new URLSearchParams({
      client_id: this.ctx.config.FEISHU_APP_ID!,
      response_type: "code",
      redirect_uri: redirectUri,
      state,
      code_challenge: sha256(verifier),
      code_challenge_method: "S256",
    }).toString();
    this.ctx.log.info("oauth_started");
    return { authorizeUrl: url.toString(), binding };
  }

  async finish(p: CallbackParams): Promise<SignInResult> {
    const { profile: info, tokens: feishuTokens } = await this.identify(p);
    const { users, tokens } = this.ctx;
    const { user, created } = await users.upsert(info);
    await users.setFeishuTokensEnc(user.id, this.#cipher.sealTokens(feishuTokens, user.id));
    const issued = await tokens.issue(user);
    this.ctx.log.info("oauth_signed_in", { userId: user.id, created });
    return { user, created, issued };
  }

  /**
   * Checks the callback (state, browser binding, code) and asks Feishu who signed in; stores nothing.
   * `redirectUri` must be the one the sign-in started with.
   */
  async identify(p: CallbackParams, redirectUri = this.redirectUri): Promise<FeishuIdentity> {
    // The state is single-use, but only the browser that started the sign-in may use it up: a
    // callback carrying someone else's state (without their cookie) must leave it intact.
    const key = p.state ? STATE_PREFIX + p.state : undefined;
    const peeked = key ? await this.ctx.kv.get(key) : undefined;
    const parsed = peeked ? (JSON.parse(peeked) as StoredState) : undefined;
    // A state started for another callback is unknown here (and left for its own callback).
    const stored = parsed && (parsed.redirectUri ?? this.redirectUri) === redirectUri ? parsed : undefined;
    const owned = Boolean(stored && p.binding && secureEqual(sha256(p.binding), stored.bindingHash));
    // Taken (atomically) only by its owner; two racing callbacks cannot both get it.
    const taken = owned && key ? (await this.ctx.kv.take(key)) !== undefined : false;
    if (p.error) {
      this.ctx.log.info("oauth_failed", {
        reason: p.error === "access_denied" ? "denied" : "provider_error",
      });
      if (p.error === "access_denied")
        throw new HttpError(403, "access_denied", "sign-in was declined on the Feishu page");
      throw new HttpError(400, "oauth_error", `Feishu reported an error: ${p.error.slice(0, 100)}`);
    }
    if (!p.state) throw this.#fail(400, "missing_state", "the sign-in response has no state");
    if (!stored) throw this.#fail(400, "invalid_state", "this sign-in link has expired or was already used");
    if (!owned) throw this.#fail(400, "state_mismatch", "this sign-in was started in another browser");
    if (!taken) throw this.#fail(400, "invalid_state", "this sign-in link has expired or was already used");
    if (!p.code) throw this.#fail(400, "missing_code", "the sign-in response has no code");

    const tokens = await this.#exchange(p.code, stored.verifier, redirectUri);
    return { profile: await this.#userInfo(tokens.accessToken), tokens };
  }

  /** The stored Feishu user tokens of a user, decrypted (null if none or unreadable). */
  async feishuTokens(userId: number): Promise<FeishuUserTokens | null> {
    const sealed = await this.ctx.users.feishuTokensEnc(userId);
    return sealed ? this.#cipher.openTokens(sealed, userId) : null;
  }

  #fail(status: number, code: string, message: string): HttpError {
    this.ctx.log.info("oauth_failed", { reason: code });
    return new HttpError(status, code, message);
  }

  async #exchange(code: string, verifier: string, redirectUri: string): Promise<FeishuUserTokens> {
    const cfg = this.ctx.config;
    const { status, body } = await this.#call("/open-apis/authen/v2/oauth/token", {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({
        grant_type: "authorization_code",
        client_id: cfg.FEISHU_APP_ID,
        client_secret: cfg.FEISHU_APP_SECRET,
        code,
        redirect_uri: redirectUri,
        code_verifier: verifier,
      }),
    });
    if (status >= 200 && status < 300 && body.code === 0 && typeof body.access_token === "string") {
      const now = this.ctx.now();
      const num = (v: unknown) => (typeof v === "number" && v > 0 ? v : undefined);
      const refreshIn = num(body.refresh_token_expires_in);
      return {
        accessToken: body.access_token,
        expiresAt: now + (num(body.expires_in) ?? 7200) * 1000,
        ...(typeof body.refresh_token === "string" ? { refreshToken: body.refresh_token } : {}),
        ...(refreshIn ? { refreshExpiresAt: now + refreshIn * 1000 } : {}),
        ...(typeof body.scope === "string" ? { scope: body.scope } : {}),
      };
    }
    this.ctx.log.warn("oauth_exchange_failed", { status, feishuCode: body.code });
    if (status >= 500) throw unavailable();
    throw new HttpError(
      400,
      "oauth_exchange_failed",
      `Feishu refused the sign-in code (${String(body.code ?? status)}); please sign in again`,
    );
  }

  async #userInfo(accessToken: string) {
    const { status, body } = await this.#call("/open-apis/authen/v1/user_info", {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    const d = (body.data ?? {}) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
    const openId = str(d.open_id);
    if (status !== 200 || body.code !== 0 || !openId) {
      this.ctx.log.warn("oauth_user_info_failed", { status, feishuCode: body.code });
      throw unavailable();
    }
    return {
      openId,
      name: str(d.name) ?? str(d.en_name),
      unionId: str(d.union_id),
      userId: str(d.user_id),
      avatarUrl: str(d.avatar_url),
    };
  }

  async #call(path: string, init: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
    const url = feishuBases(this.ctx.config.FEISHU_DOMAIN).open + path;
    let res: Response;
    try {
      res = await this.ctx.fetch(url, { ...init, signal: AbortSignal.timeout(FEISHU_TIMEOUT_MS) });
    } catch (err) {
      this.ctx.log.warn("oauth_feishu_unreachable", { path, err: err as Error });
      throw unavailable();
    }
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    return { status: res.status, body: body && typeof body === "object" ? body : {} };
  }
}

const notConfigured = () =>
  new HttpError(503, "feishu_unconfigured", "the Feishu app is not configured on this relay");
const unavailable = () =>
  new HttpError(502, "feishu_unavailable", "Feishu could not complete the sign-in; please try again");
