/**
 * Loads the configuration with its precedence: flags > environment (and `.env`) > database > defaults.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { KvStore } from "../db/kv.ts";
import { type Config, type Raw, resolveConfig, VARIABLES } from "./definition.ts";
import { mergeSources, parseDotenv } from "./sources.ts";

export const DB_CONFIG_PREFIX = "config.";

/** Everything but the database layer: enough to know DATABASE_PATH and to validate early. */
export function readRawConfig(opts: { flags: Raw; env: Raw; cwd: string }): Raw {
  const envFile = join(opts.cwd, ".env");
  const dotenv = existsSync(envFile) ? parseDotenv(readFileSync(envFile, "utf8")) : {};
  return mergeSources({ flags: opts.flags, env: opts.env, dotenv, db: {} });
}

/** Values an operator stored in the database (`kv` keys `config.<NAME>`). */
export function readDbConfig(kv: KvStore): Raw {
  const out: Raw = {};
  for (const v of VARIABLES) {
    const value = kv.get(DB_CONFIG_PREFIX + v.name);
    if (value !== undefined) out[v.name] = value;
  }
  return out;
}

/** Final config: database values fill what flags/env left unset; JWT_SECRET is generated once. */
export function finishConfig(raw: Raw, kv: KvStore): Config {
  const merged = { ...readDbConfig(kv), ...raw };
  const config = resolveConfig(merged);
  if (!config.JWT_SECRET) {
    config.JWT_SECRET = randomBytes(48).toString("base64url");
    kv.set(`${DB_CONFIG_PREFIX}JWT_SECRET`, config.JWT_SECRET);
  }
  return config;
}
