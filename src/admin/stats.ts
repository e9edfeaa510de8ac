/**
 * What the console reads from the database: users with their state, the outbox's backlog and
 * failures, and who has messages waiting. Statements prepared once per database.
 */
import type { Db } from "../db/open.ts";
import { isoOrNull } from "../users/user-store.ts";

/** Inbox rows past the user's cumulative ack (the same rule as users/user-store.ts). */
const PENDING = "(SELECT count(*) FROM inbox i WHERE i.user_id = u.id AND i.seq > u.acked_seq)";
export const PENDING_USERS_SHOWN = 20;
export const USERS_SHOWN = 500;

interface UserRow {
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

export class ConsoleStats {
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

  /** `isRevoked`: every token revoked and none issued since (users/revocations.ts). */
  users(
    query: string,
    isConnected: (userId: number) => boolean,
    isRevoked: (userId: number) => boolean,
  ): ConsoleUser[] {
    return this.#users.all(query.trim(), USERS_SHOWN).map((r) => ({
      id: String(r.id),
      openId: r.openId,
      name: r.name,
      connected: isConnected(r.id),
      pending: r.pending,
      lastSeenAt: isoOrNull(r.lastSeenAt),
      revoked: isRevoked(r.id),
      revocations: r.tokenVersion - 1,
      llmProvider: r.llmProvider,
      createdAt: new Date(r.createdAt).toISOString(),
    }));
  }

  outbox(now: number): OutboxStats {
    const last = this.#lastFailure.get();
    return {
      backlog: this.#backlog.get()?.n ?? 0,
      failedLastHour: this.#failed.get(now - 60 * 60_000)?.n ?? 0,
      lastFailure: last
        ? {
            at: new Date(last.at).toISOString(),
            code: last.code ?? "send_failed",
            message: last.message ?? "",
          }
        : null,
    };
  }

  pendingByUser(): Array<{ id: string; openId: string; name: string; pending: number }> {
    return this.#pendingUsers.all(PENDING_USERS_SHOWN).map((r) => ({ ...r, id: String(r.id) }));
  }
}

const stats = new WeakMap<Db, ConsoleStats>();

export function consoleStatsOf(db: Db): ConsoleStats {
  let s = stats.get(db);
  if (!s) {
    s = new ConsoleStats(db);
    stats.set(db, s);
  }
  return s;
}
