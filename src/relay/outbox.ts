/**
 * The durable outbox: every send (WebSocket `send` frame or `POST /api/messages`) is persisted before
 * it is attempted. A transient failure keeps it and retries with back-off — also after a restart —
 * until it succeeds or its deadline passes; permanent failures are reported at once. The `uuid`
 * makes a retried request idempotent per user, and is passed to Feishu so our own retries never
 * double-post.
 *
 * Fairness and memory (M2-1): a user may have at most `maxQueuedPerUser` sends queued or in flight;
 * beyond that a send is refused at once with `rate_limited` and a `retryAfterMs`. Of a user's queued
 * sends only `concurrencyPerUser` are attempted at a time; the rest wait in SQLite, not in memory,
 * and start in order as earlier ones finish. The limiter then shares Feishu's app-wide budget
 * round-robin between users (feishu/rate-limiter.ts).
 */
import { randomUUID } from "node:crypto";
import type { Db } from "../db/open.ts";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import { asFailure, rateLimitedRetryMs, retryDelayMs } from "./outbox-policy.ts";
import { outboxStatements, type Row, type Stored } from "./outbox-store.ts";
import type { SendRequest } from "./protocol.ts";
import type { DeliveryTarget } from "./targets.ts";

export type SendOutcome =
  | { ok: true; messageIds: string[] }
  | { ok: false; code: string; message: string; retryable: boolean; retryAfterMs?: number };

/** Told once per submit when its send failed transiently and the outbox keeps it for a retry. */
export interface SubmitHooks {
  onQueued?(info: { uuid: string; retryAt: number }): void;
}

/**
 * M2-2: a media send's Feishu key, kept in its outbox row. The port uploads only when `key` is
 * undefined, and `record`s the new key (durably) before it sends the message.
 */
export interface MediaKeySlot {
  key: string | undefined;
  record(key: string): void;
}

/**
 * The port to Feishu: one attempt, no in-process retries (the outbox owns retrying). `owner` names
 * the user, so the rate limiter can share the app-wide budget fairly. `media` comes with media sends.
 */
export type SendPort = (
  target: DeliveryTarget,
  req: SendRequest,
  uuid: string,
  owner: string,
  media?: MediaKeySlot,
) => Promise<string[]>;

/** Why a new send cannot be accepted (checked before it is stored); undefined when it can. */
export type Admission = (userId: number, req: SendRequest) => { code: string; message: string } | undefined;

export interface OutboxOptions {
  now?: () => number;
  log: Logger;
  metrics: Registry;
  /** Undefined while Feishu is not configured: sends fail with `feishu_unconfigured`. */
  port: () => SendPort | undefined;
  deadlineMs: number;
  /** Sends a user may have queued or in flight; more are refused with `rate_limited` (default 100). */
  maxQueuedPerUser?: number;
  /** Sends of one user attempted at a time; the rest wait in the database (default 4). */
  concurrencyPerUser?: number;
  /** Retry scan period; tests drive `runDue()` directly instead. */
  tickMs?: number;
  random?: () => number;
  /** M2-2: checks a new send before it is stored (media sends: the mediaId is the user's, and fits). */
  admit?: Admission;
  /** M2-2: told when a send was sent (its media can go). */
  onSent?: (req: SendRequest) => void;
}

export const DEFAULT_MAX_QUEUED_PER_USER = 100;
export const DEFAULT_CONCURRENCY_PER_USER = 4;

interface Waiter {
  resolve(o: SendOutcome): void;
  hooks?: SubmitHooks;
  toldQueued?: boolean;
}

export class Outbox {
  readonly #o: Required<Omit<OutboxOptions, "metrics" | "admit" | "onSent">> &
    Pick<OutboxOptions, "admit" | "onSent">;
  readonly #waiters = new Map<number, Waiter[]>();
  readonly #inFlight = new Set<Promise<void>>();
  /** Per user: sends queued or in flight (loaded from the database on first use). */
  readonly #queued = new Map<number, number>();
  /** Per user: attempts running now. */
  readonly #running = new Map<number, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  readonly #q;
  readonly #m;

  constructor(db: Db, opts: OutboxOptions) {
    this.#o = {
      now: Date.now,
      tickMs: 1000,
      random: Math.random,
      maxQueuedPerUser: DEFAULT_MAX_QUEUED_PER_USER,
      concurrencyPerUser: DEFAULT_CONCURRENCY_PER_USER,
      ...opts,
    };
    this.#q = outboxStatements(db.$client);
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
   * permanent failure, later if it had to be retried (`hooks.onQueued` then says so at once). A
   * known uuid returns (or awaits) its outcome. A user past `maxQueuedPerUser` gets `rate_limited`.
   */
  submit(
    userId: number,
    target: DeliveryTarget,
    req: SendRequest,
    uuid = req.uuid ?? randomUUID(),
    hooks?: SubmitHooks,
  ): Promise<SendOutcome> {
    const existing = this.#q.byUuid.get(userId, uuid);
    if (existing) return this.#outcomeOf(existing, hooks);
    const refused = this.#o.admit?.(userId, req);
    if (refused) {
      this.#m.sends.inc({ outcome: "refused" });
      return Promise.resolve({ ok: false, ...refused, retryable: false });
    }
    const queued = this.#queuedOf(userId);
    if (queued >= this.#o.maxQueuedPerUser) return Promise.resolve(this.#rateLimited(userId));
    const now = this.#o.now();
    const stored: Stored = { target, req: { ...req, uuid } };
    // Past the user's concurrency the send waits in the database; the next finished attempt starts it.
    const status = (this.#running.get(userId) ?? 0) < this.#o.concurrencyPerUser ? "sending" : "pending";
    const row = this.#q.insert.get(
      userId,
      uuid,
      JSON.stringify(stored),
      status,
      now,
      now + this.#o.deadlineMs,
      now,
      req.mediaId ?? null,
    );
    if (!row) throw new Error("outbox insert returned nothing");
    this.#queued.set(userId, queued + 1);
    const outcome = this.#wait(row.id, hooks);
    if (status === "sending") void this.#start(row);
    return outcome;
  }

  #queuedOf(userId: number): number {
    let n = this.#queued.get(userId);
    if (n === undefined) {
      n = this.#q.queuedOf.get(userId)?.n ?? 0;
      this.#queued.set(userId, n);
    }
    return n;
  }

  /** Refused: the user has too many sends queued. Come back when one could have gone. */
  #rateLimited(userId: number): SendOutcome {
    const retryAfterMs = rateLimitedRetryMs(this.#q.queuedOf.get(userId)?.next ?? undefined, this.#o.now());
    this.#m.sends.inc({ outcome: "rate_limited" });
    this.#o.log.warn("outbox_rate_limited", { userId, limit: this.#o.maxQueuedPerUser, retryAfterMs });
    return {
      ok: false,
      code: "rate_limited",
      message: `too many sends queued (at most ${this.#o.maxQueuedPerUser} per user); try again later`,
      retryable: true,
      retryAfterMs,
    };
  }

  /** Resolves with the outcome of a row once it is final. */
  #outcomeOf(row: Row, hooks?: SubmitHooks): Promise<SendOutcome> {
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
    const outcome = this.#wait(row.id, hooks);
    // Asked again while it waits for a retry (e.g. the plugin resent after a reconnect): say so now.
    if (row.status === "pending" && row.attempts > 0) this.#tellQueued(row.id, row.uuid, row.nextAttemptAt);
    return outcome;
  }

  #wait(id: number, hooks?: SubmitHooks): Promise<SendOutcome> {
    return new Promise((resolve) => {
      const list = this.#waiters.get(id) ?? [];
      list.push({ resolve, hooks });
      this.#waiters.set(id, list);
    });
  }

  #settle(row: Row, outcome: SendOutcome) {
    const list = this.#waiters.get(row.id);
    this.#waiters.delete(row.id);
    const queued = this.#queued.get(row.userId);
    if (queued !== undefined) this.#queued.set(row.userId, Math.max(0, queued - 1));
    for (const w of list ?? []) w.resolve(outcome);
  }

  #tellQueued(id: number, uuid: string, retryAt: number) {
    for (const w of this.#waiters.get(id) ?? []) {
      if (w.toldQueued || !w.hooks?.onQueued) continue;
      w.toldQueued = true;
      try {
        w.hooks.onQueued({ uuid, retryAt });
      } catch (err) {
        this.#o.log.error("outbox_hook_failed", { err: err as Error });
      }
    }
  }

  #track(p: Promise<void>) {
    this.#inFlight.add(p);
    p.finally(() => this.#inFlight.delete(p));
  }

  /** Runs one attempt of a claimed row; when it ends, the user's next waiting send starts. */
  #start(row: Row): Promise<void> {
    this.#running.set(row.userId, (this.#running.get(row.userId) ?? 0) + 1);
    const run = this.#attempt(row).then(
      (final) => this.#finished(row.userId, final),
      (err) => {
        // A database error while recording the outcome: the row stays 'sending' until the recovery
        // at the next start takes it up again; the uuid keeps that resend from double-posting.
        this.#o.log.error("outbox_attempt_failed", {
          outboxId: row.id,
          userId: row.userId,
          err: err as Error,
        });
        this.#finished(row.userId, false);
      },
    );
    this.#track(run);
    return run;
  }

  #finished(userId: number, final: boolean): void {
    const n = (this.#running.get(userId) ?? 1) - 1;
    if (n > 0) this.#running.set(userId, n);
    else this.#running.delete(userId);
    // After a transient failure (an outage, or shutdown cancelling the waits) the scan timer starts
    // the user's next sends, a few per tick, instead of running the whole queue into the failure.
    if (this.#stopping || !final) return;
    try {
      void this.#startDue(userId);
    } catch (err) {
      // The scan timer picks the rows up later; a database error here must not go unhandled.
      this.#o.log.error("outbox_start_failed", { userId, err: err as Error });
    }
  }

  /** Starts the user's due sends, oldest first, as far as its concurrency allows. */
  #startDue(userId: number): Promise<void>[] {
    const free = this.#o.concurrencyPerUser - (this.#running.get(userId) ?? 0);
    if (free <= 0) return [];
    const started: Promise<void>[] = [];
    for (const { id } of this.#q.dueOf.all(userId, this.#o.now(), free)) {
      const row = this.#q.claim.get(id, this.#o.now());
      if (row) started.push(this.#start(row));
    }
    return started;
  }

  /** One attempt; true when the send is final (sent or failed), false when it waits for a retry. */
  async #attempt(row: Row): Promise<boolean> {
    const port = this.#o.port();
    if (!port) {
      this.#fail(row, "feishu_unconfigured", "the relay has no Feishu app configured");
      return true;
    }
    let stored: Stored;
    try {
      stored = JSON.parse(row.request) as Stored;
    } catch {
      this.#fail(row, "bad_request", "the stored send could not be read");
      return true;
    }
    const { target, req } = stored;
    // The request lives in `req` now; the row need not hold a second copy while the send waits.
    row.request = "";
    try {
      // Feishu dedupes uuids app-wide: scope them per user so two users' keys never collide.
      const ids = await port(
        target,
        req,
        `u${row.userId}:${row.uuid}`,
        `user:${row.userId}`,
        req.mediaId === undefined ? undefined : this.#mediaSlot(row),
      );
      this.#q.sent.run(row.id, JSON.stringify(ids), this.#o.now());
      this.#m.sends.inc({ outcome: "sent" });
      this.#afterSent(req);
      this.#settle(row, { ok: true, messageIds: ids });
      return true;
    } catch (err) {
      const f = asFailure(err);
      const now = this.#o.now();
      const next = now + retryDelayMs(row.attempts, f.retryAfterMs, this.#o.random);
      if (f.retryable && next < row.deadlineAt) {
        this.#q.retry.run(row.id, next, String(f.code), f.message, now);
        this.#m.retries.inc();
        this.#o.log.warn("outbox_retry_scheduled", {
          outboxId: row.id,
          userId: row.userId,
          code: f.code,
          attempt: row.attempts + 1,
          retryAt: next,
        });
        this.#tellQueued(row.id, row.uuid, next);
        return false;
      }
      this.#fail(row, String(f.code), f.message, f.retryable ? "deadline passed" : undefined);
      return true;
    }
  }

  #mediaSlot(row: Row): MediaKeySlot {
    return {
      key: row.mediaKey ?? undefined,
      record: (key) => {
        this.#q.mediaKey.run(row.id, key);
        row.mediaKey = key;
      },
    };
  }

  /** The send is recorded as sent; a failing hook (media cleanup) must not turn that into a failure. */
  #afterSent(req: SendRequest) {
    try {
      this.#o.onSent?.(req);
    } catch (err) {
      this.#o.log.error("outbox_on_sent_failed", { err: err as Error });
    }
  }

  #fail(row: Row, code: string, message: string, why?: string) {
    this.#q.failed.run(row.id, code, message, this.#o.now());
    this.#m.sends.inc({ outcome: "failed" });
    this.#o.log.warn("outbox_send_failed", { outboxId: row.id, userId: row.userId, code, why });
    this.#settle(row, {
      ok: false,
      code,
      message: why ? `${message} (${why})` : message,
      retryable: false,
    });
  }

  /** Attempts every due row (each user's oldest first, within its concurrency); the timer calls it, tests too. */
  async runDue(): Promise<number> {
    const started: Promise<void>[] = [];
    for (const { userId } of this.#q.dueUsers.all(this.#o.now())) started.push(...this.#startDue(userId));
    await Promise.allSettled(started);
    return started.length;
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
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Forgets finished rows older than the uuid memory (1 h) and the retention. */
  prune(olderThanMs: number): number {
    return this.#q.prune.run(this.#o.now() - olderThanMs).changes;
  }
}
