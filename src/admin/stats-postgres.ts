/** The console's read-only queries on PostgreSQL (cluster mode): Drizzle over pg-schema.ts. */
import { and, asc, count, desc, eq, gt, inArray, or, type SQL, sql } from "drizzle-orm";
import { inbox, outbox, users } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import {
  type ConsoleStats,
  consoleUser,
  FAILED_WINDOW_MS,
  lastFailure,
  PENDING_USERS_SHOWN,
  USERS_SHOWN,
} from "./stats.ts";

export class PostgresConsoleStats implements ConsoleStats {
  constructor(private readonly db: PgDb) {}

  /** Inbox rows past the user's cumulative ack (the same rule as the users port). */
  #pending() {
    return sql<number>`${this.db.$count(inbox, and(eq(inbox.userId, users.id), gt(inbox.seq, users.ackedSeq)))}`.mapWith(
      Number,
    );
  }

  async users(query: string, isConnected: (userId: number) => boolean) {
    const q = query.trim();
    // strpos, not LIKE: a name search for "50%" or "a_b" means those characters.
    const match: SQL | undefined = q
      ? or(
          eq(sql`${users.id}::text`, q),
          eq(users.openId, q),
          sql`strpos(lower(${users.name}), lower(${q})) > 0`,
        )
      : undefined;
    const rows = await this.db
      .select({
        id: users.id,
        openId: users.openId,
        name: users.name,
        tokenVersion: users.tokenVersion,
        llmProvider: users.llmProvider,
        createdAt: users.createdAt,
        lastSeenAt: users.lastSeenAt,
        pending: this.#pending(),
      })
      .from(users)
      .where(match)
      .orderBy(asc(users.id))
      .limit(USERS_SHOWN);
    return rows.map((r) => consoleUser(r, isConnected));
  }

  async outbox(now: number) {
    const [[backlog], [failed], [last]] = await Promise.all([
      this.db
        .select({ n: count() })
        .from(outbox)
        .where(inArray(outbox.status, ["pending", "sending"])),
      this.db
        .select({ n: count() })
        .from(outbox)
        .where(and(eq(outbox.status, "failed"), gt(outbox.updatedAt, now - FAILED_WINDOW_MS))),
      this.db
        .select({ at: outbox.updatedAt, code: outbox.lastErrorCode, message: outbox.lastError })
        .from(outbox)
        .where(eq(outbox.status, "failed"))
        .orderBy(desc(outbox.updatedAt))
        .limit(1),
    ]);
    return {
      backlog: backlog?.n ?? 0,
      failedLastHour: failed?.n ?? 0,
      lastFailure: lastFailure(last),
    };
  }

  async pendingByUser() {
    const counted = this.db
      .select({
        id: users.id,
        openId: users.openId,
        name: users.name,
        pending: this.#pending().as("pending"),
      })
      .from(users)
      .as("counted");
    const rows = await this.db
      .select()
      .from(counted)
      .where(gt(counted.pending, 0))
      .orderBy(desc(counted.pending), asc(counted.id))
      .limit(PENDING_USERS_SHOWN);
    return rows.map((r) => ({ ...r, id: String(r.id) }));
  }
}
