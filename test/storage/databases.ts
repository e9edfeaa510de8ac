/**
 * Databases for tests, per dialect: a fresh SQLite file, or a fresh PostgreSQL database cloned from a
 * migrated template (CREATE DATABASE … TEMPLATE takes ~20 ms on loopback). PostgreSQL tests run when
 * a server answers at TEST_POSTGRES_URL (default postgres://root@127.0.0.1:5432/postgres) and are
 * skipped otherwise; `.ci/run` makes sure one answers.
 */
import { describe } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { migratePostgres, openPostgres } from "../../src/db/postgres.ts";
import { closeStorage, openStorage, type Storage } from "../../src/storage/storage.ts";

export type Dialect = Storage["dialect"];

export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? "postgres://root@127.0.0.1:5432/postgres";

/** `RELAY_TEST_DATABASE=postgres` runs the relay-level suites (testRelay) on PostgreSQL. */
export const RELAY_TEST_DIALECT: Dialect =
  process.env.RELAY_TEST_DATABASE === "postgres" ? "postgres" : "sqlite";

let reachable: Promise<boolean> | undefined;
export function postgresReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const sql = new SQL(POSTGRES_ADMIN_URL, { max: 1, connectionTimeout: 2 });
    try {
      await sql`SELECT 1`;
      return true;
    } catch {
      return false;
    } finally {
      await sql.close().catch(() => {});
    }
  })();
  return reachable;
}

const urlFor = (database: string) => {
  const u = new URL(POSTGRES_ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
};

let admin: SQL | undefined;
let template: Promise<string> | undefined;
const adminSql = () => (admin ??= new SQL(POSTGRES_ADMIN_URL, { max: 2 }));

/** One migrated template per test process; each fresh database is a copy of it. */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const name = `relay_tpl_${process.pid}_${randomBytes(3).toString("hex")}`;
    await adminSql().unsafe(`CREATE DATABASE ${name}`);
    const db = openPostgres(urlFor(name), { max: 1 });
    await migratePostgres(db);
    await db.$client.close();
    process.once("beforeExit", () => {
      void adminSql().unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    });
    return name;
  })();
  return template;
}

/** A new, migrated, empty PostgreSQL database; its URL and a drop. */
export async function freshPostgresUrl(): Promise<{ url: string; drop: () => Promise<void> }> {
  const tpl = await migratedTemplate();
  const name = `relay_t_${process.pid}_${randomBytes(5).toString("hex")}`;
  await adminSql().unsafe(`CREATE DATABASE ${name} TEMPLATE ${tpl}`);
  return {
    url: urlFor(name),
    drop: async () => {
      await adminSql().unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/**
 * The database part of a test relay's raw config: DATABASE_PATH in `dir` (SQLite), or a fresh
 * PostgreSQL database under RELAY_TEST_DATABASE=postgres; `drop` removes the latter.
 */
export async function testDatabase(
  dir: string,
): Promise<{ raw: Record<string, string>; drop: () => Promise<void> }> {
  if (RELAY_TEST_DIALECT === "sqlite")
    return { raw: { DATABASE_PATH: join(dir, "relay.db") }, drop: async () => {} };
  const { url, drop } = await freshPostgresUrl();
  // DATABASE_PATH still places the node's own files (uploaded media) in the test's folder.
  return { raw: { DATABASE_URL: url, DATABASE_PATH: join(dir, "relay.db") }, drop };
}

/** A fresh, migrated database of the dialect, opened; `close` closes and removes it. */
export async function freshStorage(
  dialect: Dialect,
): Promise<{ storage: Storage; close: () => Promise<void> }> {
  if (dialect === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "relay-store-"));
    const cleanup = () => rmSync(dir, { recursive: true, force: true });
    const storage = await openStorage({ DATABASE_PATH: join(dir, "relay.db") });
    return {
      storage,
      close: async () => {
        await closeStorage(storage);
        cleanup();
      },
    };
  }
  const { url, drop } = await freshPostgresUrl();
  const storage = await openStorage({ DATABASE_URL: url });
  return {
    storage,
    close: async () => {
      await closeStorage(storage);
      await drop();
    },
  };
}

const pgUp = await postgresReachable();

/**
 * Runs the same contract tests against each adapter: `describe("<name> [sqlite]")` and
 * `describe("<name> [postgres]")`, the latter skipped (with its name saying why) when no server answers.
 */
export function eachDialect(name: string, body: (dialect: Dialect) => void): void {
  describe(`${name} [sqlite]`, () => body("sqlite"));
  if (pgUp) describe(`${name} [postgres]`, () => body("postgres"));
  else describe.skip(`${name} [postgres] (no PostgreSQL at ${POSTGRES_ADMIN_URL})`, () => body("postgres"));
}

/**
 * `n` "nodes" of one cluster: `n` storages opened on one fresh PostgreSQL database (each its own
 * pool, as separate processes would have); `close` closes them all and drops the database.
 */
export async function postgresNodes(n: number): Promise<{ storages: Storage[]; close: () => Promise<void> }> {
  const { url, drop } = await freshPostgresUrl();
  const storages: Storage[] = [];
  for (let i = 0; i < n; i++) storages.push(await openStorage({ DATABASE_URL: url }));
  return {
    storages,
    close: async () => {
      for (const s of storages) await closeStorage(s);
      await drop();
    },
  };
}
