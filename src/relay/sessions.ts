/**
 * Connection history in the `sessions` table: who was connected when, from where, with which plugin
 * (the database side is the SessionStore port, session-store.ts).
 */
import type { Logger } from "../ops/logger.ts";
import type { SessionStore, SessionWrite } from "./session-store.ts";

export type { SessionStore } from "./session-store.ts";

/** After a failed commit (the database write-locked by another process), the next try. */
export const SESSION_RETRY_MS = 1000;

export interface SessionStart {
  id: string;
  userId: number;
  remoteAddress?: string;
  userAgent?: string;
  protocol: "v1" | "legacy";
}

/** `openclaw-feishu-relay-channel/1.0.0 openclaw/2026.9.6` → `1.0.0`. */
export function pluginVersionFrom(userAgent: string | undefined): string | undefined {
  const m = userAgent ? /openclaw-feishu-relay-channel\/(\S+)/.exec(userAgent) : null;
  return m?.[1];
}

/**
 * Writes are queued and committed once per event-loop turn: a connect or disconnect used to cost two
 * fsync'd statements on the main thread, which made opening (and, at shutdown, closing) thousands of
 * plugin connections slow enough to break the 10 s stop. Every database call goes through one chain,
 * so the start-up close of stale rows lands before the first new session, and a flush never overlaps
 * the previous one.
 */
export class SessionLog {
  #queue: SessionWrite[] = [];
  #scheduled = false;
  #stopped = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: SessionStore,
    private readonly now: () => number,
    private readonly log?: Logger,
    private readonly retryMs = SESSION_RETRY_MS,
  ) {}

  opened(s: SessionStart): void {
    const ua = s.userAgent?.slice(0, 256) ?? null;
    this.#enqueue({
      kind: "open",
      id: s.id,
      userId: s.userId,
      at: this.now(),
      remoteAddress: s.remoteAddress ?? null,
      userAgent: ua,
      pluginVersion: pluginVersionFrom(ua ?? undefined) ?? null,
      protocol: s.protocol,
    });
  }

  closed(id: string, userId: number, code: number): void {
    this.#enqueue({ kind: "close", id, userId, at: this.now(), code });
  }

  #enqueue(write: SessionWrite): void {
    if (this.#stopped) return;
    this.#queue.push(write);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Runs store calls one after another, in the order they were asked for. */
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(op);
    this.#chain = run.catch(() => {});
    return run;
  }

  /**
   * Commits queued writes in one transaction. It runs from setImmediate, where a rejection would go
   * unobserved: a failed commit keeps its writes queued and is retried later instead; never rejects.
   */
  flush(): Promise<void> {
    this.#scheduled = false;
    return this.#serial(async () => {
      const writes = this.#queue;
      if (writes.length === 0 || this.#stopped) return;
      this.#queue = [];
      try {
        await this.store.write(writes);
      } catch (err) {
        this.#queue = writes.concat(this.#queue);
        this.log?.warn("sessions_write_failed", { queued: this.#queue.length, err: err as Error });
        this.#retry ??= setTimeout(() => {
          this.#retry = undefined;
          void this.flush();
        }, this.retryMs);
        this.#retry.unref?.();
      }
    });
  }

  /**
   * Rows a crash left open are closed with `code` at start-up (1006), so "connected" never lies. In a
   * cluster: this node's rows and those of nodes gone, never a live node's.
   */
  async closeStale(code = 1006): Promise<number> {
    await this.flush();
    return this.#serial(() => this.store.closeOpen(this.now(), code, "stale"));
  }

  /** Shutdown: this node's open rows are closed with 1012; later socket close events are ignored. */
  async stop(): Promise<void> {
    clearTimeout(this.#retry);
    await this.flush();
    this.#stopped = true;
    await this.#serial(() => this.store.closeOpen(this.now(), 1012, "own"));
  }
}
