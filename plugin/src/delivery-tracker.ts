/**
 * Inbound bookkeeping: which `message` frames to hand to the agent, and what to `ack`.
 *
 * The relay delivers at least once: after a reconnect it replays every seq above the last ack it
 * stored, so a message that was still being handled (or whose ack was lost with the socket) comes
 * again. Handling it twice would run the agent twice, so:
 *
 * - seqs are tracked per connection ("generation"): the relay numbers messages per user and
 *   replays in seq order, so within one connection a seq at or below the highest seen is a repeat;
 * - message ids are remembered across connections: a replayed message whose handling already
 *   finished is acked at once, one still in flight is acked when that handling finishes. Keying the
 *   cross-connection memory on the Feishu message id rather than the seq keeps us correct even if
 *   the relay's seqs restart (a fresh database).
 *
 * Acks are cumulative (`ack n` = everything ≤ n is done) and messages are handled concurrently, so
 * only the contiguous run of finished seqs, in delivery order, is acked.
 */

/** How many finished message ids to remember for replay dedupe. */
const DONE_MEMORY = 5_000;

interface WindowEntry {
  seq: number;
  finished: boolean;
}

export type Acceptance = "dispatch" | "duplicate-seq" | "already-done" | "in-flight";

export class DeliveryTracker {
  #generation = 0;
  #window: WindowEntry[] = [];
  #highestSeen = 0;
  #acked = 0;
  readonly #inflight = new Map<string, Promise<void>>();
  /** Insertion-ordered, trimmed from the oldest end: a small LRU of finished message ids. */
  readonly #done = new Set<string>();

  /** @param sendAck writes an `ack` frame on the current connection (dropped when none is open). */
  constructor(private readonly sendAck: (seq: number) => void) {}

  /** A new connection: seqs restart from whatever the relay replays. Returns its generation. */
  newConnection(): number {
    this.#generation += 1;
    this.#window = [];
    this.#highestSeen = 0;
    this.#acked = 0;
    return this.#generation;
  }

  get inflightCount(): number {
    return this.#inflight.size;
  }

  /**
   * Records an arriving message and says what to do with it. For "dispatch", the caller must pass
   * the handling promise to `track`; every other outcome is already taken care of.
   */
  accept(seq: number, messageId: string): Acceptance {
    if (seq <= this.#highestSeen) return "duplicate-seq";
    this.#highestSeen = seq;
    this.#window.push({ seq, finished: false });
    const gen = this.#generation;
    if (this.#done.has(messageId)) {
      this.finish(gen, seq);
      return "already-done";
    }
    const running = this.#inflight.get(messageId);
    if (running) {
      void running.then(() => this.finish(gen, seq));
      return "in-flight";
    }
    return "dispatch";
  }

  /** Records a seq that will never be handled (e.g. a frame we could not parse): ack past it. */
  skip(seq: number): void {
    if (seq <= this.#highestSeen) return;
    this.#highestSeen = seq;
    this.#window.push({ seq, finished: false });
    this.finish(this.#generation, seq);
  }

  /** Tracks the handling of an accepted message; it is acked once `handling` settles. */
  track(seq: number, messageId: string, handling: Promise<unknown>): Promise<void> {
    const gen = this.#generation;
    const settled = handling.then(
      () => undefined,
      () => undefined,
    );
    const done = settled.then(() => {
      this.#inflight.delete(messageId);
      this.#remember(messageId);
      this.finish(gen, seq);
    });
    this.#inflight.set(messageId, settled);
    return done;
  }

  /** Marks `seq` of generation `gen` finished and acks the contiguous finished prefix. */
  finish(gen: number, seq: number): void {
    // A seq of an older connection: that socket is gone, and the relay will replay the message on
    // the current one, where the message-id memory answers it.
    if (gen !== this.#generation) return;
    const entry = this.#window.find((e) => e.seq === seq);
    if (!entry) return;
    entry.finished = true;
    let ackTo = 0;
    while (this.#window.length > 0 && this.#window[0]!.finished) ackTo = this.#window.shift()!.seq;
    if (ackTo > this.#acked) {
      this.#acked = ackTo;
      this.sendAck(ackTo);
    }
  }

  /** Waits until every handling currently in flight has settled (used on shutdown and in tests). */
  async drain(): Promise<void> {
    await Promise.all([...this.#inflight.values()]);
  }

  #remember(messageId: string): void {
    this.#done.delete(messageId);
    this.#done.add(messageId);
    if (this.#done.size > DONE_MEMORY) {
      const oldest = this.#done.values().next().value;
      if (oldest !== undefined) this.#done.delete(oldest);
    }
  }
}
