/**
 * The typing indicator (M2-3, docs/protocol.md "Typing indicator"): a `Typing` reaction on the
 * user's Feishu message while their agent works on it. Added when the message frame is written to
 * a plugin; removed by the first reply to it, by the plugin's ack (ack = "handling finished"), or
 * after `timeoutMs`. Reactions cost from the app's shared budget (two calls per message), so:
 * only live messages (at most `maxAgeMs` old) get one, each call is tried once, and a rate or quota
 * answer stops adding for a while (1 min doubling to 30 min, reset by a success) while removals go
 * on. A failed removal is retried by the sweep a few times, then forgotten.
 *
 * Every reaction is recorded (typing_reactions, typing-store.ts) before the add call, so a restart
 * can remove what a crash left behind. Nothing here may throw into delivery, acks or the outbox:
 * failures are logged. In a cluster the record is shared (PostgreSQL), so a reply sent by another
 * node still ends the reaction.
 */
import { FeishuApiError } from "../feishu/api-error.ts";
import { isReactionThrottle, TYPING_EMOJI } from "../feishu/reactions.ts";
import type { Logger } from "../ops/logger.ts";
import type { Counter, Registry } from "../ops/metrics.ts";
import type { StoredMessage } from "./inbox.ts";
import type { TypingRow, TypingStore } from "./typing-store.ts";

/** What the typing indicator needs from Feishu (feishu/reactions.ts `ReactionClient`). */
export interface ReactionPort {
  add(messageId: string, emojiType: string, opts: { owner?: string; signal?: AbortSignal }): Promise<string>;
  remove(
    messageId: string,
    reactionId: string,
    opts: { owner?: string; signal?: AbortSignal },
  ): Promise<void>;
}

/** The hooks the relay core calls (gateway: delivered, acked; outbox: replied). */
export interface TypingHooks {
  delivered(m: StoredMessage): void;
  acked(userId: number, seq: number): void;
  replied(messageId: string): void;
}

export interface TypingOptions {
  /** Built with `createTypingStore(storage, onError)`; its errors should reach the log. */
  store: TypingStore;
  reactions: ReactionPort;
  /** FEISHU_TYPING. */
  enabled: boolean;
  /** FEISHU_TYPING_TIMEOUT in ms. */
  timeoutMs: number;
  now: () => number;
  log: Logger;
  metrics: Registry;
  /** Older messages (replays) get no reaction: Feishu's createTime and our receivedAt both count. */
  maxAgeMs?: number;
  breakerStartMs?: number;
  breakerMaxMs?: number;
  /** Removal attempts before a row is forgotten. */
  maxRemoveAttempts?: number;
}

export const TYPING_MAX_AGE_MS = 120_000;
export const TYPING_BREAKER_START_MS = 60_000;
export const TYPING_BREAKER_MAX_MS = 30 * 60_000;
const MAX_REMOVE_ATTEMPTS = 3;

type Action = "added" | "removed" | "skipped" | "failed";

export class TypingIndicator implements TypingHooks {
  readonly #o: Required<TypingOptions>;
  readonly #store: TypingStore;
  readonly #count: Counter;
  /** Adds in flight: a removal asked for meanwhile is done once the add answers. */
  readonly #adding = new Map<string, { removeWanted: boolean }>();
  readonly #removing = new Set<string>();
  /** Failed removals so far, by message; the sweep retries these. */
  readonly #removeFailures = new Map<string, number>();
  readonly #work = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  #breakerUntil = 0;
  #breakerMs: number;

  constructor(opts: TypingOptions) {
    this.#o = {
      maxAgeMs: TYPING_MAX_AGE_MS,
      breakerStartMs: TYPING_BREAKER_START_MS,
      breakerMaxMs: TYPING_BREAKER_MAX_MS,
      maxRemoveAttempts: MAX_REMOVE_ATTEMPTS,
      ...opts,
    };
    this.#store = opts.store;
    this.#breakerMs = this.#o.breakerStartMs;
    this.#count = opts.metrics.counter(
      "typing_reactions_total",
      "Typing reactions by action (added, removed, skipped, failed).",
    );
  }

  /** Until when adding is switched off by a rate or quota answer (0 when it is not). */
  get pausedUntil(): number {
    return this.#breakerUntil > this.#o.now() ? this.#breakerUntil : 0;
  }

  /** The message frame was written to a plugin socket. */
  delivered(m: StoredMessage): void {
    if (!this.#o.enabled || this.#stop.signal.aborted) return;
    const messageId = m.message.messageId;
    const now = this.#o.now();
    if (!messageId.startsWith("om_")) return;
    const age = Math.max(now - m.message.createTime, now - m.receivedAt);
    if (age > this.#o.maxAgeMs || now < this.#breakerUntil) {
      this.#inc("skipped");
      return;
    }
    const claimed = this.#store.claim(messageId, m.userId, m.seq, now);
    // SQLite answers at once (the delivery path); PostgreSQL's answer is awaited off that path.
    if (claimed === true) this.#track(this.#add(m.userId, messageId));
    else if (claimed !== false)
      this.#track(claimed.then((ok) => (ok ? this.#add(m.userId, messageId) : undefined)));
  }

  /** The plugin acked up to `seq`: its agent is done with every message up to there. */
  acked(userId: number, seq: number): void {
    this.#each(this.#store.ackedBy(userId, seq));
  }

  /** The first reply to `messageId` was sent (a message, or a streaming card). */
  replied(messageId: string): void {
    const row = this.#store.get(messageId);
    if (row instanceof Promise) this.#track(row.then((r) => (r ? this.#removeRow(r) : undefined)));
    else if (row) this.#removeRow(row);
  }

  #each(rows: TypingRow[] | Promise<TypingRow[]>): void {
    if (Array.isArray(rows)) for (const row of rows) this.#removeRow(row);
    else this.#track(rows.then((list) => this.#each(list)));
  }

  /** Reactions held now (added or being added). */
  get held(): number {
    return this.#store.size;
  }

  /** Removes reactions past the timeout and retries failed removals. Runs on a timer. */
  sweep(): Promise<void> {
    const pass = this.#sweep();
    // Tracked, so `settled()` also waits for a pass whose reads are still under way.
    this.#track(pass);
    return pass;
  }

  async #sweep(): Promise<void> {
    const cutoff = this.#o.now() - this.#o.timeoutMs;
    for (const row of await this.#store.olderThan(cutoff)) this.#removeRow(row);
    for (const messageId of [...this.#removeFailures.keys()]) {
      const row = await this.#store.get(messageId);
      if (row) this.#removeRow(row);
      else this.#removeFailures.delete(messageId);
    }
  }

  /** At start-up: every row is a leftover of the last run (a crash, a hard stop); remove them all. */
  async cleanUpLeftovers(): Promise<number> {
    const rows = await this.#store.loadLeftovers();
    for (const row of rows) this.#removeRow(row);
    if (rows.length) this.#o.log.info("typing_leftovers", { count: rows.length });
    return rows.length;
  }

  /** Resolves once every call started so far has answered and its record is written (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
    await this.#store.flush();
  }

  /** Shutdown: nothing new starts, waits in the limiter end; rows left are cleaned on the next start. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error("typing indicator stopping"));
    // Flushes too: before the database closes, what is held must be on disk for the next start.
    await this.settled();
  }

  async #add(userId: number, messageId: string): Promise<void> {
    const entry = { removeWanted: false };
    this.#adding.set(messageId, entry);
    // The row is committed before the call, so a crash cannot leave a reaction nobody knows of.
    if (!(await this.#store.durable())) {
      this.#adding.delete(messageId);
      await this.#store.drop(messageId);
      this.#inc("failed");
      return;
    }
    let reactionId: string;
    try {
      reactionId = await this.#o.reactions.add(messageId, TYPING_EMOJI, {
        owner: String(userId),
        signal: this.#stop.signal,
      });
    } catch (err) {
      this.#adding.delete(messageId);
      await this.#store.drop(messageId);
      if (this.#stop.signal.aborted) return;
      this.#inc("failed");
      if (isReactionThrottle(err)) this.#trip(err as FeishuApiError, "add");
      else this.#o.log.debug("typing_add_failed", { messageId, ...errorFields(err) });
      return;
    }
    this.#breakerMs = this.#o.breakerStartMs;
    this.#inc("added");
    // Still "adding" until the reaction id is stored: an ack or reply read meanwhile sees the row
    // without it, and must ask for the removal here rather than drop the row as a crash's leftover.
    // Gone meanwhile: another node dropped the row because a reply or ack wanted it removed.
    const held = await this.#store.added(messageId, reactionId);
    this.#adding.delete(messageId);
    if (entry.removeWanted || !held) await this.#remove({ messageId, userId, reactionId });
  }

  #removeRow(row: TypingRow): void {
    if (this.#stop.signal.aborted) return;
    if (this.#adding.has(row.messageId)) {
      this.#adding.get(row.messageId)!.removeWanted = true;
      return;
    }
    if (row.reactionId === null) {
      // An add that a crash cut short (or, in a cluster, still running on another node, which
      // removes its reaction once it finds the row gone): nothing to remove here.
      this.#track(Promise.resolve(this.#store.drop(row.messageId)));
      return;
    }
    this.#track(this.#remove({ messageId: row.messageId, userId: row.userId, reactionId: row.reactionId }));
  }

  async #remove(r: { messageId: string; userId: number; reactionId: string }): Promise<void> {
    if (this.#removing.has(r.messageId)) return;
    this.#removing.add(r.messageId);
    try {
      await this.#o.reactions.remove(r.messageId, r.reactionId, {
        owner: String(r.userId),
        signal: this.#stop.signal,
      });
      await this.#forget(r.messageId);
      this.#inc("removed");
    } catch (err) {
      // Shutting down: the row stays, and the next start removes the reaction.
      if (this.#stop.signal.aborted) return;
      const throttled = isReactionThrottle(err);
      if (throttled) this.#trip(err as FeishuApiError, "remove");
      const retryable = throttled || (err instanceof FeishuApiError && err.retryable);
      const failures = (this.#removeFailures.get(r.messageId) ?? 0) + 1;
      if (retryable && failures < this.#o.maxRemoveAttempts) {
        this.#removeFailures.set(r.messageId, failures);
        this.#o.log.debug("typing_remove_retry", { messageId: r.messageId, failures, ...errorFields(err) });
        return;
      }
      // 231003 recalled, 231011 gone already, or retries spent: the row has no further use.
      await this.#forget(r.messageId);
      this.#inc("failed");
      this.#o.log.debug("typing_remove_failed", { messageId: r.messageId, failures, ...errorFields(err) });
    } finally {
      this.#removing.delete(r.messageId);
    }
  }

  async #forget(messageId: string): Promise<void> {
    this.#removeFailures.delete(messageId);
    await this.#store.drop(messageId);
  }

  /** A rate or quota answer: no adds for the back-off (1 min doubling to 30 min, or Feishu's reset). */
  #trip(err: FeishuApiError, call: "add" | "remove"): void {
    const ms = Math.max(this.#breakerMs, err.retryAfterMs ?? 0);
    this.#breakerUntil = Math.max(this.#breakerUntil, this.#o.now() + ms);
    this.#breakerMs = Math.min(this.#o.breakerMaxMs, this.#breakerMs * 2);
    this.#o.log.warn("typing_paused", { call, code: err.code, status: err.status, pauseMs: ms });
  }

  #track(work: Promise<void>): void {
    const p = work.catch((err) => this.#o.log.error("typing_failed", { err: err as Error }));
    this.#work.add(p);
    void p.finally(() => this.#work.delete(p));
  }

  #inc(action: Action): void {
    this.#count.inc({ action });
  }
}

function errorFields(err: unknown): Record<string, unknown> {
  return err instanceof FeishuApiError ? { code: err.code, status: err.status } : { err: String(err) };
}
