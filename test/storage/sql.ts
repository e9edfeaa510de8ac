/**
 * Raw SQL against a test relay's database, whichever the dialect, for tests that check what was
 * written: `?` placeholders become `$n` on PostgreSQL, bigint results become numbers. Keep the SQL
 * portable (e.g. `CAST(count(*) AS INTEGER)`); SQLite-only checks (PRAGMA, the database files) use
 * `sqliteOnly` to skip on PostgreSQL.
 */
import { test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Storage } from "../../src/storage/storage.ts";
import { RELAY_TEST_DIALECT } from "./databases.ts";

type Row = Record<string, unknown>;

const toNumbers = (row: Row): Row =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v]));

export async function sqlAll<T = Row>(storage: Storage, query: string, params: unknown[] = []): Promise<T[]> {
  if (storage.dialect === "sqlite") {
    return storage.db.$client.query(query).all(...(params as never[])) as T[];
  }
  let n = 0;
  const pg = query.replace(/\?/g, () => `$${++n}`);
  const rows = (await storage.db.$client.unsafe(pg, params as never[])) as Row[];
  return rows.map(toNumbers) as T[];
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
  const tables = await sqlAll<{ name: string }>(
    storage,
    "SELECT tablename AS name FROM pg_tables WHERE schemaname IN ('public', 'drizzle')",
  );
  let text = "";
  for (const { name } of tables) {
    const rows = await storage.db.$client.unsafe(`SELECT row_to_json(t)::text AS j FROM "${name}" t`);
    for (const r of rows as Array<{ j: string }>) text += `${r.j}\n`;
  }
  return text;
}
