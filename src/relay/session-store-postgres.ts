/** The `SessionStore` port on PostgreSQL (cluster mode): each node closes its own sessions. */
import { and, eq, gt, isNull, notExists, or, sql } from "drizzle-orm";
import { nodes, sessions, users } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import { type CloseScope, NODE_GONE_MS, type SessionStore, type SessionWrite } from "./session-store.ts";

export class PostgresSessionStore implements SessionStore {
  constructor(
    private readonly db: PgDb,
    private readonly nodeId: string | null = null,
  ) {}

  async write(writes: SessionWrite[]): Promise<void> {
    const opens = writes.filter((w) => w.kind === "open");
    const closes = writes.filter((w) => w.kind === "close");
    const seen = new Map<number, number>();
    for (const w of writes) seen.set(w.userId, Math.max(seen.get(w.userId) ?? 0, w.at));
    await this.db.transaction(async (tx) => {
      // Opens before closes: a session opened and closed within one batch ends closed.
      if (opens.length > 0)
        await tx.insert(sessions).values(
          opens.map((w) => ({
            id: w.id,
            userId: w.userId,
            connectedAt: w.at,
            remoteAddress: w.remoteAddress,
            userAgent: w.userAgent,
            pluginVersion: w.pluginVersion,
            protocol: w.protocol,
            nodeId: this.nodeId,
          })),
        );
      for (const w of closes)
        await tx
          .update(sessions)
          .set({ disconnectedAt: w.at, closeCode: w.code })
          .where(and(eq(sessions.id, w.id), isNull(sessions.disconnectedAt)));
      // Ascending user id, the lock order of the inbox's commits: two transactions never deadlock.
      for (const [userId, at] of [...seen].sort((a, b) => a[0] - b[0]))
        await tx
          .update(users)
          .set({ lastSeenAt: sql`greatest(coalesce(${users.lastSeenAt}, 0), ${at}::bigint)` })
          .where(eq(users.id, userId));
    });
  }

  async closeOpen(at: number, code: number, scope: CloseScope): Promise<number> {
    const mine = this.nodeId === null ? isNull(sessions.nodeId) : eq(sessions.nodeId, this.nodeId);
    // A node that is gone: no `nodes` row seen within NODE_GONE_MS (H4's registry writes them).
    const gone = notExists(
      this.db
        .select({ id: nodes.id })
        .from(nodes)
        .where(and(eq(nodes.id, sessions.nodeId), gt(nodes.seenAt, at - NODE_GONE_MS))),
    );
    const which = scope === "own" ? mine : or(mine, isNull(sessions.nodeId), gone);
    const rows = await this.db
      .update(sessions)
      .set({ disconnectedAt: at, closeCode: code })
      .where(and(isNull(sessions.disconnectedAt), which))
      .returning({ id: sessions.id });
    return rows.length;
  }

  async openSessionUsers(): Promise<Set<number>> {
    const rows = await this.db
      .selectDistinct({ userId: sessions.userId })
      .from(sessions)
      .where(isNull(sessions.disconnectedAt));
    return new Set(rows.map((r) => r.userId));
  }
}
