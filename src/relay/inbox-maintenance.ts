/**
 * Periodic pruning: acked messages older than INBOX_RETENTION and dedupe marks past the re-push
 * window (Inbox.prune), and finished outbox rows once both the retention and the 1 h uuid memory
 * have passed (Outbox.prune). The timer never keeps the process alive and stops on shutdown.
 */
import type { RelayContext } from "../context.ts";
import { type Periodic, startPeriodic } from "../ops/periodic.ts";
import type { Outbox } from "./outbox.ts";

/** Retried sends with the same uuid must find their outcome for at least this long (DESIGN §4). */
export const UUID_MEMORY_MS = 3600 * 1000;

export const PRUNE_INTERVAL_MS = 5 * 60 * 1000;

export type InboxMaintenance = Periodic<Promise<void>>;

export function startInboxMaintenance(
  ctx: Pick<RelayContext, "inbox" | "config" | "log" | "onShutdown">,
  intervalMs = PRUNE_INTERVAL_MS,
  outbox?: Pick<Outbox, "prune">,
): InboxMaintenance {
  const log = ctx.log.child({ module: "inbox_maintenance" });
  const retentionMs = ctx.config.INBOX_RETENTION * 1000;
  return startPeriodic(ctx, intervalMs, async () => {
    try {
      const { messages, marks } = await ctx.inbox.prune(retentionMs);
      const sends = (await outbox?.prune(Math.max(retentionMs, UUID_MEMORY_MS))) ?? 0;
      if (messages > 0 || marks > 0 || sends > 0) log.info("inbox_pruned", { messages, marks, sends });
    } catch (err) {
      // A busy or failing database must not kill the timer: the next pass tries again.
      log.error("inbox_prune_failed", { err: err as Error });
    }
  });
}
