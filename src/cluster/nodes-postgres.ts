/** The node registry's table on PostgreSQL: the cluster's nodes and where their sessions are. */
import { and, asc, eq, gte, inArray, isNull } from "drizzle-orm";
import { nodes, sessions } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import type { NodeInfo, NodeStore, UserLocation } from "./nodes.ts";

export class PostgresNodeStore implements NodeStore {
  constructor(private readonly db: PgDb) {}

  async heartbeat(node: NodeInfo): Promise<void> {
    await this.db
      .insert(nodes)
      .values(node)
      .onConflictDoUpdate({ target: nodes.id, set: { version: node.version, seenAt: node.seenAt } });
  }
  async remove(id: string): Promise<void> {
    await this.db.delete(nodes).where(eq(nodes.id, id));
  }
  async aliveSince(since: number): Promise<NodeInfo[]> {
    return this.db.select().from(nodes).where(gte(nodes.seenAt, since)).orderBy(asc(nodes.id));
  }
  async openSessions(nodeIds: string[]): Promise<UserLocation[]> {
    if (nodeIds.length === 0) return [];
    const rows = await this.db
      .selectDistinct({ userId: sessions.userId, nodeId: sessions.nodeId })
      .from(sessions)
      .where(and(isNull(sessions.disconnectedAt), inArray(sessions.nodeId, nodeIds)))
      .orderBy(asc(sessions.userId), asc(sessions.nodeId));
    return rows.map((r) => ({ userId: r.userId, nodeId: r.nodeId ?? "" }));
  }
}
