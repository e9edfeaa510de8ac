/**
 * The durable outbox: every send (WebSocket `send` frame or `POST /api/messages`) is persisted before
 * it is attempted. A transient failure keeps it and retries with back-off — also after a restart —
 * until it succeeds or its deadline passes; permanent failures are reported at once. The `uuid`
 * makes a retried request idempotent per user, and is passed to Feishu so our own retries never
 * double-post.
 */
import type { Database } from "bun:sqlite";
import { randomUUID } from "node:crypto";
import type { Db } from "../db/open.ts";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import type { SendRequest } from "./protocol.ts";
import type { DeliveryTarget } from "./targets.ts";

export type SendOutcome =
  | { ok: true; messageIds: string[] }
  | { ok: false; code: string; message: string; retryable: boolean };

/** What a Feishu send failure tells us; the Feishu client's error type satisfies it. */
export interface SendFailure {
  code: string | number;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
}

/** The port to Feishu: one attempt, no in-process retries (the outbox owns retrying). */
export type SendPort = (target: DeliveryTarget, req: SendRequest, uuid: string) => Promise<string[]>;

interface Row {
  id: number;
  userId: number;
  uuid: string;
  request: string;
  status: "pending" | "sending" | "sent" | "failed";
  attempts: number;
  deadlineAt: number;
  messageIds: string | null;
  lastErrorCode: string | null;
  lastError: string | null;
}

interface Stored {
  target: DeliveryTarget;
  req: SendRequest;
}

export interface OutboxOptions {
  now?: () => number;
  log: Logger;
  metrics: Registry;
  /** Undefined while Feishu is not configured: sends fail with `feishu_unconfigured`. */
  port: () => SendPort | undefined;
  deadlineMs: number;
  /** Retry scan period; tests drive `runDue()` directly instead. */
  tickMs?: number;
  random?: () => number;
}

const BASE_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;
const SCAN_LIMIT = 50;

export class Outbox {
  readonly #sqlite: Database;
  readonly #o: Required<Omit<OutboxOptions, "metrics">>;
  readonly #waiters = new Map<number, Array<(o: SendOutcome) => void>>();
  readonly #inFlight = new Set<Promise<void>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #q;
  readonly #m;

  constructor(db: Db, opts: OutboxOptions) {
    this.#sqlite = db.$client;
    this.#o = { now: Date.now, tickMs: 1000, random: Math.random, ...opts };
    const c = this.#sqlite;
    const cols = `id, user_id AS userId, uuid, request, status, attempts, deadline_at AS deadlineAt,
      message_ids AS messageIds, last_error_code AS lastErrorCode, last_error AS lastError`;
    this.#q = {
      byUuid: c.query<Row, [number, string]>(`SELECT ${cols} FROM outbox WHERE user_id = ? AND uuid = ?`),
      insert: c.query<Row, [number, string, string, number, number, number]>(
        `INSERT INTO outbox (user_id, uuid, request, status, next_attempt_at, deadline_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'sending', ?4, ?5, ?6, ?6) RETURNING ${cols}`,
      ),
      claim: c.query<Row, [number, number]>(
        `UPDATE outbox SET status = 'sending', updated_at = ?2 WHERE id = ?1 AND status = 'pending'
         RETURNING ${cols}`,
      ),
      due: c.query<{ id: number }, [number, number]>(
        "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
      ),
      sent: c.query(
        "UPDATE outbox SET status = 'sent', attempts = attempts + 1, message_ids = ?2, updated_at = ?3 WHERE id = ?1",
      ),
      retry: c.query(
        `UPDATE outbox SET status = 'pending', attempts = attempts + 1, next_attempt_at = ?2,
         last_error_code = ?3, last_error = ?4, updated_at = ?5 WHERE id = ?1`,
      ),
      failed: c.query(
        `UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error_code = ?2, last_error = ?3,
         updated_at = ?4 WHERE id = ?1`,
      ),
      recover: c.query("UPDATE outbox SET status = 'pending' WHERE status = 'sending'"),
      depth: c.query<{ n: number }, []>(
        "SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'sending')",
      ),
      prune: c.query("DELETE FROM outbox WHERE status IN ('sent', 'failed') AND updated_at <= ?"),
    };
    this.#m = {
      sends: opts.metrics.counter("outbox_sends_total", "Outbox sends by outcome."),
      retries: opts.metrics.counter("outbox_retries_total", "Outbox attempts scheduled for a retry."),
    };
    opts.metrics.gauge("outbox_depth", "Sends waiting in the outbox.", () => this.depth());
  }

  depth(): number {
    return this.#q.depth.get()?.n ?? 0;
  }

  /**
   * Persists and attempts one send. Resolves with the final outcome: at once on success or a
   * permanent failure, later if it had to be retried. A known uuid returns (or awaits) its outcome.
   */
  submit(
    userId: number,
    target: DeliveryTarget,
    req: SendRequest,
    uuid = req.uuid ?? randomUUID(),
  ): Promise<SendOutcome> {
    const existing = this.#q.byUuid.get(userId, uuid);
    if (existing) return this.#outcomeOf(existing);
    const now = this.#o.now();
    const stored: Stored = { target, req: { ...req, uuid } };
    const row = this.#q.insert.get(userId, uuid, JSON.stringify(stored), now, now + this.#o.deadlineMs, now);
    if (!row) throw new Error("outbox insert returned nothing");
    const outcome = this.#wait(row.id);
    this.#track(this.#attempt(row));
    return outcome;
  }

  /** Resolves with the outcome of a row once it is final. */
  #outcomeOf(row: Row): Promise<SendOutcome> {
    if (row.status === "sent")
      return Promise.resolve({ ok: true, messageIds: JSON.parse(row.messageIds ?? "[]") });
    if (row.status === "failed") {
      return Promise.resolve({
        ok: false,
        code: row.lastErrorCode ?? "send_failed",
        message: row.lastError ?? "send failed",
        retryable: false,
      });
    }
    return this.#wait(row.id);
  }

  #wait(id: number): Promise<SendOutcome> {
    return new Promise((resolve) => {
      const list = this.#waiters.get(id) ?? [];
      list.push(resolve);
      this.#waiters.set(id, list);
    });
  }

  #settle(id: number, outcome: SendOutcome) {
    const list = this.#waiters.get(id);
    this.#waiters.delete(id);
    for (const w of list ?? []) w(outcome);
  }

  #track(p: Promise<void>) {
    this.#inFlight.add(p);
    p.finally(() => this.#inFlight.delete(p));
  }

  async #attempt(row: Row): Promise<void> {
    const { target, req } = JSON.parse(row.request) as Stored;
    const port = this.#o.port();
    if (!port) {
      this.#fail(row, "feishu_unconfigured", "the relay has no Feishu app configured");
      return;
    }
    try {
      // Feishu dedupes uuids app-wide: scope them per user so two users' keys never collide.
      const ids = await port(target, req, `u${row.userId}:${row.uuid}`);
      this.#q.sent.run(row.id, JSON.stringify(ids), this.#o.now());
      this.#m.sends.inc({ outcome: "sent" });
      this.#settle(row.id, { ok: true, messageIds: ids });
    } catch (err) {
      const f = asFailure(err);
      const now = this.#o.now();
      const backoff =
        Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** row.attempts) * (0.5 + this.#o.random() / 2);
      const next = now + Math.max(backoff, f.retryAfterMs ?? 0);
      if (f.retryable && next < row.deadlineAt) {
        this.#q.retry.run(row.id, next, String(f.code), f.message, now);
        this.#m.retries.inc();
        this.#o.log.warn("outbox_retry_scheduled", {
          outboxId: row.id,
          userId: row.userId,
          code: f.code,
          attempt: row.attempts + 1,
        });
      } else {
        this.#fail(row, String(f.code), f.message, f.retryable ? "deadline passed" : undefined);
      }
    }
  }

  #fail(row: Row, code: string, message: string, why?: string) {
    this.#q.failed.run(row.id, code, message, this.#o.now());
    this.#m.sends.inc({ outcome: "failed" });
    this.#o.log.warn("outbox_send_failed", { outboxId: row.id, userId: row.userId, code, why });
    this.#settle(row.id, {
      ok: false,
      code,
      message: why ? `${message} (${why})` : message,
      retryable: false,
    });
  }

  /** Attempts every due row once; the timer calls it, tests call it directly. */
  async runDue(): Promise<number> {
    const due = this.#q.due.all(this.#o.now(), SCAN_LIMIT);
    const attempts: Promise<void>[] = [];
    for (const { id } of due) {
      const row = this.#q.claim.get(id, this.#o.now());
      if (row) attempts.push(this.#attempt(row));
    }
    const all = Promise.all(attempts).then(() => undefined);
    this.#track(all);
    await all;
    return attempts.length;
  }

  /** Rows a crash left mid-send go back to pending (the Feishu uuid makes resending safe). */
  start(): void {
    const recovered = this.#q.recover.run().changes;
    if (recovered) this.#o.log.info("outbox_recovered", { rows: recovered });
    this.#timer = setInterval(() => {
      this.runDue().catch((err) => this.#o.log.error("outbox_scan_failed", { err: err as Error }));
    }, this.#o.tickMs);
    this.#timer.unref?.();
  }

  /** Stops scanning and waits for sends in flight (shutdown). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Forgets finished rows older than the uuid memory (1 h) and the retention. */
  prune(olderThanMs: number): number {
    return this.#q.prune.run(this.#o.now() - olderThanMs).changes;
  }
}

function asFailure(err: unknown): SendFailure {
  const e = err as Partial<SendFailure> & { status?: number; name?: string };
  if (e && typeof e === "object" && "retryable" in e && typeof e.retryable === "boolean") {
    return {
      // Feishu's numeric codes become snake_case-safe strings: 230002 → feishu_230002.
      code: typeof e.code === "number" ? `feishu_${e.code}` : (e.code ?? "send_failed"),
      message: String(e.message ?? "send failed"),
      retryable: e.retryable,
      retryAfterMs: e.retryAfterMs,
    };
  }
  // Anything else (network errors, bugs) is treated as transient: the deadline bounds it.
  return { code: "send_failed", message: String((err as Error)?.message ?? err), retryable: true };
}
