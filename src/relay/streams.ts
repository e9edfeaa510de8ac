/**
 * Streaming replies (protocol.md "Streaming", feature `stream`): a stream's first `draft` creates a
 * CardKit card and sends it as the reply; later drafts update it, coalesced (only the newest text
 * counts, one card call in flight per card, at least `intervalMs` between a card's updates, each
 * update through the rate limiter at priority `update`); the final `send` (through the outbox) writes
 * the final text and ends streaming. Streams without drafts for `idleMs`, and every stream left open
 * by a previous process, are closed with what they show, so no card stays "generating".
 *
 * State lives in the `streams` table (stream-store.ts): `sequence` is stored before each card call
 * (CardKit wants it strictly increasing per card, across restarts too) and `shown_text` after each
 * call Feishu accepted. In memory: only streams being opened, updated or closed.
 *
 * Cluster mode (M2-6): a stream lives on the node its plugin's socket is on; its final may be sent
 * by any node (the outbox's claim), which then writes the card from the row. Another node's open
 * streams are left alone at start-up: only streams untouched for twice the idle time (their node
 * died) are closed, by whichever node sweeps first.
 */
import { FeishuApiError, isChatRateLimit, isRateLimit } from "../feishu/api-error.ts";
import { type CardKit, isCardGone, isStreamingClosed } from "../feishu/cardkit.ts";
import { chunkMarkdown } from "../feishu/markdown-chunks.ts";
import { cardMarkdown } from "../feishu/markdown-render.ts";
import { type OutgoingMessage, onceCost, partUuid } from "../feishu/outgoing-content.ts";
import { abortableSleep } from "../feishu/rate-limiter.ts";
import type { SendOptions } from "../feishu/sender.ts";
import type { Logger } from "../ops/logger.ts";
import type { Registry } from "../ops/metrics.ts";
import type { DraftFrame } from "./protocol.ts";
import {
  CARD_TEXT_ROOM,
  CONTENT_ELEMENT,
  cardMessageContent,
  fitDraft,
  markdownElement,
  overflowTarget,
  stepUuid,
  streamingCard,
  summaryOf,
} from "./stream-card.ts";
import type { StreamRow, StreamStatus, StreamStore } from "./stream-store.ts";
import { type DeliveryTarget, resolveTarget, type TargetFacts } from "./targets.ts";

/** After a failed card creation, the user's new streams are refused for this long (protocol.md). */
export const CREATE_BACKOFF_MS = 60_000;
/** Closing a card is retried this often on transient errors, waiting 1 s, 2 s, 4 s, … between. */
const CLOSE_ATTEMPTS = 5;
/** Consecutive failed updates after which a stream waits for its next draft instead of retrying. */
const MAX_UPDATE_FAILURES = 3;
const RATE_LIMIT_WAIT_MS = 1000;

/** The Feishu side a stream needs: card calls and the ordinary sender (card message, overflow). */
export interface StreamFeishu {
  cards: Pick<CardKit, "createCard" | "streamContent" | "replaceElement" | "closeStreaming">;
  deliver(target: DeliveryTarget, msg: OutgoingMessage, opts: SendOptions): Promise<string[]>;
}

export interface StreamManagerOptions {
  now: () => number;
  log: Logger;
  metrics: Registry;
  /** Undefined while Feishu is not configured (streams are then unavailable). */
  feishu: () => StreamFeishu | undefined;
  targets: TargetFacts;
  /** FEISHU_STREAMING. */
  enabled: boolean;
  intervalMs: number;
  idleMs: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Markdown → card markdown, for drafts and the final (default `cardMarkdown`). */
  render?: (md: string) => string;
  /** Cuts a final text into pieces of at most `room` body bytes; the first fills the card (default fence-safe `chunkMarkdown`). */
  chunk?: (text: string, room: number) => string[];
  /** Told when a card replying to `replyTo` was sent (the typing indicator goes). */
  onCardSent?: (replyTo: string) => void;
}

export type DraftAnswer = { code: string; message: string } | undefined;

interface Live {
  row: number;
  userId: number;
  owner: string;
  target: DeliveryTarget;
  cardId?: string;
  sequence: number;
  shown: string;
  status: StreamStatus;
  /** The newest draft text not shown yet. */
  pending?: string;
  lastCallAt: number;
  lastDraftAt: number;
  failures: number;
  /** Set once the final or a close took over: drafts are ignored from then on. */
  ending: boolean;
  /** Ends a wait or call for an update when the final or a close takes over (or on shutdown). */
  updates: AbortController;
  opening?: Promise<boolean>;
  pumping: boolean;
  pump?: Promise<void>;
  closing?: Promise<void>;
  /** The final took this stream over: a start-up close not begun yet is skipped. */
  finalized?: boolean;
}

const unavailable = (message: string): DraftAnswer => ({ code: "stream_unavailable", message });

export class StreamManager {
  readonly #o: Required<Omit<StreamManagerOptions, "onCardSent">> & Pick<StreamManagerOptions, "onCardSent">;
  readonly #q: StreamStore;
  readonly #live = new Map<string, Live>();
  readonly #backoff = new Map<number, number>();
  readonly #stop = new AbortController();
  /** Set while `recover` reads its rows: a final waits, so it finds its stream registered. */
  #registering: Promise<void> | undefined;
  readonly #m;

  constructor(store: StreamStore, opts: StreamManagerOptions) {
    this.#o = {
      ...opts,
      sleep: opts.sleep ?? abortableSleep,
      render: opts.render ?? cardMarkdown,
      chunk: opts.chunk ?? ((text, room) => chunkMarkdown(text, room, onceCost)),
    };
    this.#q = store;
    const m = opts.metrics;
    this.#m = {
      streams: m.counter(
        "streams_total",
        "Streaming cards by outcome (opened, finished, unavailable, closed).",
      ),
      updates: m.counter(
        "stream_card_updates_total",
        "Streaming card updates by outcome (sent, coalesced, throttled, failed).",
      ),
    };
    m.gauge("streams_live", "Streams open in this process now.", () => this.#live.size);
  }

  /** Whether `hello` may offer the `stream` feature. */
  get available(): boolean {
    return this.#o.enabled && this.#o.feishu() !== undefined;
  }

  /** Handles one `draft` frame; resolves with the error to answer, or undefined (no answer). */
  async draft(user: { id: number; openId: string }, frame: DraftFrame): Promise<DraftAnswer> {
    const key = `${user.id}:${frame.streamId}`;
    const live = this.#live.get(key);
    if (live) {
      if (!live.ending) this.#offer(live, frame.text);
      return undefined;
    }
    const resolved = await resolveTarget(this.#o.targets, user, frame);
    // The target check may have waited for the database: a draft of this stream may have started it.
    const started = this.#live.get(key);
    if (started) {
      if (!started.ending) this.#offer(started, frame.text);
      return undefined;
    }
    if (!resolved.ok) return { code: resolved.code, message: resolved.message };
    // A stream that ended (final, closed, refused) ignores its late drafts; one that another draft
    // opened while this one read takes the text.
    if (await this.#q.byStream(user.id, frame.streamId)) return this.#offerRaced(key, frame.text);
    const now = this.#o.now();
    const feishu = this.#o.feishu();
    const refusal = !this.#o.enabled
      ? "streaming is switched off on this relay"
      : !feishu
        ? "the relay has no Feishu app configured"
        : (this.#backoff.get(user.id) ?? 0) > now
          ? "card creation failed recently; send the final as usual"
          : undefined;
    const row = await this.#q.insert(user.id, frame.streamId, JSON.stringify(resolved.target), now);
    if (!row) return this.#offerRaced(key, frame.text);
    if (refusal || !feishu) {
      await this.#setStatus(row.id, "failed");
      this.#m.streams.inc({ outcome: "unavailable" });
      return unavailable(refusal ?? "unavailable");
    }
    const state = this.#fromRow(row, resolved.target);
    state.lastDraftAt = now;
    this.#live.set(key, state);
    state.opening = this.#open(state, feishu, frame.text, key);
    return (await state.opening) ? undefined : unavailable("the streaming card could not be created");
  }

  /**
   * The final content of a stream (the outbox's port calls this for a send with `streamId`).
   * Resolves with the message ids [card, …overflow], or undefined when the stream has no card
   * (the caller then sends as usual). Safe to call again after a crash or a transient failure.
   */
  async finish(
    userId: number,
    streamId: string,
    text: string,
    uuid: string,
    msgType: "text" | "markdown" = "markdown",
  ): Promise<string[] | undefined> {
    const key = `${userId}:${streamId}`;
    await this.#registering;
    const live = this.#live.get(key);
    if (live) {
      live.finalized = true;
      this.#end(live);
      await this.#settled(live);
    }
    try {
      return await this.#finishRow(userId, streamId, text, uuid, msgType, live);
    } finally {
      // A retry (the outbox's) starts from the row, which holds everything it needs.
      this.#live.delete(key);
    }
  }

  async #finishRow(
    userId: number,
    streamId: string,
    text: string,
    uuid: string,
    msgType: "text" | "markdown",
    live: Live | undefined,
  ): Promise<string[] | undefined> {
    const row = await this.#q.byStream(userId, streamId);
    const feishu = this.#o.feishu();
    if (!row?.cardId || !row.messageId || row.status === "failed" || row.status === "opening" || !feishu)
      return undefined;
    const owner = `user:${userId}`;
    const pieces = this.#o.chunk(text, CARD_TEXT_ROOM);
    const head = pieces[0] ?? text;
    const state = live ?? this.#fromRow(row, JSON.parse(row.target) as DeliveryTarget);
    state.sequence = Math.max(state.sequence, row.sequence);
    if (row.status !== "final") {
      try {
        await this.#writeFinal(state, row, feishu, fitDraft(this.#o.render(head)), summaryOf(head));
      } catch (err) {
        if (!(err instanceof FeishuApiError) || err.retryable) throw err;
        // The card cannot take the final (gone, expired, refused): the answer goes as a message.
        this.#o.log.warn("stream_final_fallback", { userId, streamId, ...err.toLog() });
        await this.#setStatus(row.id, "failed");
        return undefined;
      }
    }
    const ids = [row.messageId];
    const rest = pieces.slice(1);
    const dest = overflowTarget(JSON.parse(row.target) as DeliveryTarget, row.messageId);
    for (let i = 0; i < rest.length; i++) {
      const opts = { uuid: partUuid(`${uuid}:o`, i, rest.length), owner, retry: "once" as const };
      ids.push(...(await feishu.deliver(dest, { msgType, text: rest[i] }, opts)));
    }
    return ids;
  }

  /** Closes streams without a draft for `idleMs`; returns how many it started closing. */
  closeIdle(): number {
    const now = this.#o.now();
    let started = 0;
    for (const [key, s] of this.#live) {
      if (s.ending || s.status !== "open" || now - s.lastDraftAt < this.#o.idleMs) continue;
      this.#end(s);
      const busy = [s.opening, s.pump];
      s.closing = Promise.all(busy).then(() => this.#closeAndForget(s, key));
      started++;
    }
    return started;
  }

  /**
   * Start-up: streams a previous process left `opening`/`open` are closed with what they show
   * (a card never sent, or never created, is marked failed). Resolves when all are done. In a
   * cluster only streams untouched for twice the idle time are taken (others may be live on
   * another node); the sweep calls it again to close what a dead node left.
   */
  async recover(): Promise<number> {
    const before = this.#q.shared ? this.#o.now() - 2 * this.#o.idleMs : Number.MAX_SAFE_INTEGER;
    let registered = () => {};
    this.#registering = new Promise((resolve) => {
      registered = resolve;
    });
    let rows: StreamRow[];
    try {
      rows = (await this.#q.unfinished(before)).filter((r) => !this.#live.has(`${r.userId}:${r.streamId}`));
    } finally {
      // Registered below before any other await: a final waiting on this finds its stream.
      queueMicrotask(registered);
    }
    const open: Array<[string, Live]> = [];
    const unsent: Live[] = [];
    const failed: number[] = [];
    for (const row of rows) {
      const state = this.#fromRow(row, JSON.parse(row.target) as DeliveryTarget);
      state.ending = true;
      if (!row.cardId || !row.messageId || row.status === "opening") {
        // Never shown to anyone (a card created but not sent still gets its streaming ended).
        failed.push(row.id);
        if (row.cardId) unsent.push(state);
        continue;
      }
      // All registered before any await, so a final arriving meanwhile never races a close.
      const key = `${row.userId}:${row.streamId}`;
      this.#live.set(key, state);
      open.push([key, state]);
    }
    for (const id of failed) await this.#setStatus(id, "failed");
    for (const state of unsent) await this.#close(state);
    // One at a time (a restart after a big crash must not burst). A final arriving first takes its
    // stream over and waits only for a close already under way, not for the queue before it.
    for (const [key, state] of open) {
      if (state.finalized) continue;
      state.closing = this.#closeAndForget(state, key);
      await state.closing;
    }
    if (rows.length) this.#o.log.info("streams_recovered", { count: rows.length });
    return rows.length;
  }

  /** Forgets ended streams last touched before `before` (their cards are no longer updated). */
  prune(before: number): Promise<number> {
    return this.#q.prune(before);
  }

  /** Shutdown: waits stop at once, calls in flight finish; open cards are closed at the next start. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error("the relay is stopping"));
    for (const s of this.#live.values()) s.updates.abort(this.#stop.signal.reason);
    await Promise.allSettled([...this.#live.values()].map((s) => this.#settled(s)));
  }

  // ---------------------------------------------------------------- drafts

  #offer(s: Live, text: string): void {
    s.lastDraftAt = this.#o.now();
    if (s.pending !== undefined) this.#m.updates.inc({ outcome: "coalesced" });
    s.pending = text;
    if (s.status === "open") this.#kick(s);
  }

  async #open(s: Live, feishu: StreamFeishu, text: string, key: string): Promise<boolean> {
    const opts = { priority: "update" as const, owner: s.owner, signal: this.#stop.signal };
    const shown = fitDraft(this.#o.render(text));
    try {
      const cardId = await feishu.cards.createCard(streamingCard(shown), opts);
      s.cardId = cardId;
      await this.#q.cardCreated(s.row, cardId, this.#o.now());
      const [messageId] = await feishu.deliver(
        s.target,
        { msgType: "interactive", content: cardMessageContent(cardId) },
        { uuid: `card_${cardId}`, owner: s.owner, retry: "once", priority: "update", signal: opts.signal },
      );
      if (!messageId) throw new Error("Feishu answered the card message without an id");
      s.status = "open";
      s.shown = shown;
      s.lastCallAt = this.#o.now();
      await this.#q.opened(s.row, cardId, messageId, shown, s.lastCallAt);
      this.#m.streams.inc({ outcome: "opened" });
      if (s.target.kind === "reply") this.#o.onCardSent?.(s.target.messageId);
      if (s.pending !== undefined && !s.ending) this.#kick(s);
      return true;
    } catch (err) {
      s.status = "failed";
      s.ending = true;
      this.#live.delete(key);
      await this.#setStatus(s.row, "failed").catch((e) =>
        this.#o.log.error("stream_write_failed", { userId: s.userId, err: e as Error }),
      );
      this.#backoff.set(s.userId, this.#o.now() + CREATE_BACKOFF_MS);
      this.#m.streams.inc({ outcome: "unavailable" });
      const fields = err instanceof FeishuApiError ? err.toLog() : { err: err as Error };
      this.#o.log.warn("stream_unavailable", { userId: s.userId, ...fields });
      return false;
    }
  }

  /**
   * The final or a close takes over: no more drafts, and an update still waiting (interval, rate
   * limiter) or in flight is abandoned. Its sequence is spent either way, so what follows is newer.
   */
  #end(s: Live): void {
    s.ending = true;
    s.pending = undefined;
    s.updates.abort(new Error("the stream is ending"));
  }

  #kick(s: Live): void {
    if (s.pumping) return;
    s.pumping = true;
    s.pump = this.#runPump(s);
  }

  /** One card call at a time, spaced by `intervalMs`, always with the newest text. */
  async #runPump(s: Live): Promise<void> {
    try {
      while (s.pending !== undefined && !s.ending && s.status === "open" && !s.updates.signal.aborted) {
        const wait = s.lastCallAt + this.#o.intervalMs - this.#o.now();
        if (wait > 0) await this.#o.sleep(wait, s.updates.signal);
        const text = s.pending;
        if (text === undefined || s.ending || s.status !== "open") break;
        s.pending = undefined;
        await this.#update(s, text);
      }
    } catch {
      // Only an abort lands here (final, close or shutdown): they take it from here.
    } finally {
      s.pumping = false;
    }
  }

  async #update(s: Live, text: string): Promise<void> {
    const shown = fitDraft(this.#o.render(text));
    if (shown === s.shown || shown === "") return;
    try {
      const sequence = await this.#nextSequence(s);
      await this.#cards().streamContent(
        s.cardId!,
        CONTENT_ELEMENT,
        shown,
        { sequence, uuid: stepUuid(s.cardId!, sequence) },
        { priority: "update", owner: s.owner, signal: s.updates.signal },
      );
      s.shown = shown;
      s.failures = 0;
      await this.#q.shown(s.row, shown, this.#o.now());
      this.#m.updates.inc({ outcome: "sent" });
    } catch (err) {
      if (s.updates.signal.aborted) return;
      await this.#updateFailed(s, text, err);
    } finally {
      s.lastCallAt = Math.max(s.lastCallAt, this.#o.now());
    }
  }

  async #updateFailed(s: Live, text: string, err: unknown): Promise<void> {
    const e = err instanceof FeishuApiError ? err : undefined;
    if (e && (isRateLimit(e) || isChatRateLimit(e))) {
      // Skipped, not retried: the next tick sends whatever is newest by then.
      this.#m.updates.inc({ outcome: "throttled" });
      s.pending ??= text;
      s.lastCallAt = this.#o.now() + Math.max(0, (e.retryAfterMs ?? RATE_LIMIT_WAIT_MS) - this.#o.intervalMs);
      return;
    }
    this.#m.updates.inc({ outcome: "failed" });
    const fields = e ? e.toLog() : { err: err as Error };
    if (isStreamingClosed(err) || isCardGone(err) || (e && !e.retryable)) {
      // Feishu ended streaming itself (or the card is unusable): the final replaces the element.
      this.#o.log.warn("stream_updates_stopped", { userId: s.userId, ...fields });
      s.status = "closed";
      await this.#setStatus(s.row, "closed");
      return;
    }
    this.#o.log.warn("stream_update_failed", { userId: s.userId, ...fields });
    if (++s.failures < MAX_UPDATE_FAILURES) s.pending ??= text;
  }

  // ---------------------------------------------------------------- final and close

  async #writeFinal(s: Live, row: StreamRow, feishu: StreamFeishu, card: string, summary: string) {
    const opts = { priority: "final" as const, owner: s.owner, signal: this.#stop.signal };
    const cardId = row.cardId!;
    const step = async () => {
      const sequence = await this.#nextSequence(s);
      return { sequence, uuid: stepUuid(cardId, sequence) };
    };
    let streaming = row.status === "open";
    // The last draft was the final text already: ending streaming is all that is left.
    if (streaming && card === row.shownText) {
      await feishu.cards.closeStreaming(cardId, summary, await step(), opts);
      return this.#finalWritten(row.id, card);
    }
    if (streaming) {
      try {
        await feishu.cards.streamContent(cardId, CONTENT_ELEMENT, card, await step(), opts);
      } catch (err) {
        if (!isStreamingClosed(err)) throw err;
        streaming = false;
      }
    }
    if (!streaming)
      await feishu.cards.replaceElement(cardId, CONTENT_ELEMENT, markdownElement(card), await step(), opts);
    await feishu.cards.closeStreaming(cardId, summary, await step(), opts);
    await this.#finalWritten(row.id, card);
  }

  async #finalWritten(row: number, card: string): Promise<void> {
    await this.#q.shown(row, card, this.#o.now());
    await this.#setStatus(row, "final");
    this.#m.streams.inc({ outcome: "finished" });
  }

  async #closeAndForget(s: Live, key: string): Promise<void> {
    const closed = await this.#close(s);
    if (closed) {
      await this.#setStatus(s.row, "closed");
      this.#m.streams.inc({ outcome: "closed" });
    }
    if (this.#live.get(key) === s) this.#live.delete(key);
  }

  /** Ends streaming with the shown text as the preview; bounded retries on transient errors. */
  async #close(s: Live): Promise<boolean> {
    const cards = this.#o.feishu()?.cards;
    if (!cards || !s.cardId) return false;
    for (let attempt = 0; attempt < CLOSE_ATTEMPTS; attempt++) {
      try {
        const sequence = await this.#nextSequence(s);
        await cards.closeStreaming(
          s.cardId,
          summaryOf(s.shown) || " ",
          { sequence, uuid: stepUuid(s.cardId, sequence) },
          { priority: "final", owner: s.owner, signal: this.#stop.signal },
        );
        return true;
      } catch (err) {
        if (this.#stop.signal.aborted) return false;
        // Already closed or gone: nothing shows "generating" any more.
        if (isStreamingClosed(err) || isCardGone(err)) return true;
        const e = err instanceof FeishuApiError ? err : undefined;
        this.#o.log.warn("stream_close_failed", {
          userId: s.userId,
          attempt: attempt + 1,
          ...(e ? e.toLog() : { err: err as Error }),
        });
        if (e && !e.retryable) return false;
        try {
          await this.#o.sleep(1000 * 2 ** attempt, this.#stop.signal);
        } catch {
          return false;
        }
      }
    }
    return false;
  }

  // ---------------------------------------------------------------- helpers

  /** Waits until nothing runs for this stream (opening, an update, a close). */
  async #settled(s: Live): Promise<void> {
    // In this order: an opening stream may start a pump; `ending` stops anything new after.
    await s.opening;
    await s.pump;
    await s.closing;
  }

  /** The next card sequence, stored before the call that uses it (a restart continues above). */
  async #nextSequence(s: Live): Promise<number> {
    const sequence = ++s.sequence;
    await this.#q.sequence(s.row, sequence);
    return sequence;
  }

  #setStatus(row: number, status: StreamStatus): Promise<void> {
    return this.#q.setStatus(row, status, this.#o.now());
  }

  /** A draft that lost the race to open its stream: the winner shows its text (if still live). */
  #offerRaced(key: string, text: string): DraftAnswer {
    const live = this.#live.get(key);
    if (live && !live.ending) this.#offer(live, text);
    return undefined;
  }

  #cards(): StreamFeishu["cards"] {
    const feishu = this.#o.feishu();
    if (!feishu) throw new Error("the relay has no Feishu app configured");
    return feishu.cards;
  }

  #fromRow(row: StreamRow, target: DeliveryTarget): Live {
    return {
      row: row.id,
      userId: row.userId,
      owner: `user:${row.userId}`,
      target,
      cardId: row.cardId ?? undefined,
      sequence: row.sequence,
      shown: row.shownText,
      status: row.status,
      lastCallAt: 0,
      lastDraftAt: this.#o.now(),
      failures: 0,
      ending: false,
      updates: new AbortController(),
      pumping: false,
    };
  }
}
