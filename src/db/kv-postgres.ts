/** The `kv` port on PostgreSQL (cluster mode). */
import { and, eq, isNotNull, lte } from "drizzle-orm";
import { type Kv, live } from "./kv.ts";
import { kv } from "./pg-schema.ts";
import type { PgDb } from "./postgres.ts";

export class PostgresKv implements Kv {
  constructor(
    private readonly db: PgDb,
    private readonly now: () => number = Date.now,
  ) {}

  async getEntry(key: string) {
    const [row] = await this.db
      .select({ value: kv.value, expiresAt: kv.expiresAt })
      .from(kv)
      .where(eq(kv.key, key));
    return live(row, this.now());
  }
  async get(key: string) {
    return (await this.getEntry(key))?.value;
  }
  async set(key: string, value: string, expiresAt: number | null = null) {
    const row = { key, value, expiresAt, updatedAt: this.now() };
    await this.db.insert(kv).values(row).onConflictDoUpdate({ target: kv.key, set: row });
  }
  async delete(key: string) {
    await this.db.delete(kv).where(eq(kv.key, key));
  }
  async take(key: string) {
    const [row] = await this.db
      .delete(kv)
      .where(eq(kv.key, key))
      .returning({ value: kv.value, expiresAt: kv.expiresAt });
    return live(row, this.now())?.value;
  }
  async setIfAbsent(key: string, value: string, expiresAt: number | null) {
    const now = this.now();
    const row = { key, value, expiresAt, updatedAt: now };
    const rows = await this.db
      .insert(kv)
      .values(row)
      .onConflictDoUpdate({
        target: kv.key,
        set: row,
        setWhere: and(isNotNull(kv.expiresAt), lte(kv.expiresAt, now)),
      })
      .returning({ key: kv.key });
    return rows.length > 0;
  }
  async pruneExpired() {
    const rows = await this.db
      .delete(kv)
      .where(and(isNotNull(kv.expiresAt), lte(kv.expiresAt, this.now())))
      .returning({ key: kv.key });
    return rows.length;
  }
}
