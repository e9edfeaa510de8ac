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

/** SQLite refused because another connection holds the lock (bun:sqlite sets `code`). */
export function isDatabaseBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^SQLITE_(BUSY|LOCKED)/.test(code);
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
