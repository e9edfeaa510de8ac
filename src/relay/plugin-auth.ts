/**
 * The verdict on a plugin's token, shared by the upgrade (token in the URL or header) and the legacy
 * auth frame. The token is always checked first (an HS256 check and one indexed lookup, cheap), so a
 * valid token connects even from an address over the failure limit: plugins behind one NAT or proxy
 * are never starved by someone else's failures. Only a bad token is subject to the limit: under it,
 * the failure is counted and the plugin is told its token is bad (4001, terminal); over it, the
 * client is told to come back later (429 / 1013), because we did not look at its token as a verdict.
 */
import type { RateLimiter } from "../ops/rate-limit.ts";
import type { VerifiedToken } from "../users/tokens.ts";

export type AuthVerdict =
  | { kind: "accept"; verified: VerifiedToken }
  | { kind: "reject" }
  | { kind: "throttle"; retryAfterSec: number };

export async function judgeToken(
  token: string,
  ip: string,
  verify: (token: string) => Promise<VerifiedToken | null>,
  failures: RateLimiter,
): Promise<AuthVerdict> {
  const verified = await verify(token);
  if (verified) return { kind: "accept", verified };
  const wait = failures.retryAfter(ip);
  if (wait > 0) return { kind: "throttle", retryAfterSec: wait };
  failures.hit(ip);
  return { kind: "reject" };
}
