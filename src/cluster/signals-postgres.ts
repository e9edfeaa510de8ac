/**
 * Signals in a cluster: `pg_notify` on the channel `relay_signals`, received on one dedicated LISTEN
 * connection per node, apart from the query pool (DESIGN §7: a pool connection may be busy in a long
 * transaction; the listener must never wait behind one). Bun's `listen` reconnects with back-off and
 * re-subscribes by itself; we only learn of it through `onlisten`, and tell whoever waits on signals
 * that some may have been missed meanwhile.
 *
 * PostgreSQL delivers the notifications of different transactions in commit order, to every listener
 * (the sender's own listener included): all nodes see the same order of signals, which the hub's
 * cross-node replace relies on.
 */
import { SQL } from "bun";
import type { Logger } from "../ops/logger.ts";
import { parseSignal, type Signal, type SignalHandler, type Signals } from "./signals.ts";

export const SIGNAL_CHANNEL = "relay_signals";

/**
 * One statement for every signal published in the same tick (a group commit of the inbox wakes many
 * users at once). Raw SQL: Drizzle's builder has no NOTIFY. The payloads travel as one JSON array so
 * there is a single bound parameter whatever their number; rows are notified in array order.
 * (`::text` first: Bun would otherwise encode the string itself as a JSON scalar.) PostgreSQL folds
 * identical payloads of one transaction into one notification, which suits wake-ups.
 */
export const NOTIFY_MANY = `SELECT pg_notify('${SIGNAL_CHANNEL}', p) FROM json_array_elements_text($1::text::json) AS p`;

interface Pending {
  payload: string;
  done: () => void;
  failed: (err: unknown) => void;
}

export class PostgresSignals implements Signals {
  readonly shared = true;
  readonly #handlers: SignalHandler[] = [];
  readonly #resubscribed: Array<() => void> = [];
  #listener: SQL | undefined;
  #subscription: SQL.ListenSubscription | undefined;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #listens = 0;
  #stopped = false;

  /** `pool` (the storage's) sends; `url` opens the separate listening connection. */
  constructor(
    private readonly pool: SQL,
    private readonly url: string,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {}

  publish(signal: Signal): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const payload = JSON.stringify({ ...signal, from: this.nodeId });
    return new Promise<void>((done, failed) => {
      this.#queue.push({ payload, done, failed });
      if (this.#queue.length === 1 && !this.#flushing) queueMicrotask(() => this.#flush());
    });
  }

  /** Sends what is queued in one statement; one flush at a time keeps this node's signals in order. */
  #flush(): void {
    if (this.#flushing || this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    this.#flushing = this.pool
      .unsafe(NOTIFY_MANY, [JSON.stringify(batch.map((p) => p.payload))])
      .then(
        () => {
          for (const p of batch) p.done();
        },
        (err: unknown) => {
          this.log.warn("cluster_signal_failed", { count: batch.length, err: err as Error });
          for (const p of batch) p.failed(err);
        },
      )
      .finally(() => {
        this.#flushing = undefined;
        this.#flush();
      });
  }

  onSignal(handler: SignalHandler): void {
    this.#handlers.push(handler);
  }

  onResubscribed(handler: () => void): void {
    this.#resubscribed.push(handler);
  }

  async start(): Promise<void> {
    this.#listener = new SQL(this.url, { max: 1, connectionTimeout: 10 });
    this.#subscription = await this.#listener.listen(
      SIGNAL_CHANNEL,
      (payload) => this.#received(payload),
      () => this.#listening(),
    );
  }

  #received(payload: string): void {
    const parsed = parseSignal(payload);
    if (!parsed) {
      this.log.warn("cluster_signal_unreadable", { bytes: payload.length });
      return;
    }
    const fromSelf = parsed.from === this.nodeId;
    for (const handle of this.#handlers) {
      try {
        handle(parsed.signal, fromSelf);
      } catch (err) {
        this.log.error("cluster_signal_handler_failed", { type: parsed.signal.type, err: err as Error });
      }
    }
  }

  #listening(): void {
    this.#listens++;
    if (this.#listens === 1) return;
    this.log.info("cluster_signals_resubscribed", { times: this.#listens - 1 });
    for (const handle of this.#resubscribed) {
      try {
        handle();
      } catch (err) {
        this.log.error("cluster_signal_handler_failed", { type: "resubscribed", err: err as Error });
      }
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#flushing;
    await this.#subscription?.unlisten().catch(() => {});
    await this.#listener?.close({ timeout: 2 }).catch(() => {});
  }
}
