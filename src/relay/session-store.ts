/**
 * The `SessionStore` port: connection history in the `sessions` table (who was connected when, from
 * where, with which plugin, on which node) and each user's `last_seen_at`. Adapters: SQLite (one
 * process, prepared statements) and PostgreSQL (several nodes share the table: each closes only its
 * own sessions, and at start-up those of nodes that are gone: session-store-postgres.ts).
 */
import type { Db } from "../db/open.ts";
import type { Storage } from "../storage/storage.ts";

/** A node whose `nodes` row was not refreshed for this long is gone: its open sessions are stale. */
export const NODE_GONE_MS = 30_000;

export type SessionWrite =
  | {
      kind: "open";
      id: string;
      userId: number;
      at: number;
      remoteAddress: string | null;
      userAgent: string | null;
      pluginVersion: string | null;
      protocol: "v1" | "legacy";
    }
  | { kind: "close"; id: string; userId: number; at: number; code: number };

/**
 * `stale`: at start-up, the rows a crash left open (this node's, and in a cluster those of nodes gone
 * from `nodes`). `own`: at shutdown, this node's rows.
 */
export type CloseScope = "stale" | "own";

export interface SessionStore {
  /** Applies the writes in order, in one transaction; opened rows carry this node's id. */
  write(writes: SessionWrite[]): Promise<void>;
  /** Closes the rows of `scope` still open with `code`; how many. */
  closeOpen(at: number, code: number, scope: CloseScope): Promise<number>;
  /**
   * Users with a session nobody closed: what another process (the CLI) can know of who is connected.
   * A relay that crashed leaves its sessions open until a node starts again (`closeOpen("stale")`).
   */
  openSessionUsers(): Promise<Set<number>>;
}

export function createSessionStore(storage: Storage, nodeId: string | null = null): SessionStore {
  return storage.dialect === "sqlite"
    ? new SqliteSessionStore(storage.db, nodeId)
    : new storage.adapters.PostgresSessionStore(storage.db, nodeId);
}

export class SqliteSessionStore implements SessionStore {
  readonly #q;

  constructor(
    private readonly db: Db,
    private readonly nodeId: string | null = null,
  ) {
    const c = db.$client;
    this.#q = {
      open: c.query(
        `INSERT INTO sessions (id, user_id, connected_at, remote_address, user_agent, plugin_version, protocol, node_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      close: c.query(
        "UPDATE sessions SET disconnected_at = ?2, close_code = ?3 WHERE id = ?1 AND disconnected_at IS NULL",
      ),
      // One process: every row still open is its own or a crash's, whatever the scope.
      closeOpen: c.query(
        "UPDATE sessions SET disconnected_at = ?1, close_code = ?2 WHERE disconnected_at IS NULL",
      ),
      seen: c.query("UPDATE users SET last_seen_at = ?2 WHERE id = ?1"),
      openUsers: c.query<{ userId: number }, []>(
        "SELECT DISTINCT user_id AS userId FROM sessions WHERE disconnected_at IS NULL",
      ),
    };
  }

  async write(writes: SessionWrite[]): Promise<void> {
    const q = this.#q;
    this.db.$client.transaction(() => {
      for (const w of writes) {
        if (w.kind === "open")
          q.open.run(
            w.id,
            w.userId,
            w.at,
            w.remoteAddress,
            w.userAgent,
            w.pluginVersion,
            w.protocol,
            this.nodeId,
          );
        else q.close.run(w.id, w.at, w.code);
        q.seen.run(w.userId, w.at);
      }
    })();
  }

  async closeOpen(at: number, code: number, _scope: CloseScope): Promise<number> {
    return this.#q.closeOpen.run(at, code).changes;
  }

  async openSessionUsers(): Promise<Set<number>> {
    return new Set(this.#q.openUsers.all().map((r) => r.userId));
  }
}
