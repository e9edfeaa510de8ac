/**
 * The outbox's PostgreSQL adapter (cluster mode): any node may send. A node claims due rows with
 * `SELECT … FOR UPDATE SKIP LOCKED` in a transaction that marks them `sending`, `claimed_by` = the
 * node, `lease_until` = now + lease, so concurrent scans on other nodes skip them and each send runs
 * once. A claim whose lease ran out (its node died) is due again. Results are written only while
 * the row is still the writer's claim, so a node that comes back late cannot overwrite the retaker.
 */
import { and, count, eq, inArray, lte, or, sql } from "drizzle-orm";
import { outbox } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import type { NewSend, OutboxStore, Row } from "./outbox-store.ts";

const COLS = {
  id: outbox.id,
  userId: outbox.userId,
  uuid: outbox.uuid,
  request: outbox.request,
  status: outbox.status,
  attempts: outbox.attempts,
  deadlineAt: outbox.deadlineAt,
  nextAttemptAt: outbox.nextAttemptAt,
  messageIds: outbox.messageIds,
  lastErrorCode: outbox.lastErrorCode,
  lastError: outbox.lastError,
  mediaKey: outbox.mediaKey,
};

const QUEUED = inArray(outbox.status, ["pending", "sending"]);
const FINAL = inArray(outbox.status, ["sent", "failed"]);
const byId = (a: Row, b: Row) => a.id - b.id;

export class PostgresOutboxStore implements OutboxStore {
  readonly shared = true;

  constructor(
    private readonly db: PgDb,
    private readonly nodeId: string,
    private readonly leaseMs: number,
  ) {}

  /** Due: pending and its time has come, or sending under a claim whose lease ran out. */
  #due(now: number) {
    return or(
      and(eq(outbox.status, "pending"), lte(outbox.nextAttemptAt, now)),
      and(eq(outbox.status, "sending"), lte(outbox.leaseUntil, now)),
    );
  }

  /** The row is still this node's claim: the condition of every result write. */
  #mine(id: number) {
    return and(eq(outbox.id, id), eq(outbox.status, "sending"), eq(outbox.claimedBy, this.nodeId));
  }

  async byUuid(userId: number, uuid: string) {
    const [row] = await this.db
      .select(COLS)
      .from(outbox)
      .where(and(eq(outbox.userId, userId), eq(outbox.uuid, uuid)));
    return row;
  }

  async insert(s: NewSend) {
    const claimed = s.status === "sending";
    const [row] = await this.db
      .insert(outbox)
      .values({
        userId: s.userId,
        uuid: s.uuid,
        request: s.request,
        status: s.status,
        nextAttemptAt: s.now,
        deadlineAt: s.deadlineAt,
        createdAt: s.now,
        updatedAt: s.now,
        mediaId: s.mediaId,
        claimedBy: claimed ? this.nodeId : null,
        leaseUntil: claimed ? s.now + this.leaseMs : null,
      })
      .onConflictDoNothing({ target: [outbox.userId, outbox.uuid] })
      .returning(COLS);
    return row;
  }

  async recordMediaKey(id: number, key: string) {
    const rows = await this.db
      .update(outbox)
      .set({ mediaKey: key })
      .where(this.#mine(id))
      .returning({ id: outbox.id });
    return rows.length > 0;
  }

  async claimDue(userId: number, now: number, limit: number) {
    const rows = await this.db.transaction(async (tx) => {
      // Oldest first; rows another node is claiming right now are skipped, not waited for.
      const due = await tx
        .select({ id: outbox.id })
        .from(outbox)
        .where(and(eq(outbox.userId, userId), this.#due(now)))
        .orderBy(outbox.id)
        .limit(limit)
        .for("update", { skipLocked: true });
      if (due.length === 0) return [];
      return tx
        .update(outbox)
        .set({ status: "sending", claimedBy: this.nodeId, leaseUntil: now + this.leaseMs, updatedAt: now })
        .where(
          inArray(
            outbox.id,
            due.map((r) => r.id),
          ),
        )
        .returning(COLS);
    });
    return rows.sort(byId);
  }

  async dueUsers(now: number) {
    const rows = await this.db.selectDistinct({ userId: outbox.userId }).from(outbox).where(this.#due(now));
    return rows.map((r) => r.userId);
  }

  async queuedOf(userId: number) {
    const [row] = await this.db
      .select({
        n: count(),
        // CASE has no builder form; the earliest retry among the user's pending sends.
        next: sql<
          number | null
        >`min(CASE WHEN ${outbox.status} = 'pending' THEN ${outbox.nextAttemptAt} END)`.mapWith((v) =>
          v === null ? null : Number(v),
        ),
      })
      .from(outbox)
      .where(and(eq(outbox.userId, userId), QUEUED));
    return { n: row?.n ?? 0, next: row?.next ?? null };
  }

  async sent(id: number, messageIds: string[], now: number) {
    return this.#finish(id, {
      status: "sent",
      messageIds: JSON.stringify(messageIds),
      updatedAt: now,
    });
  }

  async retry(id: number, nextAttemptAt: number, code: string, message: string, now: number) {
    return this.#finish(id, {
      status: "pending",
      nextAttemptAt,
      lastErrorCode: code,
      lastError: message,
      updatedAt: now,
      claimedBy: null,
    });
  }

  async failed(id: number, code: string, message: string, now: number) {
    return this.#finish(id, { status: "failed", lastErrorCode: code, lastError: message, updatedAt: now });
  }

  /** One attempt's result, written only under this node's claim; the lease ends with it. */
  async #finish(id: number, set: Partial<typeof outbox.$inferInsert>) {
    const rows = await this.db
      .update(outbox)
      .set({ ...set, attempts: sql`${outbox.attempts} + 1`, leaseUntil: null })
      .where(this.#mine(id))
      .returning({ id: outbox.id });
    return rows.length > 0;
  }

  async finals(ids: number[]) {
    if (ids.length === 0) return [];
    return this.db
      .select(COLS)
      .from(outbox)
      .where(and(inArray(outbox.id, ids), FINAL));
  }

  async recover(_now: number) {
    // Only this node's own claims (a restart under the same NODE_ID): other nodes' claims are
    // alive or will expire with their lease.
    const rows = await this.db
      .update(outbox)
      .set({ status: "pending", claimedBy: null, leaseUntil: null })
      .where(and(eq(outbox.status, "sending"), eq(outbox.claimedBy, this.nodeId)))
      .returning({ id: outbox.id });
    return rows.length;
  }

  async renew(ids: number[], now: number) {
    if (ids.length === 0) return;
    await this.db
      .update(outbox)
      .set({ leaseUntil: now + this.leaseMs })
      .where(and(inArray(outbox.id, ids), eq(outbox.status, "sending"), eq(outbox.claimedBy, this.nodeId)));
  }

  async depth() {
    const [row] = await this.db.select({ n: count() }).from(outbox).where(QUEUED);
    return row?.n ?? 0;
  }

  async prune(before: number) {
    const rows = await this.db
      .delete(outbox)
      .where(and(FINAL, lte(outbox.updatedAt, before)))
      .returning({ id: outbox.id });
    return rows.length;
  }
}
