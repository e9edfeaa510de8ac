/**
 * Cluster signals: small JSON wake-ups between relay processes (DESIGN §7). A signal never carries
 * data, only "look again": whoever receives one reads the tables. One process (SQLite) delivers them
 * in-process; a cluster (PostgreSQL) sends them with NOTIFY and receives them on one LISTEN connection
 * per node (signals-postgres.ts).
 */
import type { Logger } from "../ops/logger.ts";
import type { Storage } from "../storage/storage.ts";

export type Signal =
  /** Messages for the user were committed to the inbox (or released from a hold): read them. */
  | { type: "inbox"; userId: number }
  /**
   * The user's plugin socket opened on `nodeId` at `at` (ms): an older socket on any other node must
   * go (4002). Older = earlier `at`, then the smaller session id: every node orders alike.
   */
  | { type: "connected"; userId: number; nodeId: string; sessionId: string; at: number }
  /** The user's token was revoked: every node closes the user's socket with 4001. */
  | { type: "revoked"; userId: number };

/** `fromSelf`: this process published it (PostgreSQL echoes a node's own notifications back). */
export type SignalHandler = (signal: Signal, fromSelf: boolean) => void;

export interface Signals {
  /** True when signals cross processes (PostgreSQL); false for the in-process adapter. */
  readonly shared: boolean;
  /** Resolves once the signal is committed for delivery; rejects when it could not be sent. */
  publish(signal: Signal): Promise<void>;
  onSignal(handler: SignalHandler): void;
  /**
   * The listening connection came back after a drop: signals sent meanwhile are lost, so whoever
   * waits on them must look again once.
   */
  onResubscribed(handler: () => void): void;
  /** Starts listening (PostgreSQL: resolves once LISTEN is acknowledged). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createSignals(storage: Storage, nodeId: string, log: Logger): Signals {
  return storage.dialect === "sqlite"
    ? new LocalSignals()
    : new storage.adapters.PostgresSignals(storage.db.$client, storage.url, nodeId, log);
}

/** One process: handlers run in a microtask, so a publisher never re-enters its own handlers. */
export class LocalSignals implements Signals {
  readonly shared = false;
  readonly #handlers: SignalHandler[] = [];
  #stopped = false;

  async publish(signal: Signal): Promise<void> {
    if (this.#stopped) return;
    queueMicrotask(() => {
      for (const handle of this.#handlers) handle(signal, true);
    });
  }
  onSignal(handler: SignalHandler): void {
    this.#handlers.push(handler);
  }
  onResubscribed(): void {
    // Nothing is ever missed in-process.
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {
    this.#stopped = true;
  }
}

/** Parses a received payload; undefined for anything that is not a signal we know. */
export function parseSignal(payload: string): { signal: Signal; from: string } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== "object") return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.from !== "string") return undefined;
  const from = o.from;
  const userOk = typeof o.userId === "number" && Number.isSafeInteger(o.userId);
  switch (o.type) {
    case "inbox":
    case "revoked":
      return userOk ? { signal: { type: o.type, userId: o.userId as number }, from } : undefined;
    case "connected":
      return userOk &&
        typeof o.nodeId === "string" &&
        typeof o.sessionId === "string" &&
        typeof o.at === "number"
        ? {
            signal: {
              type: "connected",
              userId: o.userId as number,
              nodeId: o.nodeId,
              sessionId: o.sessionId,
              at: o.at,
            },
            from,
          }
        : undefined;
    default:
      return undefined;
  }
}
