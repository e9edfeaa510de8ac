/**
 * Inbox backlog for /metrics, read at scrape time: how many messages wait for plugins and how long the
 * oldest has waited. A user whose plugin is away shows up as a growing age long before the cap drops
 * anything, which is what an alert wants (deploy/prometheus-alerts.yml). The figures are the whole
 * database's: in cluster mode every node reports the same backlog.
 */
import type { Registry } from "../ops/metrics.ts";
import type { Backlog, InboxStore } from "./inbox-store.ts";

const UNKNOWN: Backlog = { pending: Number.NaN, oldestReceivedAt: Number.NaN };

export function registerInboxGauges(
  metrics: Registry,
  store: Pick<InboxStore, "backlog" | "dialect">,
  now: () => number,
) {
  // Gauges are read synchronously. SQLite answers at once; a PostgreSQL read is awaited by the
  // scrape before it renders (Registry.beforeScrape). A scrape while the database is busy, failing
  // or closing reports NaN, not a failed /metrics.
  let last: Backlog = UNKNOWN;
  if (store.dialect !== "sqlite") {
    metrics.beforeScrape(async () => {
      try {
        last = await store.backlog();
      } catch {
        last = UNKNOWN;
      }
    });
  }
  const read = (): Backlog => {
    if (store.dialect !== "sqlite") return last;
    try {
      return store.backlog() as Backlog;
    } catch {
      return UNKNOWN;
    }
  };
  metrics.gauge(
    "inbox_pending_messages",
    "Inbound messages stored and not yet acked by a plugin, all users.",
    () => read().pending,
  );
  metrics.gauge(
    "inbox_oldest_pending_age_seconds",
    "Age of the oldest message not yet acked by a plugin (0 when none waits).",
    () => {
      const at = read().oldestReceivedAt;
      return at === null ? 0 : Number.isNaN(at) ? Number.NaN : Math.max(0, (now() - at) / 1000);
    },
  );
}
