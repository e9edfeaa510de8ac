/**
 * `check-config`: validates without starting anything. On SQLite, values stored in the database are
 * read only if the file exists; on PostgreSQL (DATABASE_URL) the database must answer, since `serve`
 * would not start without it, and is only read. The URL is printed without its password.
 */
import { existsSync } from "node:fs";
import { ConfigError, type Raw, resolveConfig } from "../config/definition.ts";
import {
  checkDatabasePath,
  DEFAULT_DATABASE_PATH,
  readDbConfig,
  refusePlaceholders,
} from "../config/load.ts";
import { createKv } from "../db/kv.ts";
import { redactUrl } from "../db/redact-url.ts";
import { closeStorage, openStorage } from "../storage/storage.ts";
import { LlmConfig } from "../users/llm-config.ts";

export async function checkConfig(raw: Raw): Promise<string> {
  const url = raw.DATABASE_URL;
  const path = raw.DATABASE_PATH || DEFAULT_DATABASE_PATH;
  // Parse first: a malformed URL is named before anything tries to connect with it.
  if (url) resolveConfig({ DATABASE_URL: url });
  else checkDatabasePath(path);
  const dbValues = await storedValues(url, path);
  const merged = { ...dbValues, ...raw };
  refusePlaceholders(merged);
  const config = resolveConfig(merged);
  // Same validation `serve` does at start-up (throws ConfigError naming the variable).
  LlmConfig.fromConfig(config);
  const feishu = config.FEISHU_APP_ID ? `feishu app ${config.FEISHU_APP_ID}` : "feishu unconfigured";
  const database = url ? `database ${redactUrl(url)} (cluster mode)` : `database ${path}`;
  return `config ok: listening on ${config.HOST}:${config.PORT}, ${database}, ${feishu}, events via ${config.FEISHU_EVENT_MODE}`;
}

/** Configuration values kept in the database's kv table (empty when there is no database yet). */
async function storedValues(url: string | undefined, path: string): Promise<Raw> {
  if (url) return storedPostgresValues(url);
  if (path === ":memory:" || !existsSync(path)) return {};
  const storage = await openStorage({ DATABASE_PATH: path });
  try {
    return await readDbConfig(createKv(storage));
  } finally {
    await closeStorage(storage);
  }
}

/** Read only: a check must not migrate the cluster's database (`serve` and `migrate` do that). */
async function storedPostgresValues(url: string): Promise<Raw> {
  // Cluster mode only: the PostgreSQL client is not loaded by every start of the binary.
  const [{ openPostgres }, { PostgresKv }] = await Promise.all([
    import("../db/postgres.ts"),
    import("../db/kv-postgres.ts"),
  ]);
  const db = openPostgres(url, { max: 1 });
  try {
    const [row] = await db.$client`SELECT to_regclass('kv') IS NOT NULL AS present`;
    return row?.present ? await readDbConfig(new PostgresKv(db)) : {};
  } catch (err) {
    throw new ConfigError(
      "DATABASE_URL",
      `${redactUrl(url)}: cannot connect (${scrub((err as Error).message, url)})`,
    );
  } finally {
    await db.$client.close();
  }
}

/** A driver's message with the URL's password taken out, should it quote it. */
function scrub(message: string, url: string): string {
  let password = "";
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {}
  return password ? message.split(password).join("***") : message;
}
