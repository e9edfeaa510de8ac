/**
 * Inbox backlog for /metrics, read at scrape time: how many messages wait for plugins and how long the
 * oldest has waited. A user whose plugin is away shows up as a growing age long before the cap drops
 * anything, which is what an alert wants (deploy/prometheus-alerts.yml).
 */
import type { Db } from "../db/open.ts";
import type { Registry } from "../ops/metrics.ts";

/** Per user, `seq > acked_seq` walks the unique (user_id, seq) index: cheap with many users. */
const PENDING_TOTAL = `SELECT coalesce(sum(
  (SELECT count(*) FROM inbox i WHERE i.user_id = u.id AND i.seq > u.acked_seq)), 0) AS n FROM users u`;
const OLDEST_PENDING = `SELECT min(
  (SELECT i.received_at FROM inbox i WHERE i.user_id = u.id AND i.seq > u.acked_seq ORDER BY i.seq LIMIT 1)
  ) AS at FROM users u`;

/** A scrape while the database is busy or closing reports NaN for these, not a failed /metrics. */
const orNaN = (read: () => number) => () => {
  try {
    return read();
  } catch {
    return Number.NaN;
  }
};

export function registerInboxGauges(metrics: Registry, db: Db, now: () => number) {
  const total = db.$client.query<{ n: number }, []>(PENDING_TOTAL);
  const oldest = db.$client.query<{ at: number | null }, []>(OLDEST_PENDING);
  metrics.gauge(
    "inbox_pending_messages",
    "Inbound messages stored and not yet acked by a plugin, all users.",
    orNaN(() => total.get()?.n ?? 0),
  );
  metrics.gauge(
    "inbox_oldest_pending_age_seconds",
    "Age of the oldest message not yet acked by a plugin (0 when none waits).",
    orNaN(() => {
      const at = oldest.get()?.at;
      return at == null ? 0 : Math.max(0, (now() - at) / 1000);
    }),
  );
}
