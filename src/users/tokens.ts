/**
 * User tokens: HS256 JWTs signed with JWT_SECRET (DESIGN §5). Nothing about an issued token is stored;
 * a token is valid while its signature and `exp` hold and its `ver` equals the user's current
 * token_version, so revoking every token of a user is one counter bump.
 */
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { RelayContext } from "../context.ts";
import { HttpError } from "../ops/errors.ts";
import { clientIp, type PeerSource, RateLimiter } from "../ops/rate-limit.ts";
import { bearerToken } from "../ops/secure-compare.ts";
import { Revocations } from "./revocations.ts";
import type { UserRecord, UserStore } from "./user-store.ts";

/** Close code for a revoked or invalid token (DESIGN §4): terminal for the plugin. */
export const CLOSE_REVOKED = 4001;
/** Failed token checks per client IP and minute before 429 (§7 of the issue). */
export const AUTH_FAILURE_LIMIT = 20;
export const AUTH_FAILURE_WINDOW_MS = 60_000;

export interface TokenClaims {
  /** User id as a string. */
  sub: string;
  /** The user's Feishu open_id. */
  oid: string;
  /** Token version; must equal users.token_version. */
  ver: number;
  jti: string;
  /** Seconds since the epoch, like every JWT time. */
  iat: number;
  exp: number;
}

export interface VerifiedToken {
  user: UserRecord;
  claims: TokenClaims;
  /** Unix milliseconds. */
  expiresAt: number;
}

export interface IssuedToken {
  token: string;
  /** Unix milliseconds. */
  expiresAt: number;
  jti: string;
}

/** What the token service needs (createRelay and the CLI build it from these). */
export interface TokenDeps extends Pick<RelayContext, "config" | "kv" | "now" | "log"> {
  users: UserStore;
  /** Closes the user's plugin socket (the gateway hub's `disconnect`; a no-op where none runs). */
  disconnect(userId: number, code: number, reason: string): void;
}

export class TokenService {
  readonly #key: Uint8Array;
  readonly #ttlSec: number;
  readonly #revocations: Revocations;
  readonly users: UserStore;
  /** Failed credential checks (user tokens and ADMIN_TOKEN) per client IP, shared by every route. */
  readonly failures: RateLimiter;

  constructor(private readonly ctx: TokenDeps) {
    if (!ctx.config.JWT_SECRET) throw new Error("JWT_SECRET missing: finishConfig fills it");
    this.#key = new TextEncoder().encode(ctx.config.JWT_SECRET);
    this.#ttlSec = ctx.config.JWT_EXPIRES_IN;
    this.#revocations = new Revocations(ctx.kv, ctx.now);
    this.users = ctx.users;
    this.failures = new RateLimiter(AUTH_FAILURE_LIMIT, AUTH_FAILURE_WINDOW_MS, ctx.now);
  }

  /** When the user's tokens were revoked (ISO 8601), or undefined when one was issued since. */
  revokedAt(userId: number): Promise<string | undefined> {
    return this.#revocations.revokedAt(userId);
  }

  /** Every token of the user was revoked and none was issued since. */
  async isRevoked(userId: number): Promise<boolean> {
    return (await this.#revocations.revokedAt(userId)) !== undefined;
  }

  async issue(user: UserRecord): Promise<IssuedToken> {
    const iat = Math.floor(this.ctx.now() / 1000);
    const exp = iat + this.#ttlSec;
    const jti = crypto.randomUUID();
    const token = await new SignJWT({ oid: user.openId, ver: user.tokenVersion })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(String(user.id))
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.#key);
    await this.#revocations.clear(user.id);
    this.ctx.log.info("token_issued", { userId: user.id, jti, exp });
    return { token, expiresAt: exp * 1000, jti };
  }

  /** The token's user and claims, or null for a bad signature, an expired or a revoked token. */
  async verify(token: string): Promise<VerifiedToken | null> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: ["HS256"],
        currentDate: new Date(this.ctx.now()),
        requiredClaims: ["sub", "oid", "ver", "jti", "iat", "exp"],
      }));
    } catch (err) {
      const reason = err instanceof joseErrors.JWTExpired ? "expired" : "invalid";
      this.ctx.log.debug("token_rejected", { reason });
      return null;
    }
    const claims = asClaims(payload);
    const user = claims && (await this.users.byId(Number(claims.sub)));
    if (!claims || !user || user.openId !== claims.oid || user.tokenVersion !== claims.ver) {
      this.ctx.log.debug("token_rejected", { reason: claims ? "revoked" : "claims", userId: claims?.sub });
      return null;
    }
    return { user, claims, expiresAt: claims.exp * 1000 };
  }

  /**
   * Invalidates every token of the user and closes their plugin socket with 4001.
   * Returns false for an unknown user.
   */
  async revoke(userId: number): Promise<boolean> {
    const ver = await this.users.bumpTokenVersion(userId);
    if (ver === undefined) return false;
    await this.#revocations.mark(userId);
    this.ctx.disconnect(userId, CLOSE_REVOKED, "revoked");
    this.ctx.log.info("user_revoked", { userId, ver });
    return true;
  }
}

function asClaims(p: Record<string, unknown>): TokenClaims | undefined {
  const ok =
    typeof p.sub === "string" &&
    /^\d+$/.test(p.sub) &&
    typeof p.oid === "string" &&
    Number.isInteger(p.ver) &&
    typeof p.jti === "string" &&
    typeof p.iat === "number" &&
    typeof p.exp === "number";
  return ok ? (p as unknown as TokenClaims) : undefined;
}

export const unauthorized = (message = "missing, invalid, expired or revoked token") =>
  new HttpError(401, "unauthorized", message);

/**
 * For routes taking `Authorization: Bearer <token>` (or a token found elsewhere, e.g. a body field):
 * the verified token, or HttpError 401 `unauthorized`. Failures count per client IP; over the limit
 * a bad token gets 429 `rate_limited`. A valid token always passes (checking it is one HS256 and one
 * indexed lookup), so cron jobs behind an office NAT or a proxy are never starved by someone else's
 * failures: the same rule as the plugin WebSocket (src/relay/plugin-auth.ts).
 * Pass Elysia's `server` from the handler context so the limit is per IP.
 */
export async function authenticate(
  ctx: Pick<RelayContext, "tokens">,
  request: Request,
  server?: PeerSource | null,
  token: string | undefined = bearerToken(request.headers),
): Promise<VerifiedToken> {
  const { tokens } = ctx;
  const { failures } = tokens;
  const ip = clientIp(request, server);
  const verified = token ? await tokens.verify(token) : null;
  if (verified) return verified;
  failures.assertAllowed(ip);
  failures.hit(ip);
  throw unauthorized();
}
