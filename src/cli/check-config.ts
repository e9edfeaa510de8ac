import { existsSync } from "node:fs";
import { type Raw, resolveConfig } from "../config/definition.ts";
import {
  checkDatabasePath,
  DEFAULT_DATABASE_PATH,
  readDbConfig,
  refusePlaceholders,
} from "../config/load.ts";
import { SqliteKv } from "../db/kv.ts";
import { migrate, openDatabase } from "../db/open.ts";
import { LlmConfig } from "../users/llm-config.ts";

/** Validates without starting anything; reads database-stored values only if the file exists. */
export async function checkConfig(raw: Raw): Promise<string> {
  const path = raw.DATABASE_PATH || DEFAULT_DATABASE_PATH;
  checkDatabasePath(path);
  let dbValues: Raw = {};
  if (path !== ":memory:" && existsSync(path)) {
    const db = openDatabase(path);
    try {
      migrate(db);
      dbValues = await readDbConfig(new SqliteKv(db));
    } finally {
      db.$client.close();
    }
  }
  const merged = { ...dbValues, ...raw };
  refusePlaceholders(merged);
  const config = resolveConfig(merged);
  // Same validation `serve` does at start-up (throws ConfigError naming the variable).
  LlmConfig.fromConfig(config);
  const feishu = config.FEISHU_APP_ID ? `feishu app ${config.FEISHU_APP_ID}` : "feishu unconfigured";
  return `config ok: listening on ${config.HOST}:${config.PORT}, database ${path}, ${feishu}, events via ${config.FEISHU_EVENT_MODE}`;
}
