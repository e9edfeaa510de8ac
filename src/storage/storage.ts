/**
 * The open database, whichever kind the config chose: SQLite (default, one process) or PostgreSQL
 * (DATABASE_URL, cluster mode). Only store adapters look inside; everything else talks to ports.
 */
import { type Db, migrate, openDatabase } from "../db/open.ts";
import type { PgDb } from "../db/postgres.ts";
import type { Logger } from "../ops/logger.ts";
import type { PostgresAdapters } from "./postgres-adapters.ts";

export type Storage =
  | { readonly dialect: "sqlite"; readonly db: Db; readonly path: string }
  | {
      readonly dialect: "postgres";
      readonly db: PgDb;
      readonly url: string;
      /** The PostgreSQL store classes, loaded with the client (postgres-adapters.ts). */
      readonly adapters: PostgresAdapters;
    };

export type SqliteStorage = Extract<Storage, { dialect: "sqlite" }>;
export type PostgresStorage = Extract<Storage, { dialect: "postgres" }>;

/** What a port method returns where a measured SQLite hot path stays synchronous. */
export type Awaitable<T> = T | Promise<T>;

export const DEFAULT_DATABASE_PATH = "./data/relay.db";

/** Opens and migrates the database DATABASE_URL (cluster) or DATABASE_PATH names. */
export async function openStorage(
  raw: { DATABASE_URL?: string; DATABASE_PATH?: string },
  opts: { log?: Logger } = {},
): Promise<Storage> {
  if (raw.DATABASE_URL) {
    // Imported here, not at the top: a SQLite relay never loads the PostgreSQL client (postgres.ts)
    // nor any PostgreSQL adapter.
    const [{ migratePostgres, openPostgres }, { postgresAdapters }] = await Promise.all([
      import("../db/postgres.ts"),
      import("./postgres-adapters.ts"),
    ]);
    const db = openPostgres(raw.DATABASE_URL);
    try {
      await migratePostgres(db);
    } catch (err) {
      await db.$client.close();
      throw err;
    }
    return { dialect: "postgres", db, url: raw.DATABASE_URL, adapters: postgresAdapters };
  }
  const path = raw.DATABASE_PATH || DEFAULT_DATABASE_PATH;
  const db = openDatabase(path, opts);
  migrate(db);
  return { dialect: "sqlite", db, path };
}

export async function closeStorage(storage: Storage): Promise<void> {
  if (storage.dialect === "sqlite") storage.db.$client.close();
  else await storage.db.$client.close({ timeout: 5 });
}

/** `SELECT 1` against the database, for /health. */
export async function pingStorage(storage: Storage): Promise<boolean> {
  try {
    if (storage.dialect === "sqlite") {
      return (storage.db.$client.query("SELECT 1 AS one").get() as { one: number } | null)?.one === 1;
    }
    const [row] = await storage.db.$client`SELECT 1 AS one`;
    return row?.one === 1;
  } catch {
    return false;
  }
}
