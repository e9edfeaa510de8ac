/**
 * Connection history in the `sessions` table: who was connected when, from where, with which plugin.
 */
import type { Database } from "bun:sqlite";
import type { Db } from "../db/open.ts";
import type { Logger } from "../ops/logger.ts";

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
 * plugin connections slow enough to break the 10 s stop.
 */
export class SessionLog {
  readonly #sqlite: Database;
  readonly #open;
  readonly #close;
  readonly #closeStale;
  readonly #seen;
  #queue: Array<() => void> = [];
  #scheduled = false;
  #stopped = false;
  #retry: ReturnType<typeof setTimeout> | undefined;

  constructor(
    db: Db,
    private readonly now: () => number,
    private readonly log?: Logger,
    private readonly retryMs = SESSION_RETRY_MS,
  ) {
    const c = db.$client;
    this.#sqlite = c;
    this.#open = c.query(
      `INSERT INTO sessions (id, user_id, connected_at, remote_address, user_agent, plugin_version, protocol)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#close = c.query(
      "UPDATE sessions SET disconnected_at = ?2, close_code = ?3 WHERE id = ?1 AND disconnected_at IS NULL",
    );
    this.#closeStale = c.query(
      "UPDATE sessions SET disconnected_at = ?1, close_code = ?2 WHERE disconnected_at IS NULL",
    );
    this.#seen = c.query("UPDATE users SET last_seen_at = ?2 WHERE id = ?1");
  }

  opened(s: SessionStart): void {
    const at = this.now();
    const ua = s.userAgent?.slice(0, 256) ?? null;
    const version = pluginVersionFrom(ua ?? undefined) ?? null;
    this.#enqueue(() => {
      this.#open.run(s.id, s.userId, at, s.remoteAddress ?? null, ua, version, s.protocol);
      this.#seen.run(s.userId, at);
    });
  }

  closed(id: string, userId: number, code: number): void {
    const at = this.now();
    this.#enqueue(() => {
      this.#close.run(id, at, code);
      this.#seen.run(userId, at);
    });
  }

  #enqueue(write: () => void): void {
    if (this.#stopped) return;
    this.#queue.push(write);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Commits queued writes in one transaction. It runs from setImmediate, where a throw would kill the
   * process: a failed commit keeps its writes queued and is retried later instead.
   */
  flush(): void {
    this.#scheduled = false;
    const writes = this.#queue;
    if (writes.length === 0 || this.#stopped) return;
    this.#queue = [];
    try {
      this.#sqlite.transaction(() => {
        for (const w of writes) w();
      })();
    } catch (err) {
      this.#queue = writes.concat(this.#queue);
      this.log?.warn("sessions_write_failed", { queued: this.#queue.length, err: err as Error });
      this.#retry ??= setTimeout(() => {
        this.#retry = undefined;
        this.flush();
      }, this.retryMs);
      this.#retry.unref?.();
    }
  }

  /**
   * Rows still open are closed with `code`: at start-up (1006, what a crash left) and at shutdown
   * (1012), so "connected" never lies.
   */
  closeStale(code = 1006): number {
    this.flush();
    return this.#closeStale.run(this.now(), code).changes;
  }

  /** Shutdown: every open row is closed with 1012; later socket close events are ignored. */
  stop(): void {
    clearTimeout(this.#retry);
    this.closeStale(1012);
    this.#stopped = true;
  }
}

/**
 * Users with a session the relay has not closed: what another process (the CLI) can know of who is
 * connected. A relay that crashed leaves its sessions open until it starts again (closeStale).
 */
export function openSessionUsers(db: Db): Set<number> {
  const rows = db.$client
    .query<{ userId: number }, []>(
      "SELECT DISTINCT user_id AS userId FROM sessions WHERE disconnected_at IS NULL",
    )
    .all();
  return new Set(rows.map((r) => r.userId));
}
