/**
 * What the console (and the CLI's `users list`) reads from the database: users with their state, the
 * outbox's backlog and failures, who has messages waiting, who has a session open. A read-only port
 * across other modules' tables, kept apart so their ports stay small. Adapters: SQLite (here,
 * statements prepared once) and PostgreSQL (stats-postgres.ts).
 */
import type { Db } from "../db/open.ts";
import type { Storage } from "../storage/storage.ts";
import { isoOrNull } from "../users/user-store.ts";

/** Inbox rows past the user's cumulative ack (the same rule as users/user-store.ts). */
const PENDING = "(SELECT count(*) FROM inbox i WHERE i.user_id = u.id AND i.seq > u.acked_seq)";
export const PENDING_USERS_SHOWN = 20;
export const USERS_SHOWN = 500;

export interface UserRow {
  id: number;
  openId: string;
  name: string;
  tokenVersion: number;
  llmProvider: string | null;
  createdAt: number;
  lastSeenAt: number | null;
  pending: number;
}

export interface ConsoleUser {
  id: string;
  openId: string;
  name: string;
  connected: boolean;
  pending: number;
  lastSeenAt: string | null;
  /** Every token revoked and none issued since. */
  revoked: boolean;
  revocations: number;
  llmProvider: string | null;
  createdAt: string;
}

export interface OutboxStats {
  backlog: number;
  failedLastHour: number;
  lastFailure: { at: string; code: string; message: string } | null;
}

export interface PendingUser {
  id: string;
  openId: string;
  name: string;
  pending: number;
}

export interface ConsoleStats {
  /**
   * The first USERS_SHOWN users matching `query` ('' matches everyone: id, open_id or a part of the
   * name), with `revoked` false: revocation marks live in kv (users/revocations.ts), the caller adds them.
   */
  users(query: string, isConnected: (userId: number) => boolean): Promise<ConsoleUser[]>;
  outbox(now: number): Promise<OutboxStats>;
  /** The PENDING_USERS_SHOWN users with the most messages waiting. */
  pendingByUser(): Promise<PendingUser[]>;
}

export function createConsoleStats(storage: Storage): ConsoleStats {
  return storage.dialect === "sqlite"
    ? new SqliteConsoleStats(storage.db)
    : new storage.adapters.PostgresConsoleStats(storage.db);
}

export function consoleUser(r: UserRow, isConnected: (userId: number) => boolean): ConsoleUser {
  return {
    id: String(r.id),
    openId: r.openId,
    name: r.name,
    connected: isConnected(r.id),
    pending: r.pending,
    lastSeenAt: isoOrNull(r.lastSeenAt),
    revoked: false,
    revocations: r.tokenVersion - 1,
    llmProvider: r.llmProvider,
    createdAt: new Date(r.createdAt).toISOString(),
  };
}

export function lastFailure(last: { at: number; code: string | null; message: string | null } | undefined) {
  return last
    ? { at: new Date(last.at).toISOString(), code: last.code ?? "send_failed", message: last.message ?? "" }
    : null;
}

/** Failures counted on the overview: the last hour. */
export const FAILED_WINDOW_MS = 60 * 60_000;

export class SqliteConsoleStats implements ConsoleStats {
  readonly #users;
  readonly #backlog;
  readonly #failed;
  readonly #lastFailure;
  readonly #pendingUsers;

  constructor(db: Db) {
    const c = db.$client;
    // `?1` is the search text ('' matches everyone): id, open_id or a part of the name.
    this.#users = c.query<UserRow, [string, number]>(
      `SELECT u.id, u.open_id AS openId, u.name, u.token_version AS tokenVersion,
         u.llm_provider AS llmProvider, u.created_at AS createdAt, u.last_seen_at AS lastSeenAt,
         ${PENDING} AS pending
       FROM users u
       WHERE ?1 = '' OR CAST(u.id AS TEXT) = ?1 OR u.open_id = ?1
         OR instr(lower(u.name), lower(?1)) > 0
       ORDER BY u.id LIMIT ?2`,
    );
    this.#backlog = c.query<{ n: number }, []>(
      "SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'sending')",
    );
    this.#failed = c.query<{ n: number }, [number]>(
      "SELECT count(*) AS n FROM outbox WHERE status = 'failed' AND updated_at > ?",
    );
    this.#lastFailure = c.query<{ at: number; code: string | null; message: string | null }, []>(
      `SELECT updated_at AS at, last_error_code AS code, last_error AS message FROM outbox
       WHERE status = 'failed' ORDER BY updated_at DESC LIMIT 1`,
    );
    this.#pendingUsers = c.query<{ id: number; openId: string; name: string; pending: number }, [number]>(
      `SELECT * FROM (SELECT u.id, u.open_id AS openId, u.name, ${PENDING} AS pending FROM users u)
       WHERE pending > 0 ORDER BY pending DESC, id LIMIT ?`,
    );
  }

  async users(query: string, isConnected: (userId: number) => boolean) {
    return this.#users.all(query.trim(), USERS_SHOWN).map((r) => consoleUser(r, isConnected));
  }

  async outbox(now: number) {
    return {
      backlog: this.#backlog.get()?.n ?? 0,
      failedLastHour: this.#failed.get(now - FAILED_WINDOW_MS)?.n ?? 0,
      lastFailure: lastFailure(this.#lastFailure.get() ?? undefined),
    };
  }

  async pendingByUser() {
    return this.#pendingUsers.all(PENDING_USERS_SHOWN).map((r) => ({ ...r, id: String(r.id) }));
  }
}
