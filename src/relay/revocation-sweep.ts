/**
 * Closes live plugin sockets whose token was revoked by another process. The admin API revokes in
 * this process and closes the socket at once; the `users revoke` CLI can only bump
 * users.token_version in the database, so this sweep compares every live connection's token version
 * with the database's and closes the stale ones with 4001 (terminal for the plugin).
 */
import type { RelayContext } from "../context.ts";
import { type Periodic, startPeriodic } from "../ops/periodic.ts";
import type { Hub } from "./hub.ts";
import { CloseCode } from "./protocol.ts";

export const REVOCATION_SWEEP_MS = 10_000;

/** `runOnce()` answers how many sockets the pass closed. */
export type RevocationSweep = Periodic<Promise<number>>;

export function startRevocationSweep(
  ctx: Pick<RelayContext, "users" | "log" | "onShutdown">,
  hub: Pick<Hub, "size" | "get" | "disconnect">,
  intervalMs = REVOCATION_SWEEP_MS,
): RevocationSweep {
  const log = ctx.log.child({ module: "revocation_sweep" });
  let running: Promise<number> | undefined;
  const pass = async () => {
    if (hub.size === 0) return 0;
    let closed = 0;
    try {
      // The users table is small next to the inbox: one scan per pass is cheaper than one query per socket.
      for (const { id, ver } of await ctx.users.tokenVersions()) {
        const conn = hub.get(id);
        if (!conn || conn.user.tokenVersion === ver) continue;
        hub.disconnect(id, CloseCode.unauthorized, "revoked");
        log.info("plugin_revoked", { userId: id, sessionId: conn.sessionId, ver });
        closed++;
      }
    } catch (err) {
      // A busy database must not kill the timer: the next pass tries again.
      log.error("revocation_sweep_failed", { err: err as Error });
    }
    return closed;
  };
  // A slow database must not stack passes: a tick while one runs joins it.
  return startPeriodic(ctx, intervalMs, () => {
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  });
}
