/**
 * Cluster mode's database (DATABASE_URL=postgres://…): Bun's built-in PostgreSQL client with Drizzle's
 * bun-sql driver, and the embedded PostgreSQL migrations. Every relay process of a cluster opens
 * one; migrations run under an advisory lock, so nodes starting together migrate once.
 *
 * Loaded only in cluster mode (a dynamic import where DATABASE_URL is set): Bun's SQL client and
 * Drizzle's driver for it cost a SQLite relay a few MB of idle memory for nothing.
 */
import { SQL } from "bun";
import { type BunSQLDatabase, drizzle } from "drizzle-orm/bun-sql";
import { POSTGRES_MIGRATIONS } from "./migrations.generated.ts";
import { embeddedMigrations } from "./open.ts";
import { ADVISORY_LOCKS } from "./pg-locks.ts";
import * as schema from "./pg-schema.ts";

export type PgDb = BunSQLDatabase<typeof schema> & { $client: SQL };

export interface PgOptions {
  /** Connections in this process's pool. */
  max?: number;
}

export function openPostgres(url: string, opts: PgOptions = {}): PgDb {
  // onnotice off: PostgreSQL's NOTICEs ("relation already exists, skipping") are not our log lines.
  const client = new SQL(url, { max: opts.max ?? 10, idleTimeout: 30, connectionTimeout: 10 });
  return drizzle({ client, schema }) as PgDb;
}

/** Applies pending PostgreSQL migrations once for the whole cluster; returns how many ran. */
export async function migratePostgres(db: PgDb): Promise<number> {
  const conn = await db.$client.reserve();
  try {
    await conn`SELECT pg_advisory_lock(${ADVISORY_LOCKS.migrate.toString()}::bigint)`;
    try {
      const locked = drizzle({ client: conn as unknown as SQL, schema });
      const count = async () => {
        const [row] = await conn`SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS present`;
        if (!row?.present) return 0;
        const [n] = await conn`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
        return Number(n?.n ?? 0);
      };
      const before = await count();
      // biome-ignore lint/suspicious/noExplicitAny: dialect/session are drizzle internals its own migrator uses
      const internal = locked as any;
      await internal.dialect.migrate(embeddedMigrations(POSTGRES_MIGRATIONS), internal.session, {});
      return (await count()) - before;
    } finally {
      await conn`SELECT pg_advisory_unlock(${ADVISORY_LOCKS.migrate.toString()}::bigint)`;
    }
  } finally {
    conn.release();
  }
}
