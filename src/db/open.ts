/**
 * Opens the SQLite database with the pragmas of DESIGN §7 and applies the embedded migrations.
 */
import { Database } from "bun:sqlite";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import { sha256Text } from "../ops/crypto.ts";
import { Logger } from "../ops/logger.ts";
import { securePaths } from "./file-modes.ts";
import { SQLITE_MIGRATIONS } from "./migrations.generated.ts";

/**
 * Drizzle over bun:sqlite without the schema: the SQLite stores run their own prepared statements and
 * the migrator needs none, so a start does not build the tables' objects (db/schema.ts stays the
 * source of the migrations and of test queries).
 */
export type Db = BunSQLiteDatabase & { $client: Database };

/** Problems go to stderr by default: CLI commands keep stdout for their answer. */
const stderrLog = () => new Logger("info", (line) => process.stderr.write(`${line}\n`));

export function openDatabase(path: string, opts: { log?: Logger } = {}): Db {
  if (path !== ":memory:") {
    const tightened = securePaths(path);
    if (tightened.length) {
      const log = opts.log ?? stderrLog();
      for (const t of tightened) {
        const event = t.to === "unchanged" ? "db_permissions_too_open" : "db_permissions_tightened";
        const hint =
          t.reason === "shared_directory"
            ? "the folder holds more than the relay's files, so it is left as it is; give DATABASE_PATH a folder of its own"
            : undefined;
        log.warn(event, {
          path: t.path,
          from: t.from,
          to: t.to,
          ...(t.reason ? { reason: t.reason } : {}),
          ...(hint ? { hint } : {}),
        });
      }
    }
  }
  const sqlite = new Database(path, { create: true, strict: true });
  // WAL + FULL: power-loss safe; throughput comes from group commit on the hot path (bench-limit).
  sqlite.exec("PRAGMA journal_mode = WAL");
  sqlite.exec("PRAGMA synchronous = FULL");
  sqlite.exec("PRAGMA busy_timeout = 5000");
  sqlite.exec("PRAGMA foreign_keys = ON");
  // The inbox commit gives each user's part a savepoint; its statement journal (the original of every
  // page first touched inside it, one per random message_id index page) went to a temp file: a write
  // syscall per page, ~6 µs per stored message. In memory it is a few KB per batch.
  sqlite.exec("PRAGMA temp_store = MEMORY");
  // After a busy spell the WAL is cut back to this size once it is reset, instead of staying large.
  sqlite.exec("PRAGMA journal_size_limit = 67108864");
  return drizzle(sqlite) as Db;
}

/**
 * The database's file when it runs in WAL mode (its `-wal` file sits beside it); undefined for
 * `:memory:` or any other journal mode. What the WAL sync and the checkpoint worker work on.
 */
export function walDatabaseFile(sqlite: Database): string | undefined {
  const mode = sqlite.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode;
  const file = sqlite.filename;
  return mode?.toLowerCase() === "wal" && file && file !== ":memory:" ? file : undefined;
}

/** Drizzle's migration records, built from the migrations embedded in the binary. */
export function embeddedMigrations(migrations = SQLITE_MIGRATIONS) {
  return migrations.map((m) => ({
    sql: m.sql.split("--> statement-breakpoint"),
    bps: true,
    folderMillis: m.when,
    hash: sha256Text(m.sql, "hex"),
  }));
}

/**
 * Applies pending migrations; returns how many ran. Drizzle skips any migration stamped older than
 * the newest applied one, which is why a test checks that the journal's timestamps strictly increase.
 */
export function migrate(db: Db): number {
  const count = () =>
    (
      db.$client
        .query("SELECT count(*) AS n FROM sqlite_master WHERE name = '__drizzle_migrations'")
        .get() as { n: number }
    ).n
      ? (db.$client.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number }).n
      : 0;
  const before = count();
  // biome-ignore lint/suspicious/noExplicitAny: dialect/session are drizzle internals its own migrator uses
  const internal = db as any;
  internal.dialect.migrate(embeddedMigrations(), internal.session, {});
  return count() - before;
}
