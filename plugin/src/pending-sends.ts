/**
 * `send` frames waiting for their `sent` / `error` answer, correlated by the client id.
 *
 * A send issued while the socket is down waits for the next connection instead of failing: a
 * reply that is ready a second after a relay restart should still arrive. A send written on a socket
 * that then dropped before its answer is written again on the next connection; that is safe because
 * every send carries a `uuid`, which the relay uses to make the retry idempotent. Each send has one
 * overall deadline, whatever happens in between.
 *
 * A `queued` answer (M2-1: Feishu failed transiently and the relay keeps the send durably for a
 * retry) settles the send as accepted: the relay owns it now, and resending it — above all under a
 * new uuid — could post it twice. Its final outcome arrives later and is only logged.
 */
import type { QueuedFrame, SendFrame, SendRequest, SentFrame } from "../../src/relay/protocol.ts";

/** How the relay accepted a send: delivered (`sent`) or kept for a retry (`queued`). */
export type SendAnswer = SentFrame | QueuedFrame;

/** The relay refused a send, or it could not be confirmed in time. */
export class RelaySendError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    /** With `rate_limited`: how long the relay asks us to wait before trying again. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "RelaySendError";
  }
}

interface Pending {
  frame: SendFrame;
  written: boolean;
  resolve: (frame: SendAnswer) => void;
  reject: (err: Error) => void;
  cleanup: () => void;
}

export interface SendOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class PendingSends {
  readonly #pending = new Map<string, Pending>();
  #counter = 0;
  #closedWith: RelaySendError | undefined;
  readonly #prefix = Math.random().toString(36).slice(2, 8);

  /**
   * @param write puts a frame on the open socket; returns false when there is none.
   * @param defaultTimeoutMs deadline for an answer, counted from the call.
   */
  constructor(
    private readonly write: (frame: SendFrame) => boolean,
    private readonly defaultTimeoutMs: number,
  ) {}

  get size(): number {
    return this.#pending.size;
  }

  send(req: SendRequest, opts: SendOptions = {}): Promise<SendAnswer> {
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    if (opts.signal?.aborted) return Promise.reject(new RelaySendError("aborted", "send aborted", true));
    const id = `${this.#prefix}-${++this.#counter}`;
    const frame: SendFrame = { type: "send", id, ...req };
    return new Promise<SendAnswer>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
      const timer = setTimeout(() => {
        this.#settle(id)?.reject(
          new RelaySendError("timeout", `relay did not confirm the send within ${timeoutMs} ms`, true),
        );
      }, timeoutMs);
      const onAbort = () => this.#settle(id)?.reject(new RelaySendError("aborted", "send aborted", true));
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
      };
      const entry: Pending = { frame, written: false, resolve, reject, cleanup };
      this.#pending.set(id, entry);
      entry.written = this.write(frame);
    });
  }

  /** A connection is ready: write everything not yet on the wire, oldest first. */
  flush(): void {
    for (const entry of this.#pending.values()) {
      if (!entry.written) entry.written = this.write(entry.frame);
    }
  }

  /** The socket dropped: frames without an answer must go out again on the next connection. */
  disconnected(): void {
    for (const [id, entry] of [...this.#pending]) {
      if (entry.written && !entry.frame.uuid) {
        // Without a uuid the relay cannot tell a retry from a new message: do not guess.
        this.#settle(id)?.reject(
          new RelaySendError("connection_lost", "connection lost before the relay confirmed the send", true),
        );
      } else entry.written = false;
    }
  }

  /** Handles a `sent` frame; false when its id is unknown (e.g. it already timed out). */
  sent(frame: SentFrame): boolean {
    const entry = this.#settle(frame.id);
    entry?.resolve(frame);
    return Boolean(entry);
  }

  /** Handles a `queued` frame: the send is accepted; false when its id is unknown. */
  queued(frame: QueuedFrame): boolean {
    const entry = this.#settle(frame.id);
    entry?.resolve(frame);
    return Boolean(entry);
  }

  /** Handles an `error` frame that carries an id; false when the id is unknown. */
  failed(id: string, code: string, message: string, retryable: boolean, retryAfterMs?: number): boolean {
    const entry = this.#settle(id);
    entry?.reject(new RelaySendError(code, message, retryable, retryAfterMs));
    return Boolean(entry);
  }

  /** Fails every pending and future send (terminal close, shutdown). */
  close(err: RelaySendError): void {
    this.#closedWith = err;
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(err);
  }

  /** Accept sends again (a new run after a terminal close, e.g. a config reload). */
  reopen(): void {
    this.#closedWith = undefined;
  }

  #settle(id: string): Pending | undefined {
    const entry = this.#pending.get(id);
    if (!entry) return undefined;
    this.#pending.delete(id);
    entry.cleanup();
    return entry;
  }
}
