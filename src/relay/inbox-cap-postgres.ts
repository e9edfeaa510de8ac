/**
 * The per-user offline cap on PostgreSQL (its rules: inbox-cap.ts), inside the commit's savepoint. The
 * unacked byte total is summed from the table unless this node's own last view of the user is still
 * exact: the user's last seq and ack are what this node last wrote, i.e. no other node stored or acked
 * for them since (an offline user's commits then cost no sum over their whole backlog). A rewrite by
 * another node (context only grows a payload) can only make the figure low, never drop too much.
 */
import { and, asc, desc, eq, gt, inArray, lte, sql } from "drizzle-orm";
import { inbox, seenEvents, users } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import type { CapLimits, Trimmed } from "./inbox-cap.ts";

export type Tx = Parameters<Parameters<PgDb["transaction"]>[0]>[0];
type Q = PgDb | Tx;

/** One user's part of a commit, as the cap sees it. */
export interface CapPart {
  userId: number;
  acked: number;
  /** The user's last seq after the inserts. */
  last: number;
  /** How many seqs this commit took. */
  taken: number;
  /** Payload bytes this commit added. */
  added: number;
}

/** A user's unacked payload bytes as of one commit, valid while nobody else wrote for them. */
export interface CachedBytes {
  acked: number;
  last: number;
  bytes: number;
}

export class PostgresCap {
  readonly #limits: CapLimits;
  readonly #bytes = new Map<number, CachedBytes>();

  constructor(limits: CapLimits) {
    this.#limits = limits;
  }

  /**
   * After a commit's inserts, for each user part (seqs up to `last`, `taken` of them, `added` payload
   * bytes): drops the oldest unacked messages beyond either limit. The byte totals this node cannot
   * trust are summed in one query for all those users. `views` collects this commit's totals, for
   * `committed` once COMMIT returned. Returns what was dropped, per user.
   */
  async enforce(sp: Tx, parts: CapPart[], now: number, views: Map<number, CachedBytes>) {
    const bytes = new Map<number, number>();
    const unknown: number[] = [];
    for (const p of parts) {
      // Trusted only if nobody stored or acked for this user since this node's last write.
      const mine = views.get(p.userId) ?? this.#bytes.get(p.userId);
      if (mine && mine.acked === p.acked && mine.last === p.last - p.taken)
        bytes.set(p.userId, mine.bytes + p.added);
      else unknown.push(p.userId);
    }
    if (unknown.length > 0) {
      const sums = await sp
        .select({
          userId: inbox.userId,
          n: sql<number>`coalesce(sum(octet_length(${inbox.payload})), 0)`.mapWith(Number),
        })
        .from(inbox)
        .innerJoin(users, eq(users.id, inbox.userId))
        .where(and(inArray(inbox.userId, unknown), gt(inbox.seq, users.ackedSeq)))
        .groupBy(inbox.userId);
      for (const userId of unknown) bytes.set(userId, 0);
      for (const row of sums) bytes.set(row.userId, row.n);
    }
    const trimmed = new Map<number, Trimmed>();
    for (const p of parts) {
      const t = await this.#trim(sp, p, bytes.get(p.userId)!, now, views);
      if (t) trimmed.set(p.userId, t);
    }
    return trimmed;
  }

  async #trim(
    sp: Tx,
    { userId, acked, last }: CapPart,
    bytes: number,
    now: number,
    views: Map<number, CachedBytes>,
  ): Promise<Trimmed | undefined> {
    const { maxPending, maxPendingBytes } = this.#limits;
    let upTo = Math.max(acked, last - maxPending);
    if (bytes > maxPendingBytes)
      upTo = Math.max(upTo, await bytesCut(sp, userId, acked, bytes - maxPendingBytes));
    upTo = Math.min(upTo, last - 1);
    if (upTo <= acked) {
      views.set(userId, { acked, last, bytes });
      return undefined;
    }
    const range = and(eq(inbox.userId, userId), gt(inbox.seq, acked), lte(inbox.seq, upTo));
    const [oldest] = await sp
      .select({ at: inbox.receivedAt })
      .from(inbox)
      .where(and(eq(inbox.userId, userId), gt(inbox.seq, acked)))
      .orderBy(asc(inbox.seq))
      .limit(1);
    const freed = await sum(sp, userId, acked, upTo);
    // The dropped messages keep a dedupe mark so that a re-push does not bring them back.
    await sp
      .insert(seenEvents)
      .select(
        sp
          .select({
            key: sql<string>`'m:' || ${inbox.messageId}`.as("key"),
            seenAt: sql<number>`${now}::bigint`.as("seen_at"),
          })
          .from(inbox)
          .where(range),
      )
      .onConflictDoNothing();
    const dropped = await sp.delete(inbox).where(range).returning({ seq: inbox.seq });
    views.set(userId, { acked, last, bytes: bytes - freed });
    return dropped.length > 0 ? { dropped: dropped.length, oldestReceivedAt: oldest?.at ?? now } : undefined;
  }

  /** This commit's views, once its COMMIT returned (a rolled-back commit's are never kept). */
  committed(views: Map<number, CachedBytes>): void {
    for (const [userId, v] of views) this.#bytes.set(userId, v);
  }

  /** The user's payloads changed size (a rewrite): summed again on the next commit. */
  forget(userId: number): void {
    this.#bytes.delete(userId);
  }
}

async function sum(q: Q, userId: number, after: number, upTo: number): Promise<number> {
  const [row] = await q
    .select({ n: sql<number>`coalesce(sum(octet_length(${inbox.payload})), 0)`.mapWith(Number) })
    .from(inbox)
    .where(and(eq(inbox.userId, userId), gt(inbox.seq, after), lte(inbox.seq, upTo)));
  return row?.n ?? 0;
}

/** The highest seq that must go so that at least `excess` bytes are freed, oldest first. */
async function bytesCut(q: Q, userId: number, acked: number, excess: number): Promise<number> {
  const running = q
    .select({
      seq: inbox.seq,
      upTo: sql<number>`sum(octet_length(${inbox.payload})) over (order by ${inbox.seq})`.as("up_to"),
    })
    .from(inbox)
    .where(and(eq(inbox.userId, userId), gt(inbox.seq, acked)))
    .as("running");
  const [row] = await q
    .select({ seq: running.seq })
    .from(running)
    .where(sql`${running.upTo} >= ${excess}`)
    .orderBy(asc(running.seq))
    .limit(1);
  if (row) return row.seq;
  const [lastRow] = await q
    .select({ seq: inbox.seq })
    .from(inbox)
    .where(eq(inbox.userId, userId))
    .orderBy(desc(inbox.seq))
    .limit(1);
  return lastRow?.seq ?? acked;
}
