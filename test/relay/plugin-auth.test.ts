import { describe, expect, test } from "bun:test";
import { RateLimiter } from "../../src/ops/rate-limit.ts";
import { judgeToken } from "../../src/relay/plugin-auth.ts";
import type { VerifiedToken } from "../../src/users/tokens.ts";

const good = { user: { id: 1 } } as unknown as VerifiedToken;
const verify = async (t: string) => (t === "good" ? good : null);

describe("judgeToken", () => {
  test("bad tokens count until the limit, then throttle; a good token is accepted regardless", async () => {
    let now = 0;
    const failures = new RateLimiter(2, 60_000, () => now);
    expect(await judgeToken("bad", "ip", verify, failures)).toEqual({ kind: "reject" });
    expect(await judgeToken("bad", "ip", verify, failures)).toEqual({ kind: "reject" });
    expect(await judgeToken("bad", "ip", verify, failures)).toEqual({ kind: "throttle", retryAfterSec: 60 });
    expect(await judgeToken("good", "ip", verify, failures)).toEqual({ kind: "accept", verified: good });
    expect(await judgeToken("bad", "other", verify, failures)).toEqual({ kind: "reject" });
    // Throttled attempts do not extend the wait.
    now = 60_001;
    expect(await judgeToken("bad", "ip", verify, failures)).toEqual({ kind: "reject" });
  });
});
