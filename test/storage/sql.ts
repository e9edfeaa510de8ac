/**
 * Raw SQL against a test relay's database, whichever the dialect, for tests that check what was
 * written: `?` placeholders become `$n` on PostgreSQL, and rows are read through JSON there so
 * bigint columns are numbers, as on SQLite. Keep the SQL
 * portable (e.g. `CAST(count(*) AS INTEGER)`); SQLite-only checks (PRAGMA, the database files) use
 * `sqliteOnly` to skip on PostgreSQL.
 */
import { test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Storage } from "../../src/storage/storage.ts";
import { RELAY_TEST_DIALECT } from "./databases.ts";

type Row = Record<string, unknown>;

export async function sqlAll<T = Row>(storage: Storage, query: string, params: unknown[] = []): Promise<T[]> {
  if (storage.dialect === "sqlite") {
    return storage.db.$client.query(query).all(...(params as never[])) as T[];
  }
  let n = 0;
  const pg = query.replace(/\?/g, () => `$${++n}`);
  if (!/^\s*(SELECT|WITH)\b/i.test(pg)) {
    return (await storage.db.$client.unsafe(pg, params as never[])) as T[];
  }
  // Through JSON, bigint columns (times in ms) come back as numbers, as SQLite gives them.
  const rows = (await storage.db.$client.unsafe(
    `SELECT row_to_json(q)::text AS j FROM (${pg}) q`,
    params as never[],
  )) as Array<{ j: string }>;
  return rows.map((r) => JSON.parse(r.j) as T);
}

export async function sqlGet<T = Row>(
  storage: Storage,
  query: string,
  params: unknown[] = [],
): Promise<T | undefined> {
  return (await sqlAll<T>(storage, query, params))[0];
}

export async function sqlRun(storage: Storage, query: string, params: unknown[] = []): Promise<void> {
  await sqlAll(storage, query, params);
}

/** A test that only means something on SQLite (PRAGMAs, WAL files); skipped in the PostgreSQL pass. */
export const sqliteOnly = test.skipIf(RELAY_TEST_DIALECT !== "sqlite");

/**
 * Everything the database holds, as text, to prove a secret is not stored: SQLite's files (after a
 * checkpoint, WAL included), or every row of every table on PostgreSQL.
 */
export async function databaseText(storage: Storage): Promise<string> {
  if (storage.dialect === "sqlite") {
    storage.db.$client.exec("PRAGMA wal_checkpoint(FULL)");
    let text = "";
    for (const file of [storage.path, `${storage.path}-wal`]) {
      try {
        text += readFileSync(file).toString("latin1");
      } catch {
        // no WAL file after a full checkpoint
      }
    }
    return text;
  }
  const tables = await sqlAll<{ schema: string; name: string }>(
    storage,
    "SELECT schemaname AS schema, tablename AS name FROM pg_tables WHERE schemaname IN ('public', 'drizzle')",
  );
  let text = "";
  for (const { schema, name } of tables) {
    const rows = await storage.db.$client.unsafe(
      `SELECT row_to_json(t)::text AS j FROM "${schema}"."${name}" t`,
    );
    for (const r of rows as Array<{ j: string }>) text += `${r.j}\n`;
  }
  return text;
}
