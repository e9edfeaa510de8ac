/** `migrate`: applies pending migrations to the database DATABASE_URL or DATABASE_PATH names, and exits. */
import type { Raw } from "../config/definition.ts";
import { DEFAULT_DATABASE_PATH } from "../config/load.ts";
import { migrate, openDatabase } from "../db/open.ts";
import { redactUrl } from "../db/redact-url.ts";

export async function runMigrate(raw: Raw): Promise<string> {
  const url = raw.DATABASE_URL;
  if (url) {
    // Cluster mode only: the PostgreSQL client is not loaded by every start of the binary.
    const { migratePostgres, openPostgres } = await import("../db/postgres.ts");
    const db = openPostgres(url, { max: 1 });
    try {
      const applied = await migratePostgres(db);
      const where = redactUrl(url);
      return applied ? `applied ${applied} migration(s) to ${where}` : `database ${where} is up to date`;
    } finally {
      await db.$client.close();
    }
  }
  const path = raw.DATABASE_PATH || DEFAULT_DATABASE_PATH;
  const db = openDatabase(path);
  try {
    const applied = migrate(db);
    return applied ? `applied ${applied} migration(s) to ${path}` : `database ${path} is up to date`;
  } finally {
    db.$client.close();
  }
}
