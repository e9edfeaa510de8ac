/**
 * The durable inbox (DESIGN §4 delivery rules, §7 group commit): every accepted Feishu message is
 * deduplicated on event_id and message_id and stored with its owner's next seq before the webhook is
 * answered. Messages that arrive together share one transaction; each caller resolves after the commit
 * that holds its message is durable. The database work is the `InboxStore` port's (inbox-store.ts);
 * this service keeps the queue, the scheduling, the holds, the listeners and the metrics.
 */
import { WriteHealth, type WriteStatus } from "../db/write-health.ts";
import { HttpError } from "../ops/errors.ts";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import type { Awaitable } from "../storage/storage.ts";
import type { BatchItem } from "./inbox-batch.ts";
import type { Trimmed } from "./inbox-cap.ts";
import { SeqHolds } from "./inbox-holds.ts";
import type { CommitOutcome, InboxStore, PendingRow } from "./inbox-store.ts";
import type { InboundMessage } from "./protocol.ts";

export type { Trimmed } from "./inbox-cap.ts";

/** Feishu re-pushes for about 7.1 h; dedupe marks and stored messages are kept a little longer. */
export const DEDUPE_WINDOW_MS = 8 * 3600 * 1000;

/** INBOX_MAX_PENDING and INBOX_MAX_PENDING_BYTES defaults (config/definition.ts shows the same). */
export const DEFAULT_MAX_PENDING = 100_000;
export const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;

export interface IncomingMessage {
  userId: number;
  eventId: string;
  message: InboundMessage;
}

/** `trimmed`: storing this message pushed its owner over the offline cap, and older ones were dropped. */
export type AcceptResult = { status: "stored"; seq: number; trimmed?: Trimmed } | { status: "duplicate" };

/** A message that cannot be stored however often it is re-pushed (it is refused alone, never its batch). */
export class UnstorableMessage extends HttpError {
  constructor(why: string) {
    super(422, "unstorable_message", `the message cannot be stored: ${why}`);
    this.name = "UnstorableMessage";
  }
}

export interface StoredMessage {
  userId: number;
  seq: number;
  message: InboundMessage;
  /** `message` as stored (JSON): the delivery frame is built from it without serialising again. */
  payload: string;
  receivedAt: number;
}

/**
 * M2-4: what a message refers to (quoted message, forwarded chat, group name, sender name), looked
 * up after the commit and before delivery (relay/context-enricher.ts). `prefill` and `wants` are
 * synchronous and do no I/O: a message that needs nothing is neither held nor read again.
 */
export interface ContextSource {
  /** Fills in what memory already knows (a cached group name) before the message is stored. */
  prefill(message: InboundMessage): void;
  /** Whether a lookup could add anything: such a message is held back until `enrich` settles. */
  wants(message: InboundMessage): boolean;
  /** The message with its context, or undefined for no change. Settles within its own deadline. */
  enrich(message: InboundMessage, userId: number): Promise<InboundMessage | undefined>;
}

interface Pending extends BatchItem {
  resolve: (r: AcceptResult) => void;
  reject: (e: unknown) => void;
}

export interface InboxOptions {
  now?: () => number;
  log: Logger;
  metrics: Registry;
  /** Called after each group commit (the server starts SQLite's checkpoint worker on first use). */
  onCommit?: () => void;
  /** How long acks gather before they are written, in one transaction (default ACK_FLUSH_MS). */
  ackFlushMs?: number;
}

/**
 * Acks gather this long before one transaction writes them all. The real plugin acks every message
 * once handled; written one transaction each (~60–120 µs of the main thread and a WAL frame apiece),
 * acks cost a steady 1,000 messages/s about as much as storing the messages did. Nothing reads them
 * unflushed: every read of acked state (`pending`, `pendingCount`, `ackedSeq`, `prune`), a `ping`, a
 * socket closing and the shutdown write them first.
 */
export const ACK_FLUSH_MS = 10;

/**
 * A group commit waits at most this many extra event-loop turns while each turn brings more messages.
 * Under a saturated loop the requests arrive spread over several turns: the loop reads what epoll
 * returned, and the connections just answered send their next request while it does. Committing after
 * the first turn took ~36 of 64 concurrent requests per commit, in two alternating groups, each commit
 * paying its fixed WAL pages and fsync; gathering while they keep coming: +13% events/s and −9% CPU
 * per event at c=64 (bench/ab.ts, docs/architecture.md). A lone message still commits after one turn.
 */
export const GATHER_TURNS = 4;

const isPromise = <T>(v: Awaitable<T>): v is Promise<T> => v instanceof Promise;

export class Inbox {
  /** The database behind the inbox (read directly by the media download's attachment lookup). */
  readonly store: InboxStore;
  readonly #now: () => number;
  readonly #log: Logger;
  /** Every write attempt of the inbox reports here; `/health` reads it. */
  readonly #writes: WriteHealth;
  readonly #listeners: Array<(stored: StoredMessage[]) => void> = [];
  readonly #releaseListeners: Array<(userId: number) => void> = [];
  #queue: Pending[] = [];
  readonly #pendingAcks = new Map<number, number>();
  readonly #ackFlushMs: number;
  /** The flush of the acks gathered so far, while they wait (ACK_FLUSH_MS). */
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ack writes under way (PostgreSQL), settled; reads wait for them so they never see a stale ack. */
  #ackInFlight: Promise<void> | undefined;
  #flushScheduled = false;
  /** A commit under way (PostgreSQL): the next batch gathers meanwhile and is committed after it. */
  #committing: Promise<void> | undefined;
  readonly #onCommit: (() => void) | undefined;
  /**
   * Per user, the lowest seq of each committed batch whose fsync has not finished, oldest first. Reads
   * for delivery stop below it: a message must not reach a plugin before it is durable, or a power cut
   * could hand its seq to another message that the plugin would then drop as already seen.
   */
  readonly #notDurable = new Map<number, number[]>();
  /** M2-4: messages waiting for their context; delivery stops below each user's first. */
  readonly #awaitingContext = new SeqHolds();
  #context: ContextSource | undefined;
  /** Set by `close()`: a lookup that ends after it no longer writes (the database is closing). */
  #closed = false;
  readonly #m;

  constructor(store: InboxStore, opts: InboxOptions) {
    this.store = store;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
    this.#onCommit = opts.onCommit;
    this.#ackFlushMs = opts.ackFlushMs ?? ACK_FLUSH_MS;
    this.#writes = new WriteHealth(this.#now);
    this.#m = {
      stored: opts.metrics.counter("inbox_stored_total", "Inbound messages stored for a user."),
      duplicates: opts.metrics.counter("events_deduped_total", "Feishu events dropped as duplicates."),
      commits: opts.metrics.histogram(
        "inbox_commit_batch_size",
        "Messages per group commit.",
        [1, 2, 5, 10, 25, 50, 100, 250, 500],
      ),
      dropped: opts.metrics.counter("inbox_dropped_over_cap_total", "Unacked messages dropped at the cap."),
      acks: opts.metrics.counter("inbox_acks_total", "Ack frames that advanced a user's acked seq."),
    };
  }

  /** Called after each commit with what it stored, in seq order per user. */
  onStored(listener: (stored: StoredMessage[]) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * M2-4: a message stored from now on gets its context before delivery when `source.wants` it.
   * The seq is held until `enrich` settles; messages of the same user after it wait too.
   */
  useContext(source: ContextSource): void {
    this.#context = source;
  }

  /** A user's first held message was released: its connection should read on (hub.ts pumps). */
  onReleased(listener: (userId: number) => void): void {
    this.#releaseListeners.push(listener);
  }

  /** Stores a message unless it was seen before; resolves once it is durable. */
  accept(item: IncomingMessage): Promise<AcceptResult> {
    if (this.#context) prefillContext(this.#context, item.message, this.#log);
    let payload: string;
    try {
      payload = JSON.stringify(item.message);
    } catch (err) {
      // E.g. RangeError on a structure nested too deep: inside the commit it failed everyone's batch.
      this.#log.warn("inbox_message_unstorable", {
        userId: item.userId,
        eventId: item.eventId,
        messageId: item.message.messageId,
        err: err as Error,
      });
      return Promise.reject(new UnstorableMessage((err as Error).message));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, payload, resolve, reject });
      this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#committing) return;
    this.#flushScheduled = true;
    // setImmediate lets every request that is already being handled join this commit; while the turns
    // in between keep bringing more, it waits another turn (GATHER_TURNS). A lone message is committed
    // after one turn, as before.
    let seen = this.#queue.length;
    let turns = 0;
    const gather = () => {
      const queued = this.#queue.length;
      if (queued > seen && turns < GATHER_TURNS) {
        seen = queued;
        turns += 1;
        setImmediate(gather);
        return;
      }
      this.#flush();
    };
    setImmediate(gather);
  }

  /**
   * Records an event id without storing a message (other event types, unknown senders), so re-pushes
   * of it are recognised. True when it was new.
   */
  markEventSeen(eventId: string): Promise<boolean> {
    return this.#reported(() => this.store.markSeen(`e:${eventId}`, this.#now()));
  }

  isEventSeen(eventId: string): Promise<boolean> {
    return this.store.isSeen(`e:${eventId}`);
  }

  /** `failing` while the latest write (commit, WAL sync, ack, mark) failed recently: `/health` says so. */
  writeStatus(): WriteStatus {
    return this.#writes.status();
  }

  /** Runs a write outside the batch paths and reports its outcome to the write health. */
  async #reported<T>(write: () => Promise<T>): Promise<T> {
    try {
      const out = await write();
      this.#writes.succeeded();
      return out;
    } catch (err) {
      this.#writes.failed();
      throw err;
    }
  }

  #flush(): void {
    const after = this.store.commitAfter?.(this.#queue.length, this.#now());
    if (after) {
      // Counted as a commit under way: no other flush starts, and close() waits for it.
      this.#flushScheduled = false;
      this.#committing = after
        .then(() => {
          this.#committing = undefined;
          this.#flush();
        })
        .catch((err) =>
          this.#log.error("inbox_commit_failed", { err: err as Error, batch: this.#queue.length }),
        );
      return;
    }
    const max = this.store.maxBatch;
    const batch = this.#queue.length > max ? this.#queue.splice(0, max) : this.#queue;
    if (batch === this.#queue) this.#queue = [];
    this.#flushScheduled = false;
    if (batch.length === 0) return;
    let outcome: Awaitable<CommitOutcome>;
    try {
      outcome = this.store.commit(batch, this.#now());
    } catch (err) {
      this.#commitFailed(batch, err);
      if (this.#queue.length > 0) this.#scheduleFlush();
      return;
    }
    if (!isPromise(outcome)) {
      this.#committed(batch, outcome);
      if (this.#queue.length > 0) this.#scheduleFlush();
      return;
    }
    this.#committing = outcome
      .then(
        (o) => this.#committed(batch, o),
        (err) => this.#commitFailed(batch, err),
      )
      // A bug after the commit must not leave an unobserved rejection (or stop the next commit).
      .catch((err) => this.#log.error("inbox_commit_failed", { err: err as Error, batch: batch.length }))
      .finally(() => {
        this.#committing = undefined;
        if (this.#queue.length > 0) this.#scheduleFlush();
      });
  }

  #commitFailed(batch: Pending[], err: unknown): void {
    this.#writes.failed();
    this.#log.error("inbox_commit_failed", { err: err as Error, batch: batch.length });
    for (const p of batch) p.reject(err);
  }

  #committed(batch: Pending[], outcome: CommitOutcome): void {
    const { results, stored, duplicates, durable } = outcome;
    this.#writes.succeeded();
    this.#m.commits.observe(batch.length);
    this.#m.stored.inc({}, stored.length);
    for (const by of ["event_id", "message_id"] as const)
      if (duplicates[by] > 0) this.#m.duplicates.inc({ by }, duplicates[by]);
    // A message that failed alone stored nothing: its caller is refused now, the others wait for the sync.
    const answered: Array<{ p: Pending; result: AcceptResult }> = [];
    let logged: Set<Error> | undefined;
    batch.forEach((p, i) => {
      const result = results[i]!;
      if (result instanceof Error) {
        // A copy of a failed message fails with the same Error: logged once.
        logged ??= new Set();
        if (!logged.has(result)) {
          logged.add(result);
          const { userId, eventId, message } = p.item;
          this.#log.error("inbox_message_failed", {
            userId,
            eventId,
            messageId: message.messageId,
            err: result,
          });
        }
        p.reject(result);
        return;
      }
      answered.push({ p, result });
      if (result.status === "stored" && result.trimmed) {
        const { dropped, oldestReceivedAt } = result.trimmed;
        this.#m.dropped.inc({}, dropped);
        this.#log.warn("inbox_cap_reached", { userId: p.item.userId, dropped, since: oldestReceivedAt });
      }
    });
    this.#onCommit?.();
    if (!durable) {
      // PostgreSQL: durable once COMMIT returned.
      this.#fetchContext(stored);
      for (const { p, result } of answered) p.resolve(result);
      this.#notify(stored);
      return;
    }
    const users = this.#holdBack(stored);
    this.#fetchContext(stored);
    durable.then(
      () => {
        this.#release(users);
        for (const { p, result } of answered) p.resolve(result);
        this.#notify(stored);
      },
      (err) => {
        // The rows are committed but their durability is unknown: Feishu is not acknowledged (it will
        // re-push, and dedupe answers 200 then); delivery goes on, at least once.
        this.#writes.failed();
        this.#log.error("inbox_sync_failed", { err: err as Error, batch: batch.length });
        this.#release(users);
        for (const { p } of answered) p.reject(err);
        this.#notify(stored);
      },
    );
  }

  /** A failing listener (a delivery bug) is logged; it must not stop the others or the relay. */
  #notify(committed: StoredMessage[]): void {
    // Messages at or after a held one wait for its release (`#fetchContext`), in order.
    const stored = committed.filter((m) => m.seq < (this.#awaitingContext.first(m.userId) ?? Infinity));
    if (stored.length === 0) return;
    for (const listener of this.#listeners) {
      try {
        listener(stored);
      } catch (err) {
        this.#log.error("inbox_listener_failed", { err: err as Error, messages: stored.length });
      }
    }
  }

  /**
   * Holds the committed messages that want context and starts their lookups (at once: they run
   * while the WAL syncs). Each lookup settles within its deadline, success or not; then the stored
   * payload is rewritten (the StoredMessage too, in case the batch is not yet delivered from memory)
   * and the hold is released.
   */
  #fetchContext(stored: StoredMessage[]): void {
    const source = this.#context;
    if (!source) return;
    for (const m of stored) {
      if (!wantsContext(source, m.message, this.#log)) continue;
      this.#awaitingContext.hold(m.userId, m.seq);
      // Through a promise from the start: a lookup that throws at once is released like any other.
      Promise.resolve()
        .then(() => source.enrich(m.message, m.userId))
        .then((enriched) => (enriched ? this.#rewrite(m, enriched) : undefined))
        .catch((err) =>
          this.#log.error("inbox_context_failed", { userId: m.userId, seq: m.seq, err: err as Error }),
        )
        .finally(() => {
          if (!this.#awaitingContext.release(m.userId, m.seq)) return;
          for (const listener of this.#releaseListeners) {
            try {
              listener(m.userId);
            } catch (err) {
              this.#log.error("inbox_listener_failed", { err: err as Error, userId: m.userId });
            }
          }
        });
    }
  }

  /** Stores the message with its context (a crash only loses the context, not the row). */
  async #rewrite(m: StoredMessage, message: InboundMessage): Promise<void> {
    if (this.#closed) return;
    const payload = JSON.stringify(message);
    await this.#reported(() => this.store.rewrite(m.userId, m.seq, payload));
    m.message = message;
    m.payload = payload;
  }

  /** Marks a committed batch as not yet durable; returns its users for `#release`. */
  #holdBack(stored: StoredMessage[]): number[] {
    const firstSeq = new Map<number, number>();
    for (const m of stored) if (!firstSeq.has(m.userId)) firstSeq.set(m.userId, m.seq);
    for (const [userId, seq] of firstSeq) {
      const list = this.#notDurable.get(userId);
      if (list) list.push(seq);
      else this.#notDurable.set(userId, [seq]);
    }
    return [...firstSeq.keys()];
  }

  /** Syncs finish in commit order, so the batch being released is the oldest entry of each user. */
  #release(users: number[]): void {
    for (const userId of users) {
      const list = this.#notDurable.get(userId);
      list?.shift();
      if (list?.length === 0) this.#notDurable.delete(userId);
    }
  }

  /** Waits for the commit and durability work under way (shutdown, before the database closes). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#committing;
    // Acks still gathering are written rather than dropped (the server's shutdown has done so already).
    await this.flushAcksSafely();
    await this.store.close();
  }

  /**
   * Unacked messages after `afterSeq`, oldest first. Synchronous on SQLite (the delivery pump's hot
   * path), a promise on PostgreSQL.
   */
  pending(userId: number, afterSeq = 0, limit = 500): Awaitable<StoredMessage[]> {
    // A failed ack write is queued again; the read goes on (it starts after `afterSeq` anyway).
    const flushing = this.flushAcks()?.catch(() => {});
    if (flushing) return flushing.then(() => this.#readPending(userId, afterSeq, limit));
    return this.#readPending(userId, afterSeq, limit);
  }

  #readPending(userId: number, afterSeq: number, limit: number): Awaitable<StoredMessage[]> {
    const below = Math.min(
      this.#notDurable.get(userId)?.[0] ?? Number.MAX_SAFE_INTEGER,
      this.#awaitingContext.first(userId) ?? Number.MAX_SAFE_INTEGER,
    );
    const rows = this.store.pending(userId, afterSeq, limit, below);
    return isPromise(rows) ? rows.then((list) => toStored(userId, list)) : toStored(userId, rows);
  }

  async pendingCount(userId: number): Promise<number> {
    await this.flushAcks();
    return this.store.pendingCount(userId);
  }

  /**
   * Cumulative ack. Acks that arrive within ACK_FLUSH_MS share one transaction (an ack per frame, each
   * with its own fsync, capped the relay at ~1k events/s); on SQLite it is committed without an fsync
   * of its own: it becomes durable with the next inbox commit, and losing it to a power cut only means
   * a redelivery, which plugins dedupe.
   */
  ack(userId: number, seq: number): void {
    const prev = this.#pendingAcks.get(userId);
    if (prev === undefined || seq > prev) this.#pendingAcks.set(userId, seq);
    this.#ackTimer ??= setTimeout(() => this.flushAcksSafely(), this.#ackFlushMs);
  }

  /**
   * `flushAcks` that never throws or rejects: a failure is logged and the acks stay queued. Resolves
   * once the write is done or failed; a caller that does not wait ignores it (the timer, a socket
   * closing), `close()` awaits it.
   */
  flushAcksSafely(): Promise<void> {
    const failed = (err: unknown) => this.#log.error("inbox_ack_flush_failed", { err: err as Error });
    try {
      return this.flushAcks()?.catch(failed) ?? Promise.resolve();
    } catch (err) {
      failed(err);
      return Promise.resolve();
    }
  }

  /**
   * Writes the acks collected so far; reads call it first so they never see a stale ack. Undefined
   * when done (SQLite, or nothing to write), else the write under way.
   */
  flushAcks(): Promise<void> | undefined {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#pendingAcks.size === 0) return this.#ackInFlight;
    const acks = [...this.#pendingAcks];
    this.#pendingAcks.clear();
    let advanced: Awaitable<number>;
    try {
      advanced = this.store.ack(acks);
    } catch (err) {
      this.#ackFailed(acks);
      throw err;
    }
    if (!isPromise(advanced)) {
      this.#acked(advanced);
      return this.#ackInFlight;
    }
    const flight = advanced.then(
      (n) => this.#acked(n),
      (err) => {
        this.#ackFailed(acks);
        throw err;
      },
    );
    // What later reads wait for: every ack write under way, settled (a failed one is queued again).
    const settled = flight.catch(() => {});
    const all = this.#ackInFlight ? Promise.all([this.#ackInFlight, settled]).then(() => {}) : settled;
    this.#ackInFlight = all;
    void all.then(() => {
      if (this.#ackInFlight === all) this.#ackInFlight = undefined;
    });
    return flight;
  }

  #acked(advanced: number): void {
    this.#writes.succeeded();
    if (advanced > 0) this.#m.acks.inc({}, advanced);
  }

  /** Kept for the next flush rather than lost: an ack that never lands means a redelivery storm. */
  #ackFailed(acks: Array<[number, number]>): void {
    this.#writes.failed();
    for (const [userId, seq] of acks) {
      const newer = this.#pendingAcks.get(userId);
      if (newer === undefined || seq > newer) this.#pendingAcks.set(userId, seq);
    }
  }

  /** The user's persisted cumulative ack. */
  async ackedSeq(userId: number): Promise<number> {
    await this.flushAcks();
    return this.store.ackedSeq(userId);
  }

  /** Whether the user's messages came from this chat (they may address it). */
  chatAllowed(userId: number, chatId: string): Promise<boolean> {
    return this.store.chatAllowed(userId, chatId);
  }

  /** The chat (and thread) of a message delivered to this user, or undefined if it was not theirs. */
  deliveredMessage(
    userId: number,
    messageId: string,
  ): Promise<{ chatId: string; threadId?: string } | undefined> {
    return this.store.deliveredMessage(userId, messageId);
  }

  /** The newest message stored for the user (legacy `llm_request` without a messageId answers there). */
  latestMessageId(userId: number): Promise<string | undefined> {
    return this.store.latestMessageId(userId);
  }

  /**
   * Drops acked messages received longer ago than the retention, and dedupe marks past the window.
   * A message is kept at least for the dedupe window whatever the retention: it is its own mark.
   */
  async prune(retentionMs: number): Promise<{ messages: number; marks: number }> {
    await this.flushAcks();
    const now = this.#now();
    return this.#reported(() =>
      this.store.prune(now - Math.max(retentionMs, DEDUPE_WINDOW_MS), now - DEDUPE_WINDOW_MS),
    );
  }
}

function toStored(userId: number, rows: PendingRow[]): StoredMessage[] {
  return rows.map((r) => ({
    userId,
    seq: r.seq,
    message: JSON.parse(r.payload) as InboundMessage,
    payload: r.payload,
    receivedAt: r.receivedAt,
  }));
}

/** A failing `wants` (a bug) must not hold the message forever or fail the commit: no context. */
function wantsContext(source: ContextSource, message: InboundMessage, log: Logger): boolean {
  try {
    return source.wants(message);
  } catch (err) {
    log.error("inbox_context_failed", { messageId: message.messageId, err: err as Error });
    return false;
  }
}

/** Memory-only context; a failure (a bug) stores the message without it. */
function prefillContext(source: ContextSource, message: InboundMessage, log: Logger): void {
  try {
    source.prefill(message);
  } catch (err) {
    log.error("inbox_context_failed", { messageId: message.messageId, err: err as Error });
  }
}
