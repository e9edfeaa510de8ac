/** The `media` table's port on PostgreSQL (cluster mode): the quota check holds the user's row lock. */
import { and, count, eq, exists, inArray, lte, not, or, sql } from "drizzle-orm";
import { media, outbox, users } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import type { MediaRecord, MediaRecords } from "./media-records.ts";

const COLS = {
  id: media.id,
  userId: media.userId,
  size: media.size,
  mime: media.mime,
  name: media.name,
  sha256: media.sha256,
  createdAt: media.createdAt,
  expiresAt: media.expiresAt,
};

// The builder has no coalesce(sum(…)): bigint sums come back as text, hence the mapping.
const storedBytes = sql<number>`coalesce(sum(${media.size}), 0)`.mapWith(Number);

export class PostgresMediaRecords implements MediaRecords {
  readonly shared = true;

  constructor(private readonly db: PgDb) {}

  /** Sends that name the media and may still need it (`statuses`), as a correlated subquery. */
  #sendsOf(statuses: Array<"pending" | "sending" | "sent">) {
    return exists(
      this.db
        .select({ one: sql`1` })
        .from(outbox)
        .where(and(eq(outbox.mediaId, media.id), inArray(outbox.status, statuses))),
    );
  }

  async byId(id: string) {
    const [row] = await this.db.select(COLS).from(media).where(eq(media.id, id));
    return row;
  }
  async totals() {
    const [row] = await this.db.select({ files: count(), bytes: storedBytes }).from(media);
    return row ?? { files: 0, bytes: 0 };
  }
  async usage(userId: number) {
    const [row] = await this.db.select({ n: storedBytes }).from(media).where(eq(media.userId, userId));
    return row?.n ?? 0;
  }
  async insertWithinQuota(r: MediaRecord, quotaBytes: number) {
    return this.db.transaction(async (tx) => {
      // The user's row lock serialises this user's uploads across nodes while the sum is checked.
      await tx.select({ id: users.id }).from(users).where(eq(users.id, r.userId)).for("update");
      const [row] = await tx.select({ n: storedBytes }).from(media).where(eq(media.userId, r.userId));
      if ((row?.n ?? 0) + r.size > quotaBytes) return false;
      await tx.insert(media).values(r);
      return true;
    });
  }
  async pinned(id: string) {
    const rows = await this.db
      .select({ id: media.id })
      .from(media)
      .where(and(eq(media.id, id), this.#sendsOf(["pending", "sending"])));
    return rows.length > 0;
  }
  async sweepable(now: number) {
    const rows = await this.db
      .select({ id: media.id })
      .from(media)
      .where(
        and(
          not(this.#sendsOf(["pending", "sending"])),
          or(lte(media.expiresAt, now), this.#sendsOf(["sent"])),
        ),
      );
    return rows.map((r) => r.id);
  }
  async remove(id: string) {
    await this.db.delete(media).where(eq(media.id, id));
  }
}
