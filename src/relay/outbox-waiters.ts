/**
 * The callers waiting for a send's outcome, by outbox row: each submit (and each repeat of its uuid)
 * waits until the row is final, and is told once when the send had to be queued for a retry.
 */
import type { Logger } from "../ops/logger.ts";
import type { SendOutcome, SubmitHooks } from "./outbox.ts";
import type { Row } from "./outbox-store.ts";

interface Waiter {
  resolve(o: SendOutcome): void;
  hooks?: SubmitHooks;
  toldQueued?: boolean;
}

/** The outcome a final row records; undefined while it is not final. */
export function finalOutcome(row: Row): SendOutcome | undefined {
  if (row.status === "sent") return { ok: true, messageIds: JSON.parse(row.messageIds ?? "[]") };
  if (row.status === "failed") {
    return {
      ok: false,
      code: row.lastErrorCode ?? "send_failed",
      message: row.lastError ?? "send failed",
      retryable: false,
    };
  }
  return undefined;
}

export class OutboxWaiters {
  readonly #byRow = new Map<number, Waiter[]>();

  constructor(private readonly log: Logger) {}

  /** Rows someone waits for. */
  rows(): number[] {
    return [...this.#byRow.keys()];
  }

  wait(id: number, hooks?: SubmitHooks): Promise<SendOutcome> {
    return new Promise((resolve) => {
      const list = this.#byRow.get(id) ?? [];
      list.push({ resolve, hooks });
      this.#byRow.set(id, list);
    });
  }

  settle(id: number, outcome: SendOutcome): void {
    const list = this.#byRow.get(id);
    this.#byRow.delete(id);
    for (const w of list ?? []) w.resolve(outcome);
  }

  /** Tells each waiter of the row, once, that its send waits for a retry at `retryAt`. */
  tellQueued(id: number, uuid: string, retryAt: number): void {
    for (const w of this.#byRow.get(id) ?? []) {
      if (w.toldQueued || !w.hooks?.onQueued) continue;
      w.toldQueued = true;
      try {
        w.hooks.onQueued({ uuid, retryAt });
      } catch (err) {
        this.log.error("outbox_hook_failed", { err: err as Error });
      }
    }
  }
}
