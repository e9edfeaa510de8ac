/**
 * What a send answers when submitting it threw instead of producing an outcome: the database being
 * write-locked (another process holding a transaction past busy_timeout) is temporary, so the caller
 * is told to retry; anything else is our bug and is reported as such. Either way it is logged here.
 */
import { HttpError } from "../ops/errors.ts";
import type { Logger } from "../ops/logger.ts";
import type { SendOutcome } from "./outbox.ts";

/** How long a caller is asked to wait when the database was busy. */
export const BUSY_RETRY_AFTER_MS = 5000;
export const BUSY_MESSAGE = "the relay's database is busy; try again shortly";

/** The HTTP answer for a busy database where an HTTP request failed on it (503 + Retry-After). */
export const databaseBusy = () =>
  new HttpError(503, "unavailable", BUSY_MESSAGE, { "retry-after": String(BUSY_RETRY_AFTER_MS / 1000) });

export type SubmitFailure = Extract<SendOutcome, { ok: false }>;

/**
 * PostgreSQL's answers that pass with time: serialization failure, deadlock, lock not available,
 * too many connections, server shutting down (SQLSTATEs in Bun's `errno`).
 */
const PG_TRANSIENT_STATES = new Set(["40001", "40P01", "55P03", "53300", "57P01", "57P03"]);

/**
 * The database refused for now: SQLite because another connection holds the lock (bun:sqlite sets
 * `code`); PostgreSQL (cluster) because the server is unreachable or answered a transient state.
 * Drizzle wraps driver errors, so the `cause` is looked at too.
 */
export function isDatabaseBusy(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; errno?: unknown; cause?: unknown } | null, depth = 0;
    e && depth < 3;
    depth++
  ) {
    const code = typeof e.code === "string" ? e.code : "";
    if (/^SQLITE_(BUSY|LOCKED)/.test(code)) return true;
    if (/^ERR_POSTGRES_(CONNECTION|IDLE_TIMEOUT|LIFETIME_TIMEOUT)/.test(code)) return true;
    if (code === "ERR_POSTGRES_SERVER_ERROR" && PG_TRANSIENT_STATES.has(String(e.errno))) return true;
    e = e.cause as typeof e;
  }
  return false;
}

export function sendFailure(err: unknown, log: Logger, fields: Record<string, unknown> = {}): SubmitFailure {
  const busy = isDatabaseBusy(err);
  log.error("send_submit_failed", { ...fields, busy, err: err as Error });
  return busy
    ? {
        ok: false,
        code: "unavailable",
        message: BUSY_MESSAGE,
        retryable: true,
        retryAfterMs: BUSY_RETRY_AFTER_MS,
      }
    : { ok: false, code: "internal_error", message: "internal error", retryable: false };
}
