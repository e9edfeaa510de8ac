/** tenant_access_token issuing and checking (reference §4.1, §4.4). */
import {
  bearer,
  type FakeContext,
  feishuError,
  hex,
  ok,
  parseJsonObject,
  type Reply,
} from "./feishu-common.ts";

/** Real tokens live 2 h; a fetch with less than 30 min left returns a new one (both stay valid). */
export const TENANT_TOKEN_TTL_SEC = 7200;
export const TENANT_TOKEN_RENEW_BELOW_SEC = 1800;

/**
 * Wrong app_secret (or unknown app_id): HTTP 400 with 10014 "app secret invalid". The reference lists 10014
 * and 10015 and no HTTP status ([unconfirmed]); 10014 with this message is what the live API was seen to send.
 */
export const WRONG_SECRET_CODE = 10014;

export class TenantTokens {
  fetches = 0;
  /** HTTP status sent with 99991661/99991663; 400 by default, 401 is the other plausible answer. */
  authErrorStatus = 400;
  private readonly expiry = new Map<string, number>();
  private current: string | undefined;

  constructor(
    private readonly ctx: FakeContext,
    private readonly ttlSec = TENANT_TOKEN_TTL_SEC,
  ) {}

  /** POST /open-apis/auth/v3/tenant_access_token/internal */
  handleFetch(rawBody: string): Reply {
    this.fetches++;
    const body = parseJsonObject(rawBody);
    if (!body || typeof body.app_id !== "string" || typeof body.app_secret !== "string") {
      return feishuError(400, 10003, "invalid param");
    }
    if (body.app_id !== this.ctx.appId || body.app_secret !== this.ctx.appSecret) {
      return feishuError(400, WRONG_SECRET_CODE, "app secret invalid");
    }
    const now = this.ctx.clock();
    const token = this.currentOrNew(now);
    const expire = Math.floor(((this.expiry.get(token) ?? now) - now) / 1000);
    return ok({ code: 0, msg: "ok", tenant_access_token: token, expire });
  }

  private currentOrNew(now: number): string {
    const current = this.current;
    const expiresAt = current ? this.expiry.get(current) : undefined;
    if (current && expiresAt !== undefined && expiresAt - now >= TENANT_TOKEN_RENEW_BELOW_SEC * 1000) {
      return current;
    }
    const token = `t-g1${hex(20)}`;
    this.expiry.set(token, now + this.ttlSec * 1000);
    this.current = token;
    return token;
  }

  isValid(token: string): boolean {
    const expiresAt = this.expiry.get(token);
    return expiresAt !== undefined && expiresAt > this.ctx.clock();
  }

  /** Makes every issued token invalid at once; the next fetch issues a fresh one. */
  expireAll(): void {
    this.expiry.clear();
    this.current = undefined;
  }

  revoke(token: string): void {
    this.expiry.delete(token);
    if (this.current === token) this.current = undefined;
  }

  /** Tokens that would currently be accepted. */
  valid(): string[] {
    return [...this.expiry.keys()].filter((t) => this.isValid(t));
  }

  invalidTokenReply(status = this.authErrorStatus): Reply {
    return feishuError(
      status,
      99991663,
      "Invalid access token for authorization. Please make a request with token attached.",
    );
  }

  /** Checks `Authorization: Bearer t-…`; returns the error reply, or undefined when the token is good. */
  check(req: Request): Reply | undefined {
    const token = bearer(req);
    if (!token) {
      return feishuError(
        this.authErrorStatus,
        99991661,
        "Missing access token for authorization. Please make a request with token attached.",
      );
    }
    return this.isValid(token) ? undefined : this.invalidTokenReply();
  }
}
