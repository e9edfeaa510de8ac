import type { Raw } from "../config/definition.ts";
import { migrate, openDatabase } from "../db/open.ts";

export function runMigrate(raw: Raw): string {
  const path = raw.DATABASE_PATH || "./data/relay.db";
  const db = openDatabase(path);
  try {
    const applied = migrate(db);
    return applied ? `applied ${applied} migration(s) to ${path}` : `database ${path} is up to date`;
  } finally {
    db.$client.close();
  }
}
