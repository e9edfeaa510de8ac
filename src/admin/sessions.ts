/**
 * Console sessions: an opaque random id in an HttpOnly, SameSite=Strict cookie, the session itself in
 * the `kv` table under the id's SHA-256 (a copy of the database does not yield usable cookies).
 * Each session carries its own CSRF token, which the console page sends back as `X-CSRF-Token` on
 * every write: a synchronizer token, on top of SameSite=Strict.
 * Lifetime is bounded (SESSION_TTL_MS from sign-in, no sliding renewal); signing out deletes the row.
 */

import type { Kv } from "../db/kv.ts";
import { randomToken, sha256Text } from "../ops/crypto.ts";
import { clientIpOf, type PeerSource } from "../ops/rate-limit.ts";

export const SESSION_COOKIE = "oc_admin";
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
export const CSRF_HEADER = "x-csrf-token";
const PREFIX = "admin:session:";

export interface AdminSession {
  /** The admin's open_id, or "admin-token" for a break-glass sign-in. */
  subject: string;
  name: string;
  csrf: string;
  /** Unix milliseconds. */
  expiresAt: number;
}

const sha256 = (s: string) => sha256Text(s, "base64url");

export class AdminSessions {
  constructor(
    private readonly kv: Pick<Kv, "set" | "get" | "delete" | "pruneExpired">,
    private readonly now: () => number,
  ) {}

  async create(subject: string, name: string): Promise<{ id: string; session: AdminSession }> {
    // Sign-ins are rare: a good moment to drop sessions (and other kv rows) that have expired.
    await this.kv.pruneExpired();
    const id = randomToken(32);
    const session: AdminSession = {
      subject,
      name,
      csrf: randomToken(24),
      expiresAt: this.now() + SESSION_TTL_MS,
    };
    await this.kv.set(PREFIX + sha256(id), JSON.stringify(session), session.expiresAt);
    return { id, session };
  }

  /** The live session for a cookie value; undefined when unknown, expired or malformed. */
  async get(id: string | undefined): Promise<AdminSession | undefined> {
    if (!id || id.length > 128) return undefined;
    const raw = await this.kv.get(PREFIX + sha256(id));
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as AdminSession;
    } catch {
      return undefined;
    }
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id && id.length <= 128) await this.kv.delete(PREFIX + sha256(id));
  }
}

/** A cookie's value from the request, or undefined. */
export function readCookie(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Whether the browser reached us over https: PUBLIC_URL says so, or a reverse proxy on this host
 * (the same trust rule as client IPs, ops/rate-limit.ts) sent `X-Forwarded-Proto: https`.
 */
export function cameOverHttps(request: Request, server: PeerSource | null | undefined, publicUrl: string) {
  if (publicUrl.startsWith("https:") || request.url.startsWith("https:")) return true;
  const peer = server?.requestIP(request)?.address;
  // clientIpOf takes X-Forwarded-For only from a loopback peer: the same test says "a local proxy".
  const proxied = peer !== undefined && clientIpOf(peer, "x") === "x";
  return proxied && request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim() === "https";
}

export function sessionCookie(value: string, maxAgeMs: number, secure: boolean): string {
  const maxAge = Math.max(0, Math.floor(maxAgeMs / 1000));
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? "; Secure" : ""}`;
}
