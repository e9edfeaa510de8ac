/**
 * Connection history in the `sessions` table: who was connected when, from where, with which plugin.
 */
import type { Db } from "../db/open.ts";

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

export class SessionLog {
  readonly #open;
  readonly #close;
  readonly #closeStale;
  readonly #seen;

  constructor(
    db: Db,
    private readonly now: () => number,
  ) {
    const c = db.$client;
    this.#open = c.query(
      `INSERT INTO sessions (id, user_id, connected_at, remote_address, user_agent, plugin_version, protocol)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#close = c.query(
      "UPDATE sessions SET disconnected_at = ?2, close_code = ?3 WHERE id = ?1 AND disconnected_at IS NULL",
    );
    this.#closeStale = c.query(
      "UPDATE sessions SET disconnected_at = ?1, close_code = 1006 WHERE disconnected_at IS NULL",
    );
    this.#seen = c.query("UPDATE users SET last_seen_at = ?2 WHERE id = ?1");
  }

  opened(s: SessionStart): void {
    const at = this.now();
    const ua = s.userAgent?.slice(0, 256);
    this.#open.run(
      s.id,
      s.userId,
      at,
      s.remoteAddress ?? null,
      ua ?? null,
      pluginVersionFrom(ua) ?? null,
      s.protocol,
    );
    this.#seen.run(s.userId, at);
  }

  closed(id: string, userId: number, code: number): void {
    const at = this.now();
    this.#close.run(id, at, code);
    this.#seen.run(userId, at);
  }

  /** At start-up: rows a crash left open are closed, so "connected" never lies. */
  closeStale(): number {
    return this.#closeStale.run(this.now()).changes;
  }
}
