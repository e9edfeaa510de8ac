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
 *
 * Cluster mode (M2-6): every node runs an outbox over the shared table. Rows are claimed for a
 * lease (outbox-store-postgres.ts) that this outbox renews while their attempts run; a submit's
 * caller waiting on one node learns an outcome another node wrote from the scan (`finals`).
 * Per-user concurrency is counted per node; the queued cap reads the table.
 */
import { KeyedTurns } from "../ops/keyed-turns.ts";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import type { Awaitable } from "../storage/storage.ts";
import { asFailure, rateLimitedRetryMs, retryDelayMs } from "./outbox-policy.ts";
import { LEASE_RENEW_MS, type OutboxStore, type Row, type Stored } from "./outbox-store.ts";
import { finalOutcome, OutboxWaiters } from "./outbox-waiters.ts";
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
  record(key: string): Promise<void>;
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
export type Admission = (
  userId: number,
  req: SendRequest,
) => Awaitable<{ code: string; message: string } | undefined>;

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
  onSent?: (req: SendRequest) => void | Promise<void>;
}

export const DEFAULT_MAX_QUEUED_PER_USER = 100;
export const DEFAULT_CONCURRENCY_PER_USER = 4;

export class Outbox {
  readonly #o: Required<Omit<OutboxOptions, "metrics" | "admit" | "onSent">> &
    Pick<OutboxOptions, "admit" | "onSent">;
  readonly #waiters: OutboxWaiters;
  readonly #inFlight = new Set<Promise<void>>();
  /** Per user: sends queued or in flight (loaded from the database on first use). */
  readonly #queued = new Map<number, number>();
  /** Per user: attempts running now. */
  readonly #running = new Map<number, number>();
  /**
   * Cluster mode: per user, the last submit or start whose store round trips are under way; the next
   * one waits for it. SQLite answers synchronously, so one user's sends are stored, claimed and
   * started in the order they came; on PostgreSQL each step is a round trip that may overtake
   * another's, and "one user's sends keep their order" (docs/protocol.md) needs them taken one at a
   * time, up to each attempt's start (the attempts themselves still run side by side).
   */
  readonly #turns = new KeyedTurns<number>();
  /** Rows this process is attempting now (their leases are renewed in cluster mode). */
  readonly #attempting = new Set<number>();
  #renewedAt = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  /** Start-up recovery; submits wait for it, so it never takes back a claim made after it. */
  #ready: Promise<unknown> = Promise.resolve();
  #lastDepth = 0;
  readonly #q: OutboxStore;
  readonly #m;

  constructor(store: OutboxStore, opts: OutboxOptions) {
    this.#o = {
      now: Date.now,
      tickMs: 1000,
      random: Math.random,
      maxQueuedPerUser: DEFAULT_MAX_QUEUED_PER_USER,
      concurrencyPerUser: DEFAULT_CONCURRENCY_PER_USER,
      ...opts,
    };
    this.#q = store;
    this.#waiters = new OutboxWaiters(opts.log);
    this.#m = {
      sends: opts.metrics.counter("outbox_sends_total", "Outbox sends by outcome."),
      retries: opts.metrics.counter("outbox_retries_total", "Outbox attempts scheduled for a retry."),
    };
    opts.metrics.gauge("outbox_depth", "Sends waiting in the outbox.", () => this.#gaugeDepth());
  }

  async depth(): Promise<number> {
    return this.#q.depth();
  }

  /** Gauges are read synchronously: SQLite answers at once, PostgreSQL's answer shows at the next scrape. */
  #gaugeDepth(): number {
    const depth = this.#q.depth();
    if (typeof depth === "number") return depth;
    depth.then(
      (n) => {
        this.#lastDepth = n;
      },
      (err) => this.#o.log.error("outbox_depth_failed", { err: err as Error }),
    );
    return this.#lastDepth;
  }

  /**
   * Persists and attempts one send. Resolves with the final outcome: at once on success or a
   * permanent failure, later if it had to be retried (`hooks.onQueued` then says so at once). A
   * known uuid returns (or awaits) its outcome. A user past `maxQueuedPerUser` gets `rate_limited`.
   */
  async submit(
    userId: number,
    target: DeliveryTarget,
    req: SendRequest,
    uuid = req.uuid ?? crypto.randomUUID(),
    hooks?: SubmitHooks,
  ): Promise<SendOutcome> {
    // Only the steps up to the attempt's start are taken in turn; the outcome is awaited outside.
    const { outcome } = await this.#inTurn(userId, () =>
      this.#admitAndStart(userId, target, req, uuid, hooks),
    );
    return outcome;
  }

  /**
   * Runs `steps` after the user's earlier submits and starts have run theirs (cluster mode; see
   * #turns). SQLite needs no turns: its store answers synchronously.
   */
  #inTurn<T>(userId: number, steps: () => Promise<T>): Promise<T> {
    return this.#q.shared ? this.#turns.run(userId, steps) : steps();
  }

  /**
   * A submit's steps: a known uuid's outcome, admission, the queued cap, the insert, and the attempt's
   * start when a slot is free. Resolves once that is done, with the outcome still to come (boxed, so
   * that awaiting this does not wait for the send).
   */
  async #admitAndStart(
    userId: number,
    target: DeliveryTarget,
    req: SendRequest,
    uuid: string,
    hooks: SubmitHooks | undefined,
  ): Promise<{ outcome: Promise<SendOutcome> }> {
    await this.#ready;
    const existing = await this.#q.byUuid(userId, uuid);
    if (existing) return { outcome: this.#outcomeOf(existing, hooks) };
    const refused = await this.#o.admit?.(userId, req);
    if (refused) {
      this.#m.sends.inc({ outcome: "refused" });
      return { outcome: Promise.resolve({ ok: false, ...refused, retryable: false }) };
    }
    // SQLite: checked and counted in one turn, before the insert, so racing submits see each other.
    // Cluster: other nodes add rows too, so the table is read each time (the cap is a fairness
    // bound; racing nodes may pass it by a send or two).
    if (!this.#q.shared) await this.#loadQueued(userId);
    const queued = this.#q.shared ? (await this.#q.queuedOf(userId)).n : (this.#queued.get(userId) ?? 0);
    if (queued >= this.#o.maxQueuedPerUser) return { outcome: this.#rateLimited(userId) };
    this.#countQueued(userId, 1);
    const now = this.#o.now();
    const stored: Stored = { target, req: { ...req, uuid } };
    // Past the user's concurrency the send waits in the database; the next finished attempt starts it.
    // The slot is held across the insert, so two submits racing cannot both take the last one.
    // Cluster: always stored waiting, then claimed oldest first in this user's turn, so a send never
    // starts ahead of an older one that waited for a slot which freed meanwhile (one claim more).
    const status =
      !this.#q.shared && (this.#running.get(userId) ?? 0) < this.#o.concurrencyPerUser
        ? "sending"
        : "pending";
    if (status === "sending") this.#hold(userId, 1);
    let row: Row | undefined;
    try {
      row = await this.#q.insert({
        userId,
        uuid,
        request: JSON.stringify(stored),
        status,
        now,
        deadlineAt: now + this.#o.deadlineMs,
        mediaId: req.mediaId ?? null,
      });
    } catch (err) {
      this.#countQueued(userId, -1);
      throw err;
    } finally {
      if (status === "sending") this.#hold(userId, -1);
    }
    if (!row) {
      this.#countQueued(userId, -1);
      // The same uuid was submitted meanwhile (here or on another node): that one's outcome counts.
      const raced = await this.#q.byUuid(userId, uuid);
      if (!raced) throw new Error("outbox insert returned nothing");
      return { outcome: this.#outcomeOf(raced, hooks) };
    }
    const outcome = this.#waiters.wait(row.id, hooks);
    if (status === "sending") void this.#start(row);
    else if (this.#q.shared) {
      this.#startDue(userId).catch((err) =>
        this.#o.log.error("outbox_start_failed", { userId, err: err as Error }),
      );
    }
    return { outcome };
  }

  /** Moves `n` of the user's attempt slots (a reservation across an await). */
  #hold(userId: number, n: number): void {
    const left = (this.#running.get(userId) ?? 0) + n;
    if (left > 0) this.#running.set(userId, left);
    else this.#running.delete(userId);
  }

  /** SQLite: the user's queued sends are counted in memory after the first read. */
  async #loadQueued(userId: number): Promise<void> {
    if (this.#queued.has(userId)) return;
    const { n } = await this.#q.queuedOf(userId);
    if (!this.#queued.has(userId)) this.#queued.set(userId, n);
  }

  #countQueued(userId: number, n: number): void {
    const queued = this.#queued.get(userId);
    if (queued !== undefined) this.#queued.set(userId, Math.max(0, queued + n));
  }

  /** Refused: the user has too many sends queued. Come back when one could have gone. */
  async #rateLimited(userId: number): Promise<SendOutcome> {
    const retryAfterMs = rateLimitedRetryMs(
      (await this.#q.queuedOf(userId)).next ?? undefined,
      this.#o.now(),
    );
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
    const final = finalOutcome(row);
    if (final) return Promise.resolve(final);
    const outcome = this.#waiters.wait(row.id, hooks);
    // Asked again while it waits for a retry (e.g. the plugin resent after a reconnect): say so now.
    if (row.status === "pending" && row.attempts > 0)
      this.#waiters.tellQueued(row.id, row.uuid, row.nextAttemptAt);
    return outcome;
  }

  #settle(row: Row, outcome: SendOutcome) {
    this.#countQueued(row.userId, -1);
    this.#waiters.settle(row.id, outcome);
  }

  #track(p: Promise<void>) {
    this.#inFlight.add(p);
    p.finally(() => this.#inFlight.delete(p));
  }

  /** Runs one attempt of a claimed row; when it ends, the user's next waiting send starts. */
  #start(row: Row): Promise<void> {
    this.#hold(row.userId, 1);
    this.#attempting.add(row.id);
    const run = this.#attempt(row).then(
      (final) => this.#finished(row, final),
      (err) => {
        // A database error while recording the outcome: the row stays 'sending' until the recovery
        // at the next start (or, in a cluster, its lease's end) takes it up again; the uuid keeps
        // that resend from double-posting.
        this.#o.log.error("outbox_attempt_failed", {
          outboxId: row.id,
          userId: row.userId,
          err: err as Error,
        });
        this.#finished(row, false);
      },
    );
    this.#track(run);
    return run;
  }

  #finished(row: Row, final: boolean): void {
    this.#attempting.delete(row.id);
    this.#hold(row.userId, -1);
    // After a transient failure (an outage, or shutdown cancelling the waits) the scan timer starts
    // the user's next sends, a few per tick, instead of running the whole queue into the failure.
    if (this.#stopping || !final) return;
    // The scan timer picks the rows up later; a database error here must not go unhandled.
    this.#startDue(row.userId).catch((err) =>
      this.#o.log.error("outbox_start_failed", { userId: row.userId, err: err as Error }),
    );
  }

  /** Starts the user's due sends, oldest first, as far as its concurrency allows. */
  #startDue(userId: number): Promise<Promise<void>[]> {
    return this.#inTurn(userId, () => this.#claimAndStart(userId));
  }

  async #claimAndStart(userId: number): Promise<Promise<void>[]> {
    const free = this.#o.concurrencyPerUser - (this.#running.get(userId) ?? 0);
    if (free <= 0) return [];
    // The free slots are held while the claim runs, so a concurrent start cannot take them too.
    this.#hold(userId, free);
    let rows: Row[];
    try {
      rows = await this.#q.claimDue(userId, this.#o.now(), free);
    } finally {
      this.#hold(userId, -free);
    }
    return rows.map((row) => this.#start(row));
  }

  /** One attempt; true when the send is final (sent or failed), false when it waits for a retry. */
  async #attempt(row: Row): Promise<boolean> {
    const port = this.#o.port();
    if (!port) {
      await this.#fail(row, "feishu_unconfigured", "the relay has no Feishu app configured");
      return true;
    }
    let stored: Stored;
    try {
      stored = JSON.parse(row.request) as Stored;
    } catch {
      await this.#fail(row, "bad_request", "the stored send could not be read");
      return true;
    }
    const { target, req } = stored;
    // The request lives in `req` now; the row need not hold a second copy while the send waits.
    row.request = "";
    let ids: string[];
    try {
      // Feishu dedupes uuids app-wide: scope them per user so two users' keys never collide.
      ids = await port(
        target,
        req,
        `u${row.userId}:${row.uuid}`,
        `user:${row.userId}`,
        req.mediaId === undefined ? undefined : this.#mediaSlot(row),
      );
    } catch (err) {
      return this.#failed(row, err);
    }
    // The message is in Feishu whoever records it: a late writer (claim lost) still tells its caller.
    if (!(await this.#q.sent(row.id, ids, this.#o.now()))) this.#claimLost(row, "sent");
    this.#m.sends.inc({ outcome: "sent" });
    await this.#afterSent(req);
    this.#settle(row, { ok: true, messageIds: ids });
    return true;
  }

  /** The attempt failed: a retry while the deadline allows and the error is transient, else final. */
  async #failed(row: Row, err: unknown): Promise<boolean> {
    const f = asFailure(err);
    const now = this.#o.now();
    const next = now + retryDelayMs(row.attempts, f.retryAfterMs, this.#o.random);
    if (f.retryable && next < row.deadlineAt) {
      // Refused: another node holds the row now; its outcome reaches our caller through the scan.
      if (!(await this.#q.retry(row.id, next, String(f.code), f.message, now))) {
        this.#claimLost(row, "retry");
        return false;
      }
      this.#m.retries.inc();
      this.#o.log.warn("outbox_retry_scheduled", {
        outboxId: row.id,
        userId: row.userId,
        code: f.code,
        attempt: row.attempts + 1,
        retryAt: next,
      });
      this.#waiters.tellQueued(row.id, row.uuid, next);
      return false;
    }
    await this.#fail(row, String(f.code), f.message, f.retryable ? "deadline passed" : undefined);
    return true;
  }

  #claimLost(row: Row, result: string): void {
    this.#o.log.warn("outbox_claim_lost", { outboxId: row.id, userId: row.userId, result });
  }

  #mediaSlot(row: Row): MediaKeySlot {
    return {
      key: row.mediaKey ?? undefined,
      record: async (key) => {
        if (!(await this.#q.recordMediaKey(row.id, key))) this.#claimLost(row, "media_key");
        row.mediaKey = key;
      },
    };
  }

  /** The send is recorded as sent; a failing hook (media cleanup) must not turn that into a failure. */
  async #afterSent(req: SendRequest) {
    try {
      await this.#o.onSent?.(req);
    } catch (err) {
      this.#o.log.error("outbox_on_sent_failed", { err: err as Error });
    }
  }

  async #fail(row: Row, code: string, message: string, why?: string) {
    if (!(await this.#q.failed(row.id, code, message, this.#o.now()))) {
      // Another node retook the row and may still succeed: its outcome is the one that counts.
      this.#claimLost(row, "failed");
      return;
    }
    this.#m.sends.inc({ outcome: "failed" });
    this.#o.log.warn("outbox_send_failed", { outboxId: row.id, userId: row.userId, code, why });
    this.#settle(row, {
      ok: false,
      code,
      message: why ? `${message} (${why})` : message,
      retryable: false,
    });
  }

  /**
   * Attempts every due row (each user's oldest first, within its concurrency); the timer calls it,
   * tests too. In a cluster it also renews this node's leases and collects outcomes other nodes
   * wrote for sends whose callers wait here.
   */
  async runDue(): Promise<number> {
    const started = await this.#scan();
    await Promise.allSettled(started);
    return started.length;
  }

  /** Claims and starts what is due; does not wait for the attempts (the timer's pass). */
  async #scan(): Promise<Promise<void>[]> {
    if (this.#q.shared) await this.#clusterChores();
    const started: Promise<void>[] = [];
    for (const userId of await this.#q.dueUsers(this.#o.now())) {
      started.push(...(await this.#startDue(userId)));
    }
    return started;
  }

  async #clusterChores(): Promise<void> {
    const now = this.#o.now();
    if (this.#attempting.size > 0 && now - this.#renewedAt >= LEASE_RENEW_MS) {
      await this.#q.renew([...this.#attempting], now);
      this.#renewedAt = now;
    }
    const orphans = this.#waiters.rows().filter((id) => !this.#attempting.has(id));
    for (const row of await this.#q.finals(orphans)) this.#settle(row, finalOutcome(row)!);
  }

  /** Rows a crash left mid-send go back to pending (the Feishu uuid makes resending safe). */
  start(): Promise<void> {
    const ready = this.#q.recover(this.#o.now()).then(
      (recovered) => {
        if (recovered) this.#o.log.info("outbox_recovered", { rows: recovered });
      },
      (err) => this.#o.log.error("outbox_recover_failed", { err: err as Error }),
    );
    this.#ready = ready;
    // One scan at a time: a slow database (many due users in a cluster) must not pile scans up.
    // A scan does not wait for its attempts, so long sends never hold up lease renewals.
    let scanning = false;
    this.#timer = setInterval(() => {
      if (scanning) return;
      scanning = true;
      this.#scan()
        .catch((err) => this.#o.log.error("outbox_scan_failed", { err: err as Error }))
        .finally(() => {
          scanning = false;
        });
    }, this.#o.tickMs);
    this.#timer.unref?.();
    return ready;
  }

  /** Stops scanning and waits for sends in flight (shutdown). */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    await Promise.allSettled([...this.#inFlight]);
  }

  /** Forgets finished rows older than the uuid memory (1 h) and the retention. */
  prune(olderThanMs: number): Promise<number> {
    return this.#q.prune(this.#o.now() - olderThanMs);
  }
}
